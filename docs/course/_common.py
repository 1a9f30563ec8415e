"""Shared by the lessons: an output folder and a tiny screenplay to work on."""

import argparse
from pathlib import Path

from microdrama.domain import Brief, Screenplay
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_rules import RuleBasedScreenplayWriter
from microdrama.stages import ScreenplayInput


def out_dir(lesson: str) -> Path:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("out/course"))
    folder = parser.parse_args().out / lesson
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def short_screenplay(folder: Path, language: str = "zh") -> Screenplay:
    """A 20-second revenge episode: short enough that every lesson runs in seconds."""
    brief = Brief(title="课堂短剧", premise="被赶出家门的千金三年后归来", genre="revenge", language=language,
                  target_seconds=20)
    return RuleBasedScreenplayWriter()(ScreenplayInput(brief=brief), SkillContext(folder)).output
