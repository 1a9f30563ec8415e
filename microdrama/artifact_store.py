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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ValidationError

from microdrama.files import atomic_write_text
from microdrama.skill import Skill, SkillContext, Usage

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

    def key(self, skill: Skill, inputs: BaseModel, options: BaseModel | None = None) -> str:
        options = skill.parse_options(options)
        payload = (inputs.model_dump_json() + "\n" + options.model_dump_json()).replace(str(self.root), STORE_TOKEN)
        ident = json.dumps([skill.name, skill.version, skill.backend], ensure_ascii=False)
        return hashlib.sha256(f"{ident}\n{payload}".encode("utf-8")).hexdigest()

    def folder(self, key: str) -> Path:
        return self.root / key[:2] / key

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

        tmp = self.root / "tmp" / f"{key[:16]}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            result = skill(inputs, SkillContext(tmp, log=log), options)
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
        return StoredResult(key, skill.Output.model_validate_json(output_json), result.usage, False)

    @staticmethod
    def _read(skill: Skill, result_file: Path) -> tuple[BaseModel, Usage] | None:
        """A committed result, or None when there is none or it no longer fits the skill's contract."""
        if not result_file.exists():
            return None
        try:
            data = json.loads(result_file.read_text(encoding="utf-8"))
            return skill.Output.model_validate(data["output"]), Usage.model_validate(data["usage"])
        except (ValueError, KeyError, ValidationError) as exc:
            logging.getLogger(__name__).warning("re-running %s: stored result %s is unreadable (%s)",
                                                skill.name, result_file, str(exc).splitlines()[0])
            return None
