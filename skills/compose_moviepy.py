"""Compose with moviepy: the readable, frame-by-frame reference for trainers and custom effects.

Same contract as `compose-ffmpeg` (same input, same output), written so a newcomer can see every
layer of a micro-drama frame: shot clips in sequence, the dialogue track, subtitle rows and the
AI mark composited on top. It is several times slower than the single ffmpeg filtergraph (see
`benchmarks/compose_backends.py`), so it is not the default; use it when you need a per-frame
Python effect. Subtitles are drawn with Pillow rather than moviepy's `TextClip`, whose automatic
height cuts off the last row of wrapped Chinese text.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from microdrama.deps import require
from microdrama.panels import font
from microdrama.skill import Skill, SkillContext, temp_path_for
from microdrama.skills.compose_ffmpeg import MIX_RATE, ComposeInput, FfmpegComposer, FinalCut, mark_font_size, mix_dialogue
from microdrama.skills.subtitles import wrap_rows


def _text_image(rows: list[str], size: int, box: bool) -> np.ndarray:
    """Rows of centred text with an outline (and an optional dark box), as an RGBA array."""
    fnt = font(size)
    widths = [int(fnt.getlength(r)) for r in rows]
    line_h = int(size * 1.3)
    pad = size // 4
    img = Image.new("RGBA", (max(widths) + 2 * pad, line_h * len(rows) + 2 * pad), (0, 0, 0, 115 if box else 0))
    draw = ImageDraw.Draw(img)
    for i, row in enumerate(rows):
        draw.text((img.width // 2, pad + i * line_h), row, font=fnt, anchor="ma", fill=(255, 255, 255, 255),
                  stroke_width=max(2, size // 15), stroke_fill=(0, 0, 0, 255))
    return np.array(img)


class MoviepyComposer(Skill[ComposeInput, FinalCut]):
    name = "compose-moviepy"
    stage = "compose"
    version = "1"
    backend = "moviepy 2 frame-by-frame compositing (readable reference; slower)"
    description = "Readable moviepy version of compose: same output as compose-ffmpeg, for teaching and custom effects."
    Input = ComposeInput
    Output = FinalCut

    def check_inputs(self, inputs: ComposeInput) -> None:
        FfmpegComposer().check_inputs(inputs)  # identical contract, identical validation

    def run(self, inputs: ComposeInput, ctx: SkillContext) -> tuple[FinalCut, dict[str, float]]:
        mp = require("moviepy", extra="moviepy", purpose="The compose-moviepy skill")
        board = inputs.storyboard
        dialogue = ctx.path(f"{inputs.basename}.dialogue.wav")
        mix_dialogue(board, inputs.line_audio, dialogue, inputs.mark.audio)

        # 1. The picture: every shot's clip, one after another.
        shots = [mp.VideoFileClip(inputs.clips[s.shot.id]).with_duration(s.frames / board.fps) for s in board.shots]
        picture = mp.concatenate_videoclips(shots)
        layers = [picture]

        # 2. Subtitles: one image per line, shown exactly while the line is spoken.
        if inputs.subtitles_ass:
            size = max(12, inputs.height // 32)
            for cue in board.cues():
                rows = wrap_rows(cue.text, inputs.width * 0.8, size)
                sub = mp.ImageClip(_text_image(rows, size, box=False)).with_start(cue.start_s)
                sub = sub.with_duration(cue.end_s - cue.start_s)
                layers.append(sub.with_position(("center", int(inputs.height * 0.83) - sub.h)))

        # 3. The AI mark, top corner, for the whole cut or its first seconds.
        mark_size = mark_font_size(inputs.mark.text, inputs.mark.height_fraction * min(inputs.width, inputs.height))
        mark = mp.ImageClip(_text_image([inputs.mark.text], mark_size, box=True))
        margin = int(min(inputs.width, inputs.height) * 0.04)
        x = inputs.width - mark.w - margin if inputs.mark.position == "top_right" else margin
        layers.append(mark.with_duration(inputs.mark.seconds or picture.duration).with_position((x, margin)))

        # 4. Sound, then one encode.
        video = mp.CompositeVideoClip(layers, size=(inputs.width, inputs.height)).with_audio(
            mp.AudioFileClip(str(dialogue)))
        out = ctx.path(f"{inputs.basename}.mp4")
        tmp = temp_path_for(out)
        video.write_videofile(str(tmp), fps=board.fps, codec="libx264", audio_codec="aac", audio_fps=MIX_RATE,
                              preset=inputs.preset, ffmpeg_params=["-crf", str(inputs.crf), "-pix_fmt", "yuv420p"],
                              logger=None)
        for clip in [video, *shots]:
            clip.close()
        tmp.replace(out)
        frames = sum(s.frames for s in board.shots)
        cut = FinalCut(video=str(out), duration_s=frames / board.fps, frames=frames, dialogue_wav=str(dialogue))
        return cut, {"frames_encoded": float(frames), "video_seconds": round(frames / board.fps, 4)}
