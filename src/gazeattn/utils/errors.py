"""Errors that name the file (and line) the bad input came from."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data: carries the file and, where there is one, the 1-based line number."""

    def __init__(self, path: str | Path | None, message: str, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            where += ": "
        super().__init__(where + message)


class OutputError(DataError):
    """An output that cannot be written (permissions, a missing or wrong-type folder, a full disk): names the path
    the user asked for (never a temporary name) and the reason, e.g. ``run/x.npy: cannot write: Permission denied``."""


def os_reason(err: BaseException) -> str:
    """The short reason of an OS-level failure: ``strerror`` of an OSError (PyAV's errors included), the OS message
    inside a safetensors error, else the exception's text."""
    strerror = getattr(err, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    text = str(err)
    if type(err).__name__ == "SafetensorError":  # "Error while serializing: I/O error: No space left on device (os
        import re  # error 28)"; older releases: "... IoError(Os { code: 28, ..., message: \"No space left ...\" })"

        found = re.search(r'message: "([^"]+)"', text) or re.search(r"I/O error: (.+?)(?: \(os error \d+\))?$", text)
        if found:
            return found.group(1)
    return text or type(err).__name__


def output_error(path: str | Path, err: BaseException, *, note: str = "") -> OutputError:
    """``OutputError(path, "cannot write: REASON[; note]")`` for an exception raised while writing ``path``."""
    reason = err.reason if isinstance(err, OutputError) else f"cannot write: {os_reason(err)}"
    return OutputError(path, reason + (f"; {note}" if note else ""))
