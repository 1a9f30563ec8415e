"""Assemble finished shots into the episode: join the segments without re-encoding, add the sound.

The picture is copied (ffmpeg's concat demuxer, `-c copy`) and so is the sound (the mix stage's AAC,
made while the shots rendered), so assembling a 3-minute episode takes a fraction of a second. The
result is probed before it gets its real name.
"""

from __future__ import annotations

from microdrama.files import atomic_path
from microdrama.finishing import check_cut, check_cut_sources, write_concat_list
from microdrama.media import run_ffmpeg
from microdrama.skill import Skill, SkillContext
from microdrama.stages import AssembleInput, FinalCut, NoOptions


class FfmpegAssembler(Skill[AssembleInput, FinalCut, NoOptions]):
    name = "assemble-ffmpeg"
    stage = "assemble"
    version = "4"  # 2: the mix can be normalised to a loudness target. 3: AAC with the fast coder. 4: the mix stage's AAC
    backend = "ffmpeg concat demuxer (stream copy of picture and sound)"
    description = "Joins finished shots and the mixed sound without re-encoding either: the last step of a cut."
    Input = AssembleInput
    Output = FinalCut

    def check_inputs(self, inputs: AssembleInput, options: NoOptions) -> None:
        check_cut_sources(inputs.storyboard, inputs.segments, "segments", "finished segment", inputs.sound)

    def run(self, inputs: AssembleInput, options: NoOptions, ctx: SkillContext) -> tuple[FinalCut, dict[str, float]]:
        board = inputs.storyboard
        listing = write_concat_list(ctx, [inputs.segments[s.shot.id] for s in board.shots], f"{inputs.basename}.txt")
        out = ctx.path(f"{inputs.basename}.mp4")
        with atomic_path(out) as tmp:
            run_ffmpeg(["-f", "concat", "-safe", "0", "-i", listing.name, "-i", inputs.sound.aac, "-map", "0:v",
                        "-map", "1:a", "-c", "copy",  # both streams are already the storyboard's length
                        "-movflags", "+faststart", tmp.name], cwd=ctx.work_dir, what="assembling the episode")
            info = check_cut(tmp, inputs.width, inputs.height, board)
        frames = sum(s.frames for s in board.shots)
        return FinalCut(video=str(out), duration_s=info.duration_s, frames=frames, dialogue_wav=inputs.sound.wav), {
            "video_seconds": round(frames / board.fps, 4)}
