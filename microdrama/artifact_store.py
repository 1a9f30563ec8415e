"""Content-addressed artifact store: the input-hash cache behind every pipeline step.

An artifact's key is the hash of the skill's identity (name, version, backend) and its full
input. Inputs that reference files produced by earlier steps point into the store, whose folder
names are themselves keys, so a key changes exactly when something upstream changed. A step runs
in a private temporary folder that is renamed into place only when it finished: a crash never
leaves a half-written artifact that a later run would take for a good one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ValidationError

from microdrama.errors import BilledError
from microdrama.files import atomic_write_text, sha256_file
from microdrama.skill import Skill, SkillContext, Usage

STORE_TOKEN = "@@microdrama-store@@"  # stands for the store's folder in keys and stored results


@dataclass
class StoredResult:
    key: str
    output: BaseModel
    usage: Usage
    cached: bool


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self._clean_dead_steps()

    def _clean_dead_steps(self) -> None:
        """Remove the private folders of steps whose process died (a SIGKILL mid-step leaves one)."""
        host = socket.gethostname()
        for folder in (self.root / "tmp").iterdir():
            rest = folder.name.partition(".")[2]  # key.host.pid.uuid
            owner, _, pid = rest.rpartition(".")[0].rpartition(".")
            if owner == host and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def key(self, skill: Skill, inputs: BaseModel, options: BaseModel | None = None) -> str:
        options = skill.parse_options(options)
        payload = (inputs.model_dump_json() + "\n" + options.model_dump_json()).replace(str(self.root), STORE_TOKEN)
        ident = json.dumps([skill.name, skill.version, skill.backend], ensure_ascii=False)
        return hashlib.sha256(f"{ident}\n{payload}".encode("utf-8")).hexdigest()

    def folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def has(self, skill: Skill, inputs: BaseModel, options: BaseModel | None = None) -> bool:
        """Whether this step's result is stored and intact (it would be reused, not run)."""
        return self._read(skill, self.folder(self.key(skill, inputs, options)) / "result.json") is not None

    def journal(self, key: str) -> Path:
        """Where a step's paid jobs are noted before waiting on them; kept after the step, for the audit."""
        return self.root / "jobs" / key[:2] / key

    def run(self, skill: Skill, inputs: BaseModel, options: BaseModel | None = None, *, force: bool = False,
            log=None, before_commit: Callable[[str, Usage], None] | None = None) -> StoredResult:
        """Return the stored result for these inputs, or run the skill and store it atomically.

        `before_commit(key, usage)` runs after the skill succeeded and before its result becomes
        visible: the pipeline records cost there, so a crash in between re-runs the step and the
        (idempotent) ledger entry is written exactly once.
        """
        options = skill.parse_options(options)
        key = self.key(skill, inputs, options)
        final = self.folder(key)
        if not force:
            stored = self._read(skill, final / "result.json")
            if stored is not None:
                return StoredResult(key, stored[0], stored[1], True)
        replace_existing = force or final.exists()  # forced, or an earlier result that is unreadable

        tmp = self.root / "tmp" / f"{key[:16]}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        journal = self.journal(key)
        if force and journal.exists():
            shutil.rmtree(journal, ignore_errors=True)  # forced: a new take, not the job an earlier run paid for
        try:
            try:
                result = skill(inputs, SkillContext(tmp, log=log, journal=journal), options)
            except BilledError as exc:  # paid for but failed: keep what the provider said, for the audit
                exc.kept = self._keep_failed(tmp, key)
                raise
            if before_commit is not None:
                before_commit(key, result.usage)
            # Paths in the output point into the temporary folder; re-point them to the final one, and
            # store them relative to the store, so a moved output folder keeps its cache.
            output = _swap(result.output.model_dump(mode="json"), str(tmp.resolve()), str(final))
            atomic_write_text(
                tmp / "result.json",
                json.dumps({"output": _swap(output, str(self.root), STORE_TOKEN),
                            "usage": result.usage.model_dump(mode="json"),
                            "files": _fingerprints(result.output.model_dump(mode="json"), tmp.resolve())},
                           ensure_ascii=False, indent=1),
            )
            final.parent.mkdir(parents=True, exist_ok=True)
            if replace_existing and final.exists():
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError:
                # Another process (a parallel episode with an identical step) committed the same key
                # first. Its result is the same content; keep it rather than pull it from under a reader.
                if not (final / "result.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return StoredResult(key, skill.Output.model_validate(output), result.usage, False)

    def _read(self, skill: Skill, result_file: Path) -> tuple[BaseModel, Usage] | None:
        """A committed result whose files are intact, or None: missing, unreadable, no longer fitting the
        skill's contract, or a file changed since it was stored (then the step runs again)."""
        if not result_file.exists():
            return None
        try:
            data = json.loads(result_file.read_text(encoding="utf-8"))
            output = _swap(data["output"], STORE_TOKEN, str(self.root))
            damaged = _damaged(data["files"], result_file.parent)
            if damaged:
                raise ValueError(f"{damaged} changed since it was stored")
            return skill.Output.model_validate(output), Usage.model_validate(data["usage"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            logging.getLogger(__name__).warning("re-running %s: stored result %s is unusable (%s)",
                                                skill.name, result_file.parent.name, str(exc).splitlines()[0])
            return None

    def _keep_failed(self, tmp: Path, key: str) -> Path | None:
        """Move a failed step's LLM transcripts out of its private folder before that folder is removed."""
        transcripts = tmp / "llm"
        if not transcripts.is_dir():
            return None
        kept = self.root / "failed" / f"{key[:16]}-{uuid.uuid4().hex[:8]}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(transcripts), kept)
        return kept


def _swap(value, old: str, new: str):
    """`value` (parsed JSON) with `old` replaced by `new` inside every string."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fingerprints(output, folder: Path) -> dict[str, list]:
    """Size, modification time and sha256 of every file the output names inside `folder`."""
    found: dict[str, list] = {}

    def visit(value) -> None:
        if isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)
        elif isinstance(value, str) and value.startswith(str(folder)) and Path(value).is_file():
            path = Path(value)
            st = path.stat()
            found[str(path.relative_to(folder))] = [st.st_size, st.st_mtime_ns, sha256_file(path)]

    visit(output)
    return found


def _damaged(files: dict[str, list], folder: Path) -> str | None:
    """The first recorded file that is missing or changed. Size is checked always; the hash only when
    the modification time moved, so reusing a step costs a stat per file, not a read."""
    for rel, (size, mtime_ns, digest) in files.items():
        path = folder / rel
        try:
            st = path.stat()
        except OSError:
            return rel
        if st.st_size != size or (st.st_mtime_ns != mtime_ns and sha256_file(path) != digest):
            return rel
    return None
