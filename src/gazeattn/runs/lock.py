"""One writer per output: a lock file held for as long as a command writes a run folder (or an output file).

    with run_folder_lock("runs/x"):            # RUN/.lock: train, study cells
        ...
    with output_file_lock("results/r.json"):   # results/.r.json.lock: eval --out
        ...

A second writer is refused at once with :class:`OutputLocked`, naming the holder::

    runs/x: is being written by pid 4242 on node3 since 2025-01-31 14:02:11 +0000 (gazeattn train ... --out runs/x)

How: the lock file is opened and ``fcntl.flock(LOCK_EX | LOCK_NB)``-ed; the holder writes its pid, host, start time
and command line into it (JSON) and keeps the descriptor open for the whole run. The kernel drops the lock when
the holder dies however it dies (SIGKILL included), so a lock file left by a dead process is *stale*: the next
writer takes it over and says so in one warning line. On release the file is deleted, then unlocked; a writer that
opened the old file in between notices (the path no longer names the inode it locked) and tries again.

Filesystems without ``flock`` (some network or FUSE mounts) fall back to creating the file with
``O_CREAT | O_EXCL``: there a lock left by a dead process on this host (its pid is gone) is recovered with the same
warning, and one from another host must be deleted by hand (the message says so).

Forked children (DataLoader workers) share the locked descriptor: after a SIGKILL of the holder the lock lasts
until its workers notice and exit (about 5 s), so a holder whose pid is gone is waited for, up to ``STALE_WAIT_S``.
Only this module's lock files are touched; nothing here imports torch.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shlex
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from gazeattn.utils.atomic import current_umask, make_output_folder
from gazeattn.utils.errors import OutputError, output_error

log = logging.getLogger(__name__)

__all__ = ["LOCK_NAME", "STALE_WAIT_S", "OutputLocked", "Holder", "OutputLock", "acquire", "run_folder_lock",
           "output_file_lock"]

LOCK_NAME = ".lock"
STALE_WAIT_S = 15.0  # how long a lock whose holder's pid is gone (its forked children still hold it) is waited for
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class OutputLocked(OutputError):
    """Another process is writing this output (a DataError: the CLI prints it as one line, exit 1)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in the lock file."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def me(cls) -> "Holder":
        return cls(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S %z"), _command_line())

    @classmethod
    def parse(cls, text: str) -> "Holder | None":
        try:
            d = json.loads(text)
            return cls(int(d["pid"]), str(d["host"]), str(d["started"]), str(d.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "started": self.started, "command": self.command})

    def describe(self) -> str:
        command = self.command if len(self.command) <= 100 else self.command[:97] + "..."
        return f"pid {self.pid} on {self.host} since {self.started}" + (f" ({command})" if command else "")

    def is_dead_here(self) -> bool:
        """True when the holder ran on this host and its pid is gone."""
        return self.host == socket.gethostname() and not pid_alive(self.pid)


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and (Path(argv[0]).name == "gazeattn" or argv[0].endswith(os.path.join("gazeattn", "__main__.py"))):
        argv[0] = "gazeattn"
    return shlex.join(argv)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (``kill(pid, 0)``; another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


class OutputLock:
    """A held lock; :meth:`release` (or leaving the ``with``) deletes the lock file and unlocks it."""

    def __init__(self, path: Path, target: Path, fd: int | None, created_folder: Path | None):
        self.path = path
        self.target = target
        self._fd = fd  # None in O_EXCL mode
        self._created_folder = created_folder

    def release(self) -> None:
        if self.path is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)  # forked children share the descriptor: unlock for all of them
            finally:
                os.close(self._fd)
            self._fd = None
        if self._created_folder is not None:  # a folder made only to hold the lock and left empty: remove it
            try:
                self._created_folder.rmdir()
            except OSError:
                pass
        self.path = None  # type: ignore[assignment]

    def __enter__(self) -> "OutputLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _locked(target: Path, lock_path: Path, holder: Holder | None, *, hint: str = "") -> OutputLocked:
    who = holder.describe() if holder is not None else "another process (its lock file holds no details yet)"
    return OutputLocked(target, f"is being written by {who}; nothing was written ({lock_path}{hint})")


def acquire(lock_path: str | Path, *, target: str | Path | None = None, folder: str | Path | None = None) -> OutputLock:
    """Take the lock file ``lock_path`` for writing ``target`` (named in every message; default: the lock's folder).

    ``folder`` (default: the lock file's folder) is created if missing, and removed again on release if it is then
    empty. Raises :class:`OutputLocked` when another live process holds it, :class:`OutputError` when the lock
    file cannot be created (read-only folder, a file where the folder should be, ...).
    """
    lock_path = Path(lock_path)
    target = Path(target) if target is not None else lock_path.parent
    folder = Path(folder) if folder is not None else lock_path.parent
    created = None if folder.is_dir() else folder
    make_output_folder(folder, target)
    try:
        fd = _acquire_flock(lock_path, target)
    except OutputError:
        _remove_if_empty(created)
        raise
    except _NoFlock:
        try:
            _acquire_exclusive(lock_path, target)
        except OutputError:
            _remove_if_empty(created)
            raise
        fd = None
    return OutputLock(lock_path, target, fd, created)


def _remove_if_empty(folder: Path | None) -> None:
    if folder is not None:
        try:
            folder.rmdir()
        except OSError:
            pass


class _NoFlock(Exception):
    pass


def _open_lock_file(lock_path: Path, target: Path) -> tuple[int, bool]:
    """(descriptor, whether this call created the file)."""
    for _ in range(100):
        try:
            return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666 & ~current_umask()), True
        except FileExistsError:
            pass
        except OSError as err:
            raise output_error(target, err) from err
        try:
            return os.open(lock_path, os.O_RDWR | os.O_CLOEXEC), False
        except FileNotFoundError:
            continue  # its holder deleted it between the two opens: create it
        except OSError as err:
            raise output_error(target, err) from err
    raise OutputError(target, f"cannot write: {lock_path} keeps appearing and disappearing")


def _write_holder(fd: int, lock_path: Path, target: Path) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (Holder.me().to_json() + "\n").encode(), 0)
    except OSError as err:
        raise output_error(target, err) from err


def _acquire_flock(lock_path: Path, target: Path) -> int:
    deadline = None
    while True:
        fd, created = _open_lock_file(lock_path, target)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(_read(fd))
            os.close(fd)
            if holder is not None and holder.is_dead_here():  # its forked children still hold it: they exit soon
                deadline = deadline or time.monotonic() + STALE_WAIT_S
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
            raise _locked(target, lock_path, holder) from None
        except OSError as err:
            os.close(fd)
            if created:
                lock_path.unlink(missing_ok=True)
            if err.errno in _NO_FLOCK:
                raise _NoFlock from err
            raise output_error(target, err) from err
        try:  # the holder may have deleted the file between our open and our lock: lock the file the path names
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        stale = Holder.parse(_read(fd))
        if stale is not None:
            log.warning("%s: took over the stale lock %s of %s, which is no longer running", target, lock_path,
                        stale.describe())
        try:
            _write_holder(fd, lock_path, target)
        except OutputError:  # e.g. a full disk: leave no lock file behind
            lock_path.unlink(missing_ok=True)
            os.close(fd)
            raise
        return fd


def _acquire_exclusive(lock_path: Path, target: Path) -> None:
    """O_CREAT | O_EXCL fallback for filesystems without flock."""
    for _ in range(5):
        try:
            fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666 & ~current_umask())
        except FileExistsError:
            try:
                text = lock_path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue  # released meanwhile
            except OSError as err:
                raise output_error(target, err) from err
            holder = Holder.parse(text)
            if holder is None or not holder.is_dead_here():
                here = holder is not None and holder.host == socket.gethostname()
                hint = "" if here else "; if no such process is running, delete the lock file"
                raise _locked(target, lock_path, holder, hint=hint) from None
            moved = lock_path.with_name(f"{lock_path.name}.stale{os.getpid()}")  # take it over atomically
            try:
                os.replace(lock_path, moved)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise output_error(target, err) from err
            if Holder.parse(moved.read_text(encoding="utf-8", errors="replace")) != holder:
                try:  # someone else recovered it first and this is their fresh lock: give it back
                    os.link(moved, lock_path)
                except OSError:
                    pass
                moved.unlink(missing_ok=True)
                continue
            moved.unlink(missing_ok=True)
            log.warning("%s: took over the stale lock %s of %s, which is no longer running", target, lock_path,
                        holder.describe())
            continue
        except OSError as err:
            raise output_error(target, err) from err
        try:
            _write_holder(fd, lock_path, target)
        except OutputError:
            os.close(fd)
            lock_path.unlink(missing_ok=True)
            raise
        os.close(fd)
        return
    raise _locked(target, lock_path, None)


@contextmanager
def run_folder_lock(run_dir: str | Path) -> Iterator[OutputLock]:
    """Hold ``RUN_DIR/.lock`` (the run folder is created if missing, and removed on exit if left empty)."""
    run_dir = Path(run_dir)
    lock = acquire(run_dir / LOCK_NAME, target=run_dir, folder=run_dir)
    try:
        yield lock
    finally:
        lock.release()


@contextmanager
def output_file_lock(path: str | Path) -> Iterator[OutputLock]:
    """Hold ``FOLDER/.NAME.lock`` beside the output file ``FOLDER/NAME`` while it is being produced."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "cannot write: is a folder, not a file")
    lock = acquire(path.with_name(f".{path.name}.lock"), target=path, folder=path.parent)
    try:
        yield lock
    finally:
        lock.release()
