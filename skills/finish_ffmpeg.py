"""Finish one shot: burn its subtitles, the AI mark and the opening card into the clip.

Finishing shot by shot (instead of the whole episode in one pass) is what makes re-rendering
incremental: a finished shot depends only on its own clip, its own subtitle rows (timed from the
shot's start) and the mark, so editing one line re-finishes one shot, and `assemble` joins the
segments without re-encoding. Every segment uses the same encoder settings so they concatenate
cleanly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from microdrama.errors import InputError
from microdrama.media import run_ffmpeg
from microdrama.skill import Skill, SkillContext, atomic_write_text, temp_path_for
from microdrama.skills.compose_ffmpeg import AiMark, overlay_filters
from microdrama.skills.subtitles import SubEvent, build_ass


class FinishInput(BaseModel):
    shot_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    clip: str = Field(description="the shot's silent clip from the visuals stage")
    frames: int = Field(gt=0)
    fps: int = Field(gt=0)
    width: int = Field(1080, ge=64)
    height: int = Field(1920, ge=64)
    events: list[SubEvent] = Field(default_factory=list, description="subtitles, timed from the shot's start")
    font_size: int = Field(60, ge=12, le=200)
    secondary_font_size: int = Field(40, ge=10, le=200)
    side_margin: float = Field(0.1, ge=0, le=0.3)
    bottom_margin: float = Field(0.17, ge=0, le=0.5)
    mark: AiMark = Field(default_factory=AiMark)
    mark_until_s: float | None = Field(None, ge=0, description="None: the whole shot; 0: no mark in this shot")
    opening_text: str | None = None
    opening_until_s: float = Field(0.0, ge=0, description="seconds of this shot that show the opening card")
    crf: int = Field(21, ge=0, le=51)
    preset: str = "veryfast"


class FinishedShot(BaseModel):
    shot_id: str
    video: str
    frames: int


class FfmpegShotFinisher(Skill[FinishInput, FinishedShot]):
    name = "finish-ffmpeg"
    stage = "finish"
    version = "1"
    backend = "ffmpeg (libass + drawtext + x264)"
    description = "Burns one shot's subtitles, the AI mark and the opening card into its clip (incremental finishing)."
    Input = FinishInput
    Output = FinishedShot

    def check_inputs(self, inputs: FinishInput) -> None:
        if not Path(inputs.clip).is_file():
            raise InputError(f"shot {inputs.shot_id}: clip {inputs.clip} does not exist; render the shot first")
        length = inputs.frames / inputs.fps
        late = [e for e in inputs.events if e.start_s < 0 or e.end_s > length + 1e-3]
        if late:
            raise InputError(f"shot {inputs.shot_id}: subtitle events must lie inside the shot (0–{length:.2f} s)")

    def run(self, inputs: FinishInput, ctx: SkillContext) -> tuple[FinishedShot, dict[str, float]]:
        ass = None
        if inputs.events:
            ass = ctx.path(f"{inputs.shot_id}.ass")
            atomic_write_text(ass, build_ass(inputs.events, inputs.width, inputs.height, inputs.font_size,
                                             inputs.side_margin, inputs.bottom_margin,
                                             secondary_font_size=inputs.secondary_font_size).to_string("ass"))
        filters = overlay_filters(ctx, inputs.width, inputs.height, ass, inputs.mark, inputs.mark_until_s,
                                  inputs.opening_text, inputs.opening_until_s)
        out = ctx.path(f"{inputs.shot_id}.mp4")
        tmp = temp_path_for(out)
        run_ffmpeg(["-i", str(Path(inputs.clip).resolve()), "-vf", ",".join(filters) + ",format=yuv420p",
                    "-frames:v", str(inputs.frames), "-r", str(inputs.fps), "-c:v", "libx264", "-preset", inputs.preset,
                    "-crf", str(inputs.crf), "-pix_fmt", "yuv420p", "-an", tmp.name],
                   cwd=ctx.work_dir, what=f"finishing shot {inputs.shot_id}")
        tmp.replace(out)
        return FinishedShot(shot_id=inputs.shot_id, video=str(out), frames=inputs.frames), {
            "frames_encoded": float(inputs.frames), "video_seconds": round(inputs.frames / inputs.fps, 4)}
