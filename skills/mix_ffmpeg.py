"""Mix: the episode's sound, made beside its pictures.

Every dubbed line is laid at its cue sample-exactly, music beds go under their scenes (ducked under
the voices), and the sum is mastered to the loudness target; then the same sound is encoded once as
AAC. The sound needs only the storyboard and the dubbed lines, so the pipeline mixes it while the
shots render, and the cut (assemble or compose) muxes the AAC by copy. An edited line therefore costs
one mix beside one shot's render, not a mix and an AAC encode after it.
"""

from __future__ import annotations

from pathlib import Path

from microdrama.errors import RenderError
from microdrama.files import atomic_path
from microdrama.finishing import AAC, SilentAudio, check_sound_sources, filter_and_measure, mix_dialogue
from microdrama.media import probe
from microdrama.skill import Skill, SkillContext
from microdrama.speech import read_wav
from microdrama.stages import MixedSound, MixInput, NoOptions


class FfmpegMixer(Skill[MixInput, MixedSound, NoOptions]):
    name = "mix-ffmpeg"
    stage = "mix"
    version = "2"  # 2: loudness read on the sound going into the AAC encoder, in the same process
    backend = "numpy placement + ffmpeg compressor/limiter to an EBU R128 target + AAC (fast coder)"
    description = "Lays every line at its cue and the music under it, masters the sum to a loudness target, as WAV and AAC."
    Input = MixInput
    Output = MixedSound

    def check_inputs(self, inputs: MixInput, options: NoOptions) -> None:
        check_sound_sources(inputs.storyboard, inputs.line_audio, inputs.music)

    def run(self, inputs: MixInput, options: NoOptions, ctx: SkillContext) -> tuple[MixedSound, dict[str, float]]:
        board = inputs.storyboard
        wav = ctx.path(f"{inputs.basename}.mix.wav")
        mix_dialogue(board, inputs.line_audio, wav, inputs.audio_label, inputs.loudness, inputs.music)
        aac = ctx.path(f"{inputs.basename}.mix.m4a")
        with atomic_path(aac) as tmp:
            loudness = _encode_and_measure(wav, tmp)
            if probe(tmp).audio_streams != 1:
                raise RenderError("encoding the mix as AAC wrote no audio stream")
        rate, samples = read_wav(wav)
        sound = MixedSound(wav=str(wav), aac=str(aac), duration_s=round(samples.size / rate, 4), loudness=loudness)
        return sound, {"audio_seconds": sound.duration_s, "lines_mixed": float(len(board.cues()))}


def _encode_and_measure(wav: Path, aac: Path) -> dict[str, float] | None:
    """Encode the mix as AAC and read R128 loudness on the sound going into the encoder, in one ffmpeg process
    (a second process reading the AAC back cost 0.27 CPU-s on every edit). At 128 kb/s the two readings agree
    within 0.1 LU (tests/skills/test_mix_ffmpeg.py measures both). None when the mix is silent."""
    try:
        return filter_and_measure(wav, aac, "anull", encode=AAC, what="encoding the mix as AAC")
    except SilentAudio:
        return None
