"""The contract every skill honours, checked the same way for each (diffusers' PipelineTesterMixin style).

A skill's test module declares one class that inherits `SkillContract` and provides a `case`
fixture: the skill instance, one valid input as plain data (what a YAML file would hold), and its
options. The battery then checks, for every skill alike:

- its `Input` is the shared contract of its stage, and its `Output` a strict stage model;
- an unknown input key, or an unknown option, is an InputError naming the key and the stage;
- it writes only inside its own folder (nothing beside it, nothing in the working directory);
- it reports its usage (name, version, backend, measured seconds, its own quantities);
- the same input gives the same output (compared after removing the folder's path).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from microdrama.errors import InputError
from microdrama.skill import Skill, SkillContext
from microdrama.stages import STAGE_INPUTS, StageModel


@dataclass
class Case:
    skill: Skill
    data: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    # How two runs' files are compared; bytes by default (a video test may compare decoded frames).
    digest: Callable[[Path], str] = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def output_paths(value: Any, root: Path) -> list[Path]:
    """Every string in an output that names an existing file under `root`."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in output_paths(v, root)]
    if isinstance(value, list):
        return [p for v in value for p in output_paths(v, root)]
    if isinstance(value, str) and value.startswith(str(root)) and Path(value).is_file():
        return [Path(value)]
    return []


class SkillContract:
    """Inherit it and provide `case`: every skill gets the same battery of contract tests."""

    @pytest.fixture
    def case(self) -> Case:  # pragma: no cover - each skill's test class provides its own
        raise NotImplementedError("a SkillContract subclass must define the `case` fixture")

    def run(self, case: Case, folder: Path):
        skill = case.skill
        return skill(skill.parse_input(json.loads(json.dumps(case.data))), SkillContext(folder),
                     skill.parse_options(case.options))

    # -- the battery -------------------------------------------------------------------------------

    def test_input_and_output_are_stage_contracts(self, case: Case):
        cls = type(case.skill)
        if cls.stage in STAGE_INPUTS:  # a built-in stage: the one shared contract, not a private dict
            assert cls.Input is STAGE_INPUTS[cls.stage]
        assert issubclass(cls.Input, StageModel) and cls.Input.model_config.get("extra") == "forbid"
        assert cls.Output.model_config.get("extra") == "forbid"
        assert cls.Options.model_config.get("extra") == "forbid"

    def test_an_unknown_input_key_names_the_key_and_the_stage(self, case: Case):
        with pytest.raises(InputError) as caught:
            case.skill.parse_input({**case.data, "no_such_field": 1})
        message = str(caught.value)
        assert "no_such_field" in message and f"{case.skill.stage} stage" in message

    def test_an_unknown_option_names_the_option_and_the_skill(self, case: Case):
        with pytest.raises(InputError) as caught:
            case.skill.parse_options({**case.options, "no_such_option": 1})
        assert "no_such_option" in str(caught.value) and f"options.{case.skill.name}" in str(caught.value)

    def test_writes_only_inside_its_folder_and_reports_usage(self, case: Case, tmp_path: Path, monkeypatch):
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        before = files_under(tmp_path)
        folder = tmp_path / "skill"
        result = self.run(case, folder)
        outside = {p for p in files_under(tmp_path) - before if folder not in p.parents}
        assert not outside, f"{case.skill.name} wrote outside its folder: {sorted(map(str, outside))}"
        assert not any(cwd.iterdir()), f"{case.skill.name} wrote into the working directory"
        assert isinstance(result.output, type(case.skill).Output)
        u = result.usage
        assert (u.skill, u.version) == (case.skill.name, case.skill.version) and u.backend
        assert u.wall_seconds >= 0 and u.cpu_seconds >= 0
        assert u.quantities and all(isinstance(v, float) for v in u.quantities.values())

    def test_the_same_input_gives_the_same_output(self, case: Case, tmp_path: Path):
        first, second = self.run(case, tmp_path / "a"), self.run(case, tmp_path / "b")
        a = first.output.model_dump_json().replace(str(tmp_path / "a"), "<folder>")
        b = second.output.model_dump_json().replace(str(tmp_path / "b"), "<folder>")
        assert a == b
        files_a = output_paths(first.output.model_dump(), tmp_path / "a")
        files_b = output_paths(second.output.model_dump(), tmp_path / "b")
        assert [p.relative_to(tmp_path / "a") for p in files_a] == [p.relative_to(tmp_path / "b") for p in files_b]
        for pa, pb in zip(files_a, files_b):
            assert case.digest(pa) == case.digest(pb), f"{pa.name} differs between two runs of the same input"

