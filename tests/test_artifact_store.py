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


def test_a_moved_output_folder_keeps_its_cache(tmp_path):
    """Stored results name files relative to the store, so moving `out/` keeps every step reusable."""
    import shutil

    store = ArtifactStore(tmp_path / "out" / ".store")
    EchoSkill.calls = 0
    store.run(EchoSkill(), EchoIn(text="hi"))
    shutil.move(tmp_path / "out", tmp_path / "moved")
    moved = ArtifactStore(tmp_path / "moved" / ".store")
    again = moved.run(EchoSkill(), EchoIn(text="hi"))
    assert again.cached and EchoSkill.calls == 1
    assert again.output.path.startswith(str(tmp_path / "moved")) and open(again.output.path).read() == "hi"


def test_an_unreadable_stored_result_is_rendered_again(tmp_path):
    store = ArtifactStore(tmp_path)
    EchoSkill.calls = 0
    first = store.run(EchoSkill(), EchoIn(text="hi"))
    (store.folder(first.key) / "result.json").write_text("{ truncated", encoding="utf-8")
    again = store.run(EchoSkill(), EchoIn(text="hi"))
    assert not again.cached and EchoSkill.calls == 2 and open(again.output.path).read() == "hi"


def test_folders_left_by_a_dead_process_are_cleaned(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    (tmp_path / "tmp").mkdir()
    left = tmp_path / "tmp" / f"0123456789abcdef.{host}.{dead.stdout.strip()}.deadbeef"
    left.mkdir()
    mine = tmp_path / "tmp" / f"0123456789abcdef.{host}.{os.getpid()}.cafebabe"
    mine.mkdir()
    other_host = tmp_path / "tmp" / "0123456789abcdef.another-machine.1.feedface"
    other_host.mkdir()
    ArtifactStore(tmp_path)
    assert not left.exists() and mine.exists() and other_host.exists()


def test_a_damaged_stored_file_is_never_reused(tmp_path):
    """A truncated or edited file in the store makes the step run again instead of being handed on."""
    import os

    store = ArtifactStore(tmp_path)
    EchoSkill.calls = 0
    first = store.run(EchoSkill(), EchoIn(text="a whole line"))
    path = first.output.path
    with open(path, "r+") as f:
        f.truncate(3)  # half a file, as a crash or a full disk leaves it
    assert not store.run(EchoSkill(), EchoIn(text="a whole line")).cached
    with open(path, "w") as f:
        f.write("a whole LINE")  # same size, other bytes
    os.utime(path, ns=(1, 1))
    again = store.run(EchoSkill(), EchoIn(text="a whole line"))
    assert not again.cached and open(again.output.path).read() == "a whole line" and EchoSkill.calls == 3
    assert store.run(EchoSkill(), EchoIn(text="a whole line")).cached  # intact: reused, no re-render
