"""Lesson 1 — The screenplay: a brief becomes an episode.

Why: a micro-drama lives or dies in its first three seconds (the hook) and its last line (the
cliffhanger that sells the next episode). The offline writer encodes those rules in genre
templates; an LLM agent (lesson-free, see agents/screenwriter.py) is held to the same rules.
"""

from _common import out_dir
from microdrama.domain import Brief, dump_yaml
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_rules import RuleBasedScreenplayWriter
from microdrama.stages import ScreenplayInput

folder = out_dir("01")
brief = Brief(title="归来", premise="三年前被赶出家门的千金，以最大股东身份归来", genre="revenge",
              language="zh", setting="上海", target_seconds=40)
result = RuleBasedScreenplayWriter()(ScreenplayInput(brief=brief), SkillContext(folder))
screenplay = result.output

first_shot = next(iter(screenplay.shots()))[1]
print("hook line:", first_shot.lines[0].text)
print("cliffhanger:", screenplay.episode.cliffhanger)
print("shots:", sum(1 for _ in screenplay.shots()), "lines:", len(screenplay.spoken_lines()))
print("usage:", result.usage.quantities)
(folder / "screenplay.yaml").write_text(dump_yaml(screenplay), encoding="utf-8")

# Exercise: change `target_seconds` to 90 and count the shots again. Which shots came back, and why
# are they the optional ones? Then write the same brief in English (language="en").
