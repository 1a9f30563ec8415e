from pydantic import BaseModel

from microdrama.artifact_store import ArtifactStore
from microdrama.skill import Skill, SkillContext
from microdrama.stages import NoOptions


class EchoIn(BaseModel):
    text: str
    fail: bool = False


class EchoOut(BaseModel):
    path: str


class EchoSkill(Skill[EchoIn, EchoOut, NoOptions]):
    name, stage, version, backend, description = "echo", "test", "1", "python", "writes its input"
    Input, Output = EchoIn, EchoOut
    calls = 0

    def run(self, inputs, options, ctx: SkillContext):
        EchoSkill.calls += 1
        path = ctx.path("echo.txt")
        path.write_text(inputs.text)
        if inputs.fail:
            raise RuntimeError("boom after writing")
        return EchoOut(path=str(path)), {"characters": float(len(inputs.text))}


def test_second_call_with_same_input_is_served_from_the_store(tmp_path):
    store = ArtifactStore(tmp_path)
    EchoSkill.calls = 0
    first = store.run(EchoSkill(), EchoIn(text="hi"))
    second = store.run(EchoSkill(), EchoIn(text="hi"))
    assert (first.cached, second.cached) == (False, True)
    assert EchoSkill.calls == 1
    assert open(second.output.path).read() == "hi"  # the path points at the final folder
    assert second.usage.quantities == {"characters": 2.0}


def test_changed_input_or_force_runs_again(tmp_path):
    store = ArtifactStore(tmp_path)
    EchoSkill.calls = 0
    store.run(EchoSkill(), EchoIn(text="a"))
    store.run(EchoSkill(), EchoIn(text="b"))
    store.run(EchoSkill(), EchoIn(text="b"), force=True)
    assert EchoSkill.calls == 3


def test_a_failed_call_leaves_nothing_that_looks_finished(tmp_path):
    store = ArtifactStore(tmp_path)
    inputs = EchoIn(text="x", fail=True)
    try:
        store.run(EchoSkill(), inputs)
    except RuntimeError:
        pass
    assert not store.folder(store.key(EchoSkill(), inputs)).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_skill_context_refuses_paths_outside_its_folder(tmp_path):
    ctx = SkillContext(tmp_path / "skill")
    try:
        ctx.path("../escape.txt")
    except ValueError as exc:
        assert "only write inside" in str(exc)
    else:
        raise AssertionError("escaping path accepted")
