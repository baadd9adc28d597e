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
