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
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from microdrama.skill import Skill, SkillContext, Usage, atomic_write_text

STORE_TOKEN = "@store"


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

    def key(self, skill: Skill, inputs: BaseModel) -> str:
        payload = inputs.model_dump_json().replace(str(self.root), STORE_TOKEN)
        ident = json.dumps([skill.name, skill.version, skill.backend], ensure_ascii=False)
        return hashlib.sha256(f"{ident}\n{payload}".encode("utf-8")).hexdigest()

    def folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def run(self, skill: Skill, inputs: BaseModel, *, force: bool = False, log=None,
            before_commit: Callable[[str, Usage], None] | None = None) -> StoredResult:
        """Return the stored result for these inputs, or run the skill and store it atomically.

        `before_commit(key, usage)` runs after the skill succeeded and before its result becomes
        visible: the pipeline records cost there, so a crash in between re-runs the step and the
        (idempotent) ledger entry is written exactly once.
        """
        key = self.key(skill, inputs)
        final = self.folder(key)
        result_file = final / "result.json"
        if result_file.exists() and not force:
            data = json.loads(result_file.read_text(encoding="utf-8"))
            return StoredResult(key, skill.Output.model_validate(data["output"]), Usage.model_validate(data["usage"]), True)

        tmp = self.root / "tmp" / f"{key[:16]}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            result = skill(inputs, SkillContext(tmp, log=log))
            if before_commit is not None:
                before_commit(key, result.usage)
            # Paths in the output point into the temporary folder; re-point them to the final one.
            output_json = result.output.model_dump_json().replace(str(tmp.resolve()), str(final))
            atomic_write_text(
                tmp / "result.json",
                json.dumps({"output": json.loads(output_json), "usage": result.usage.model_dump(mode="json")},
                           ensure_ascii=False, indent=1),
            )
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists() and force:
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
        return StoredResult(key, skill.Output.model_validate_json(output_json), result.usage, False)


def publish(src: str | Path, dest: Path) -> Path:
    """Place a stored artifact in the run folder: hard link when possible, else copy; atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
