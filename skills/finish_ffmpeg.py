"""Finish one shot: burn its subtitles, the AI mark and the opening card into the clip.

Finishing shot by shot (instead of the whole episode in one pass) is what makes re-rendering
incremental: a finished shot depends only on its own clip, its own subtitle rows (timed from the
shot's start) and the mark, so editing one line re-finishes one shot, and `assemble` joins the
segments without re-encoding. Every segment uses the same encoder settings so they concatenate
cleanly.
"""

from __future__ import annotations

from pathlib import Path

from microdrama.errors import InputError
from microdrama.files import atomic_path, atomic_write_text
from microdrama.finishing import build_ass, overlay_filters
from microdrama.media import run_ffmpeg, shot_encode, x264_threads
from microdrama.skill import Skill, SkillContext
from microdrama.stages import TAKE_HOLD_SECONDS, FinishedShot, FinishInput, NoOptions


class FfmpegShotFinisher(Skill[FinishInput, FinishedShot, NoOptions]):
    name = "finish-ffmpeg"
    stage = "finish"
    version = "2"  # 2: a take longer than its shot is cut, a shorter one holds its last frame
    backend = "ffmpeg (libass + drawtext + x264)"
    description = "Burns one shot's subtitles, the AI mark and the opening card into its clip (incremental finishing)."
    Input = FinishInput
    Output = FinishedShot

    def check_inputs(self, inputs: FinishInput, options: NoOptions) -> None:
        if not Path(inputs.clip).is_file():
            raise InputError(f"shot {inputs.shot_id}: clip {inputs.clip} does not exist; render the shot first")
        short = inputs.frames - (inputs.clip_frames or inputs.frames)
        if short > TAKE_HOLD_SECONDS * inputs.encode.fps:
            raise InputError(f"shot {inputs.shot_id}: clip_frames ({inputs.clip_frames}) is {short} frames short of the "
                             f"shot; a take may hold its last frame for {TAKE_HOLD_SECONDS:g} s at most: redo the shot")
        length = inputs.frames / inputs.encode.fps
        late = [e for e in inputs.events if e.start_s < 0 or e.end_s > length + 1e-3]
        if late:
            raise InputError(f"shot {inputs.shot_id}: subtitle events must lie inside the shot (0–{length:.2f} s)")

    def run(self, inputs: FinishInput, options: NoOptions, ctx: SkillContext) -> tuple[FinishedShot, dict[str, float]]:
        enc = inputs.encode
        ass = None
        if inputs.events:
            ass = ctx.path(f"{inputs.shot_id}.ass")
            atomic_write_text(ass, build_ass(inputs.events, enc.width, enc.height, inputs.style).to_string("ass"))
        filters = overlay_filters(ctx, enc.width, enc.height, ass, inputs.mark, inputs.mark_until_s,
                                  inputs.opening_text, inputs.opening_until_s)
        if inputs.clip_frames and inputs.clip_frames < inputs.frames:  # a kept take, shorter after a line edit
            filters.insert(0, "tpad=stop_mode=clone:stop=-1")  # its last frame, for as long as -frames:v asks
        out = ctx.path(f"{inputs.shot_id}.mp4")
        with atomic_path(out) as tmp, shot_encode() as threads:
            run_ffmpeg(["-threads", threads, "-i", str(Path(inputs.clip).resolve()),
                        "-filter_threads", threads, "-vf", ",".join(filters) + ",format=yuv420p",
                        "-frames:v", str(inputs.frames), "-r", str(enc.fps),
                        "-c:v", "libx264", "-threads", x264_threads(), "-preset", enc.preset,
                        "-crf", str(enc.crf), "-pix_fmt", "yuv420p", "-an", tmp.name],
                       cwd=ctx.work_dir, what=f"finishing shot {inputs.shot_id}")
        return FinishedShot(shot_id=inputs.shot_id, video=str(out), frames=inputs.frames), {
            "frames_encoded": float(inputs.frames), "video_seconds": round(inputs.frames / enc.fps, 4)}
