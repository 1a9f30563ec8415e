"""Lesson 4 — Dubbing: a distinct voice per character.

Why: viewers follow a story by its voices. Each character's Voice (gender, variant, pitch, rate)
maps to an espeak-ng voice; emotion shades rate and pitch. Every line is spoken by a fresh
worker process, so the same line always produces the same bytes — the basis of caching.
"""

from _common import out_dir, short_screenplay
from microdrama.domain import NARRATOR, Voice
from microdrama.skill import SkillContext
from microdrama.skills.dubbing_espeak import EspeakDubbing
from microdrama.stages import DubbingInput

folder = out_dir("04")
screenplay = short_screenplay(folder)
for line in screenplay.spoken_lines():
    voice = Voice(gender="male", variant=2) if line.speaker == NARRATOR else screenplay.series.character(line.speaker).voice
    d = EspeakDubbing()(DubbingInput(line_id=line.id, text=line.text, language="zh", voice=voice,
                                     emotion=line.emotion), SkillContext(folder)).output
    print(f"{line.id} {d.voice:8s} {d.duration_s:4.2f}s {line.emotion.value:9s} {line.text}")

# Exercise: give two characters the same voice variant and listen. Then change one emotion to "sad"
# and compare the durations: what did the emotion change?
