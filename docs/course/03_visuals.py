"""Lesson 3 — Visuals: the animatic, a moving previz panel per shot.

Why: directors judge framing and rhythm long before final pictures exist. The animatic draws the
set and placeholder characters, frames them by shot size and performs the camera move with
ffmpeg. On a GPU the same slot holds a video model; compose does not care which made the clip.
"""

from _common import out_dir, short_screenplay
from microdrama.skill import SkillContext
from microdrama.skills.animatic import AnimaticRenderer
from microdrama.skills.storyboard import time_shots
from microdrama.stages import EncodeSpec, StoryboardInput, VisualsInput

folder = out_dir("03")
screenplay = short_screenplay(folder)
board, _ = time_shots(StoryboardInput(screenplay=screenplay, fps=15))
shot = board.shots[0]
chars = [screenplay.series.character(c) for c in shot.shot.characters]
# Every visuals skill (this animatic, a video model, a cloud API) takes the same VisualsInput contract.
encode = EncodeSpec(width=360, height=640, fps=15, crf=18, preset="ultrafast")
clip = AnimaticRenderer()(VisualsInput(shot=shot, characters=chars, encode=encode),
                          SkillContext(folder)).output
print(f"{clip.shot_id}: {clip.frames} frames of {shot.shot.shot_size.value}, {shot.shot.camera_move.value} -> {clip.video}")

# Exercise: change the first shot's camera_move to "pan_left" (shot.shot.model_copy(update=...))
# and shot_size to "wide", render again, and compare the two clips frame by frame.
