"""`microdrama new NAME`: a creator's own project, with a custom skill wired in by entry point.

The generated project runs as it is: `pip install -e .` registers its skill (`microdrama skills
list` shows it), `pytest` passes, and `microdrama episode brief.yaml --config config.yaml` renders
an episode. A creator adds skills there without touching the toolkit's code.
"""

from __future__ import annotations

import re
from pathlib import Path

from microdrama.errors import InputError

PYPROJECT = '''[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title}: a microdrama project with its own skills"
requires-python = ">=3.10"
dependencies = ["microdrama"]

# This line is what makes `microdrama skills list` find the skill after `pip install -e .`
[project.entry-points."microdrama.skills"]
{slug}_poster = "{pkg}.poster:PosterSkill"

[tool.setuptools]
packages = ["{pkg}"]
'''

SKILL = '''"""A custom skill: an episode poster (title and tagline on a 9:16 card).

Copy this file to make your own skill: set the class attributes, take a stage contract from
`microdrama.stages` as Input and Output (or define one for a new stage, as here), put knobs only
this backend has in a strict Options model, validate in check_inputs, do the work in run, write
only inside ctx, return (output, usage).
"""

from __future__ import annotations

from typing import ClassVar

from PIL import Image, ImageDraw
from pydantic import Field

from microdrama.domain import Strict
from microdrama.errors import InputError
from microdrama.skill import Skill, SkillContext
from microdrama.stages import FrameSpec, StageModel
from microdrama.text import font, wrap_text


class PosterInput(StageModel):
    """A new stage's contract: strict, so a typo in a key is an error, not a silent default."""

    stage: ClassVar[str] = "poster"
    title: str = Field(min_length=1, description="the series title")
    tagline: str = Field("", description="one line that sells the episode")
    frame: FrameSpec = Field(default_factory=FrameSpec, description="poster size (fps is unused)")


class Poster(StageModel):
    stage: ClassVar[str] = "poster"
    image: str


class PosterOptions(Strict):
    """What only this backend has: the card's colours."""

    background: str = Field("#181228", pattern=r"^#[0-9a-fA-F]{{6}}$", description="background colour '#rrggbb'")


class PosterSkill(Skill[PosterInput, Poster, PosterOptions]):
    name = "{slug}-poster"
    stage = "poster"
    version = "1"
    backend = "Pillow"
    description = "Draws a 9:16 poster with the title and tagline ({title})."
    Input = PosterInput
    Output = Poster
    Options = PosterOptions

    def check_inputs(self, inputs: PosterInput, options: PosterOptions) -> None:
        if inputs.frame.width > inputs.frame.height:
            raise InputError("frame: posters are vertical; width must not exceed height")

    def run(self, inputs: PosterInput, options: PosterOptions, ctx: SkillContext):
        width, height = inputs.frame.width, inputs.frame.height
        img = Image.new("RGB", (width, height), options.background)
        draw = ImageDraw.Draw(img)
        big, small = font(width // 9), font(width // 22)
        y = height // 3
        for row in wrap_text(inputs.title, big, width * 0.85):
            draw.text((width // 2, y), row, font=big, fill=(255, 214, 80), anchor="mt")
            y += int(big.size * 1.3)
        for row in wrap_text(inputs.tagline, small, width * 0.8):
            draw.text((width // 2, y + small.size), row, font=small, fill=(240, 240, 240), anchor="mt")
            y += int(small.size * 1.4)
        path = ctx.path("poster.png")
        img.save(path)
        return Poster(image=str(path)), {{"images": 1.0}}
'''

TEST = '''from PIL import Image

import pytest

from microdrama.errors import InputError
from microdrama.skill import SkillContext
from {pkg}.poster import PosterSkill


def test_poster_is_drawn(tmp_path):
    skill = PosterSkill()
    inputs = skill.parse_input({{"title": "{title}", "tagline": "第一集", "frame": {{"width": 270, "height": 480}}}})
    result = skill(inputs, SkillContext(tmp_path))
    assert Image.open(result.output.image).size == (270, 480)
    assert result.usage.quantities == {{"images": 1.0}}


def test_a_misspelt_key_is_an_error():
    with pytest.raises(InputError, match="titel"):
        PosterSkill().parse_input({{"titel": "x"}})


def test_skill_is_registered_through_its_entry_point():
    from microdrama.registry import build_default_registry

    assert "{slug}-poster" in build_default_registry().names("poster")
'''

README = '''# {title}

A microdrama project. Start here:

```bash
pip install -e .                       # registers this project's skills with microdrama
microdrama skills list --stage poster  # {slug}-poster is there
pytest                                 # the skill's tests
microdrama episode brief.yaml --config config.yaml --name {slug}   # render an episode
microdrama skills run {slug}-poster -i poster.yaml                  # run the custom skill alone
```

Edit `brief.yaml` (premise, genre, cast), `config.yaml` (R&D project code, rendering, labels,
filing), and add skills next to `{pkg}/poster.py`, each registered in `pyproject.toml`.
'''


def create_project(name: str, parent: Path) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        raise InputError(f"project name {name!r}: use letters, digits and dashes, starting with a letter")
    folder = parent / name
    if folder.exists():
        raise InputError(f"{folder} already exists; choose another name or remove it")
    pkg = f"{slug}_skills"
    fields = {"dist": f"{slug.replace('_', '-')}-skills", "title": name, "slug": slug, "pkg": pkg}
    (folder / pkg).mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "pyproject.toml").write_text(PYPROJECT.format(**fields), encoding="utf-8")
    (folder / pkg / "__init__.py").write_text(f'"""Skills of the {name} project."""\n', encoding="utf-8")
    (folder / pkg / "poster.py").write_text(SKILL.format(**fields), encoding="utf-8")
    (folder / "tests" / f"test_{slug}_poster.py").write_text(TEST.format(**fields), encoding="utf-8")
    (folder / "README.md").write_text(README.format(**fields), encoding="utf-8")
    (folder / "brief.yaml").write_text(
        f"title: {name}\npremise: 一个普通人在上海逆袭的故事，从被看不起到被所有人仰望。\ngenre: revenge\n"
        "language: zh\nsetting: 上海\ntarget_seconds: 45\n", encoding="utf-8")
    (folder / "config.yaml").write_text(
        f"project_code: RD-{slug.upper().replace('_', '-')}\nrender: {{width: 1080, height: 1920, fps: 30}}\n",
        encoding="utf-8")
    (folder / "poster.yaml").write_text(f"title: {name}\ntagline: 第一集\n", encoding="utf-8")
    return folder
