import sys
import textwrap

import pytest

from microdrama.errors import UnknownSkillError
from microdrama.registry import (
    DuplicateSkillError,
    SkillRegistry,
    build_default_registry,
)
from microdrama.skills.animatic import AnimaticRenderer


def test_builtin_skills_cover_every_stage():
    registry = build_default_registry(include_entry_points=False)
    for stage in ("screenplay", "storyboard", "visuals", "dubbing", "subtitles", "compose"):
        assert registry.names(stage), f"no skill for stage {stage}"


def test_unknown_skill_suggests_close_names():
    registry = build_default_registry(include_entry_points=False)
    with pytest.raises(UnknownSkillError, match="Did you mean: animatic"):
        registry.get("animatik")


def test_duplicate_name_is_an_error():
    registry = SkillRegistry()
    registry.register(AnimaticRenderer, origin="first")

    class Impostor(AnimaticRenderer):
        pass

    with pytest.raises(DuplicateSkillError, match="two skills are named 'animatic'"):
        registry.register(Impostor, origin="second")


def test_skill_pack_registers_through_an_entry_point(tmp_path, monkeypatch):
    """A pip-installed pack is a dist-info with an entry point: build one on disk and load it."""
    pkg = tmp_path / "mypack"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from microdrama.skills.subtitles import SubtitleWriter

        class KaraokeSubtitles(SubtitleWriter):
            name = "karaoke-subtitles"
            description = "test pack skill"
    '''))
    dist = tmp_path / "mypack-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypack\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[microdrama.skills]\nkaraoke = mypack:KaraokeSubtitles\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_default_registry()
    assert "karaoke-subtitles" in registry.names("subtitles")
    assert registry.origin("karaoke-subtitles") == "package 'mypack'"
    sys.modules.pop("mypack", None)
