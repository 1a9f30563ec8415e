"""The layering the project promises, checked by parsing imports rather than trusting reviews.

skills/ are self-contained (no skill imports another; shared code lives in the core), the core
never imports a skill or a pipeline, agents and skills do not import each other in a cycle,
nothing below pipelines/ imports Prefect, and `microdrama validate` never loads Prefect.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from microdrama.registry import build_default_registry

ROOT = Path(__file__).resolve().parents[1]


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def offenders(folder: str, forbidden: re.Pattern, exclude: tuple[str, ...] = ()) -> dict[str, list[str]]:
    bad = {}
    for path in files(folder):
        rel = str(path.relative_to(ROOT))
        if rel in exclude:
            continue
        hits = sorted(m for m in imports_of(path) if forbidden.match(m))
        if hits:
            bad[rel] = hits
    return bad


def test_no_skill_imports_a_sibling_skill():
    bad = {}
    for path in files("skills"):
        own = f"microdrama.skills.{path.stem}"
        hits = sorted(m for m in imports_of(path) if m.startswith("microdrama.skills.") and not m.startswith(own))
        if hits:
            bad[path.name] = hits
    assert not bad, f"shared code belongs in a core module, not a sibling skill: {bad}"


def test_the_core_imports_no_skill_and_no_pipeline():
    assert not offenders("microdrama", re.compile(r"microdrama\.skills(\.|$)"))
    # The CLI (cli.py and the cli_*.py modules of its commands) is the one part of the core that starts
    # pipelines, lazily, inside its commands.
    cli = tuple(str(p.relative_to(ROOT)) for p in (ROOT / "microdrama").glob("cli*.py"))
    assert not offenders("microdrama", re.compile(r"microdrama\.pipelines(\.|$)"), exclude=cli)


def test_config_imports_no_skill():
    assert not [m for m in imports_of(ROOT / "microdrama" / "config.py") if m.startswith("microdrama.skills")]


def test_agents_and_skills_have_no_cycle():
    assert not offenders("agents", re.compile(r"microdrama\.skills(\.|$)")), "agents must not import skills"


def test_only_pipelines_import_prefect():
    prefect = re.compile(r"prefect(\.|$)")
    for folder in ("skills", "agents"):
        assert not offenders(folder, prefect), f"{folder}/ must not import Prefect"
    assert not offenders("microdrama", prefect)


def test_the_pipeline_file_shows_only_the_pipeline():
    source = (ROOT / "pipelines" / "episode.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 320
    steps = [int(n) for n in re.findall(r"^    # (\d+)\. ", source, re.M)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 6, "the flow body reads as numbered steps"
    assert "noqa: E402" not in source


def test_the_cli_has_one_error_boundary():
    source = (ROOT / "microdrama" / "cli.py").read_text(encoding="utf-8")
    assert source.count("except MicrodramaError") == 1


def test_every_built_in_skill_inherits_the_contract_battery():
    declared = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"class \w+\(SkillContract\):(.*?)(?=\nclass |\Z)", text, re.S):
            declared |= set(re.findall(r"Case\((\w+)\(", block))
    builtin = {cls.__name__ for name in build_default_registry(include_entry_points=False).names()
               for cls in [build_default_registry(include_entry_points=False).get(name)]}
    assert builtin - declared == set(), "each built-in skill needs a SkillContract test class"


@pytest.mark.parametrize("kind", ["brief", "config"])
def test_validate_does_not_import_prefect(tmp_path, kind):
    path = tmp_path / f"{kind}.yaml"
    path.write_text("title: 测试\npremise: 被赶出家门的千金归来\ngenre: revenge\n" if kind == "brief"
                    else "project_code: RD-X\n", encoding="utf-8")
    probe = ("import sys\nfrom typer.testing import CliRunner\nfrom microdrama.cli import app\n"
             f"r = CliRunner().invoke(app, ['validate', {str(path)!r}, '--kind', {kind!r}])\n"
             "assert r.exit_code == 0, r.output\n"
             "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))[:3])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
