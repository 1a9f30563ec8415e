"""Assemble finished shots into the episode: join the segments without re-encoding, add the sound.

The picture is copied (ffmpeg's concat demuxer, `-c copy`), so assembling a 3-minute episode
takes about a second; only the dialogue track — laid out sample-exactly from the storyboard —
is encoded (AAC). The result is probed before it gets its real name.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from microdrama.domain import Storyboard
from microdrama.errors import InputError
from microdrama.media import run_ffmpeg
from microdrama.skill import Skill, SkillContext, temp_path_for
from microdrama.skills.compose_ffmpeg import MIX_RATE, FinalCut, accept_cut, mix_dialogue, write_concat_list


class AssembleInput(BaseModel):
    storyboard: Storyboard
    segments: dict[str, str] = Field(description="shot id -> finished segment (same codec settings throughout)")
    line_audio: dict[str, str] = Field(default_factory=dict, description="line id -> WAV")
    audio_label: str = Field("none", pattern="^(none|morse)$", description="'morse' adds the §5.3 rhythm at the start")
    width: int = Field(1080, ge=64)
    height: int = Field(1920, ge=64)
    basename: str = Field("episode", pattern=r"^[A-Za-z0-9_-]+$")


class FfmpegAssembler(Skill[AssembleInput, FinalCut]):
    name = "assemble-ffmpeg"
    stage = "assemble"
    version = "1"
    backend = "ffmpeg concat demuxer (stream copy) + AAC"
    description = "Joins finished shots without re-encoding and muxes the dialogue mix: the last step of a cut."
    Input = AssembleInput
    Output = FinalCut

    def check_inputs(self, inputs: AssembleInput) -> None:
        missing = [s.shot.id for s in inputs.storyboard.shots if s.shot.id not in inputs.segments]
        if missing:
            raise InputError(f"segments: no finished segment for shot(s) {', '.join(missing)}")
        for cue in inputs.storyboard.cues():
            if not Path(inputs.line_audio.get(cue.line_id, "")).is_file():
                raise InputError(f"line_audio[{cue.line_id}]: missing WAV for {cue.text!r}; run dubbing first")

    def run(self, inputs: AssembleInput, ctx: SkillContext) -> tuple[FinalCut, dict[str, float]]:
        board = inputs.storyboard
        dialogue = ctx.path(f"{inputs.basename}.dialogue.wav")
        mix_dialogue(board, inputs.line_audio, dialogue, inputs.audio_label)
        listing = write_concat_list(ctx, [inputs.segments[s.shot.id] for s in board.shots], f"{inputs.basename}.txt")
        out = ctx.path(f"{inputs.basename}.mp4")
        tmp = temp_path_for(out)
        run_ffmpeg(["-f", "concat", "-safe", "0", "-i", listing.name, "-i", dialogue.name, "-map", "0:v", "-map", "1:a",
                    "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-ar", str(MIX_RATE), "-shortest",
                    "-movflags", "+faststart", tmp.name], cwd=ctx.work_dir, what="assembling the episode")
        info = accept_cut(tmp, out, inputs.width, inputs.height)
        frames = sum(s.frames for s in board.shots)
        return FinalCut(video=str(out), duration_s=info.duration_s, frames=frames, dialogue_wav=str(dialogue)), {
            "video_seconds": round(frames / board.fps, 4)}
