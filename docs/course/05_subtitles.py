"""Lesson 5 — Subtitles: timed from the voice, wrapped for a phone held upright.

Why: most micro-dramas are watched with the sound low. Each subtitle shows exactly while its line
is spoken; rows are measured in pixels with the font that burns them in, balanced, and Chinese
closing punctuation never starts a row. SRT is for platforms; ASS carries the styling.
"""

import pysubs2

from _common import out_dir, short_screenplay
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import time_shots
from microdrama.skills.subtitles import SubtitleWriter
from microdrama.stages import StoryboardInput, SubtitlesInput

folder = out_dir("05")
board, _ = time_shots(StoryboardInput(screenplay=short_screenplay(folder)))
out = SubtitleWriter()(SubtitlesInput(storyboard=board), SkillContext(folder)).output
for event in pysubs2.load(out.srt):
    print(f"{event.start / 1000:6.2f}-{event.end / 1000:6.2f}  {event.plaintext!r}")

# Exercise: set style={"font_size": 90} and watch lines wrap into balanced rows. Then try max_rows=1: what error
# do you get, and what does it tell you to do?
