"""Files that appear whole or not at all: write to a temporary name beside the target, flush, ``os.replace``.

A reader (or a process killed mid-write) never sees a half-written file under the final name, and an existing
file is replaced only once the new one is complete. Used for every file the tool writes that a user keeps:
checkpoints, model weights, gaze tables, pictures, reports.

An output that cannot be written (a read-only or immutable folder, a folder where the file should be, a parent
that is a file, a full disk) raises :class:`~gazeattn.utils.errors.OutputError` naming the path the caller asked for,
and leaves no temporary file behind. Files get the mode ``0o666 & ~umask``, like any file a program creates,
whatever mode the writer used (safetensors writes 0600).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gazeattn.utils.errors import OutputError, output_error


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


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status`` on Linux; elsewhere set and restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_output_folder(folder: Path, output: Path) -> None:
    """Create ``folder`` (and its parents) for ``output``; OutputError naming ``output`` when it cannot be."""
    if folder.is_dir():
        return
    for above in (folder, *folder.parents):  # the nearest existing path must be a folder
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                what = "is a file, not a folder" if above == output else f"{above} is not a folder"
                raise OutputError(output, f"cannot write: {what}")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(output, err) from err


def prepare_output(path: str | Path, *, folder: bool = False) -> Path:
    """Check that the output ``path`` can be written before any work is done; raises OutputError naming ``path``.

    A file (default): ``path`` must not be a folder; its parent folder is created if missing. A folder
    (``folder=True``): it is created if missing and must not be a file. Either way a probe file is created and
    removed where the output goes (this catches read-only and immutable folders, which ``os.access`` does not
    for root)."""
    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise OutputError(path, "cannot write: is a file, not a folder")
        where = path
    else:
        if path.is_dir():
            raise OutputError(path, "cannot write: is a folder, not a file")
        where = path.parent
    make_output_folder(where, path)
    probe = where / f".{path.name}.probe{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as err:
        raise output_error(path, err) from err
    os.close(fd)
    probe.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_output(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``; on failure it is removed.

    The temporary name keeps the suffix (``.name.tmpPID.png``) so writers that pick a format from the suffix work.
    ``durable`` fsyncs the file and its folder (what checkpoints need; cheap for small files). An OSError (PyAV's
    included) while writing becomes an :class:`OutputError` naming ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "cannot write: is a folder, not a file")
    make_output_folder(path.parent, path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    except OSError as err:
        raise output_error(path, err) from err
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` by UTF-8 ``text`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)
