"""Writing files so that a crash never leaves a half-written file under its real name.

One idiom for every writer in the project: `with atomic_path(target) as tmp:` write to `tmp`
(same folder, same suffix, so tools like ffmpeg still pick the format by extension); when the
block finishes the temporary file replaces the target in one rename, and when it raises the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of `path` that becomes `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_workbook(workbook, path: str | Path) -> Path:
    """Save an openpyxl workbook atomically, with every cell as data: a ledger description or a title
    that starts with '=', '+', '-' or '@' stays text and never runs as a spreadsheet formula."""
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return Path(path)


def publish(src: str | Path, dest: str | Path) -> Path:
    """Place a stored artifact at `dest` as a copy of its own: editing a published file (adding a
    line to an .srt, trimming a cut) must never change what the store hands the next run."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dest)


def replace_folder(new: str | Path, dest: str | Path) -> Path:
    """Put the finished folder `new` where `dest` is, whole: the old one is moved aside, then removed, so `dest`
    never mixes files of both (a reader sees the old folder or the new one; for an instant, neither)."""
    new, dest = Path(new), Path(dest)
    old = dest.with_name(f".{dest.name}.{os.getpid()}-{threading.get_ident()}.old")
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
