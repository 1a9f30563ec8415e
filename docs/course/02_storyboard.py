"""Lesson 2 — The storyboard: time every shot from its dialogue.

Why: the storyboard is the timeline. Shots are timed from each line's speaking time (estimated
here; measured after dubbing in the pipeline), rounded up to whole frames so that pictures,
sound and subtitles agree to the frame. The contact sheet is what a director reviews.
"""

from _common import out_dir, short_screenplay
from microdrama.skill import SkillContext
from microdrama.skills.storyboard import StoryboardSkill
from microdrama.stages import StoryboardInput

folder = out_dir("02")
screenplay = short_screenplay(folder)
out = StoryboardSkill()(StoryboardInput(screenplay=screenplay, fps=30), SkillContext(folder)).output
for shot in out.storyboard.shots:
    print(f"{shot.shot.id}: {shot.start_s:5.2f}s +{shot.duration_s:.2f}s = {shot.frames} frames, "
          f"{len(shot.cues)} line(s)")
print("contact sheet:", out.sheet_png, out.sheet_html)

# Exercise: pass line_durations={"s01-l1": 4.0} and watch every later shot move while the durations
# of the others stay the same. Why does the pipeline dub *before* it storyboards?
