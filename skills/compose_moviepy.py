"""Compose with moviepy: the readable, frame-by-frame reference for trainers and custom effects.

Same contract as `compose-ffmpeg` (same input, same output), written so a newcomer can see every
layer of a micro-drama frame: shot clips in sequence, the mixed sound, subtitle rows and the
AI mark composited on top. It is several times slower than the single ffmpeg filtergraph (see
`benchmarks/compose_backends.py`), so it is not the default; use it when you need a per-frame
Python effect. Subtitles are drawn with Pillow rather than moviepy's `TextClip`, whose automatic
height cuts off the last row of wrapped Chinese text.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from microdrama.deps import require
from microdrama.files import atomic_path
from microdrama.finishing import MIX_RATE, check_cut_sources, check_takes_fit, mark_font_size, wrap_rows
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ComposeInput, FinalCut, NoOptions
from microdrama.text import font


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


class MoviepyComposer(Skill[ComposeInput, FinalCut, NoOptions]):
    name = "compose-moviepy"
    stage = "compose"
    version = "4"  # 2: loudness target. 3: the mix stage's sound. 4: each take fitted to its shot
    backend = "moviepy 2 frame-by-frame compositing (readable reference; slower)"
    description = "Readable moviepy version of compose: same output as compose-ffmpeg, for teaching and custom effects."
    Input = ComposeInput
    Output = FinalCut

    def check_inputs(self, inputs: ComposeInput, options: NoOptions) -> None:
        check_cut_sources(inputs.storyboard, inputs.clips, "clips", "clip", inputs.sound)
        check_takes_fit(inputs.storyboard, inputs.clips, "clips")

    def run(self, inputs: ComposeInput, options: NoOptions, ctx: SkillContext) -> tuple[FinalCut, dict[str, float]]:
        mp = require("moviepy", extra="moviepy", purpose="The compose-moviepy skill")
        board, enc = inputs.storyboard, inputs.encode
        # 1. The picture: every shot's clip, one after another, each cut to its shot (moviepy holds the last frame
        #    of a take that falls short).
        shots = [mp.VideoFileClip(inputs.clips[s.shot.id]).with_duration(s.frames / board.fps) for s in board.shots]
        picture = mp.concatenate_videoclips(shots)
        layers = [picture]

        # 2. Subtitles: one image per line, shown exactly while the line is spoken.
        if inputs.subtitles_ass:
            size = max(12, enc.height // 32)
            for cue in board.cues():
                rows = wrap_rows(cue.text, enc.width * 0.8, size)
                sub = mp.ImageClip(_text_image(rows, size, box=False)).with_start(cue.start_s)
                sub = sub.with_duration(cue.end_s - cue.start_s)
                layers.append(sub.with_position(("center", int(enc.height * 0.83) - sub.h)))

        # 3. The AI mark, top corner, for the whole cut or its first seconds.
        mark_size = mark_font_size(inputs.mark.text, inputs.mark.height_fraction * min(enc.width, enc.height))
        mark = mp.ImageClip(_text_image([inputs.mark.text], mark_size, box=True))
        margin = int(min(enc.width, enc.height) * 0.04)
        x = enc.width - mark.w - margin if inputs.mark.position == "top_right" else margin
        layers.append(mark.with_duration(inputs.mark.seconds or picture.duration).with_position((x, margin)))

        # 4. Sound, then one encode.
        video = mp.CompositeVideoClip(layers, size=(enc.width, enc.height)).with_audio(
            mp.AudioFileClip(inputs.sound.wav))
        out = ctx.path(f"{inputs.basename}.mp4")
        with atomic_path(out) as tmp:
            video.write_videofile(str(tmp), fps=board.fps, codec="libx264", audio_codec="aac", audio_fps=MIX_RATE,
                                  preset=enc.preset, ffmpeg_params=["-crf", str(enc.crf), "-pix_fmt", "yuv420p"],
                                  logger=None)
        for clip in [video, *shots]:
            clip.close()
        frames = sum(s.frames for s in board.shots)
        cut = FinalCut(video=str(out), duration_s=frames / board.fps, frames=frames, dialogue_wav=inputs.sound.wav)
        return cut, {"frames_encoded": float(frames), "video_seconds": round(frames / board.fps, 4)}
