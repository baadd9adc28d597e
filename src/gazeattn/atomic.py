"""Files that appear whole or not at all: write to a temporary name beside the target, flush, ``os.replace``.

A reader (or a process killed mid-write) never sees a half-written file under the final name, and an existing
file is replaced only once the new one is complete. Used for every file the tool writes that a user keeps:
checkpoints, model weights, gaze tables, pictures, reports.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def fsync_path(path: Path) -> None:
    """Flush a file or a folder to disk (best effort for folders on filesystems that refuse it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``; on failure it is removed.

    The temporary name keeps the suffix (``.name.tmpPID.png``) so writers that pick a format from the suffix work.
    ``durable`` fsyncs the file and its folder (what checkpoints need; cheap for small files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` by UTF-8 ``text`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)
