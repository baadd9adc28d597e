"""A strict reader of the small comma-separated gaze files (Aria MPS, Ego-Exo4D 2D, Ego4D): one header line, then
one line per sample, columns found by their header names.

Every malformation is one :class:`~gazeattn.utils.errors.DataError` naming the file and the 1-based line: an
unreadable or empty file, bytes that are not UTF-8, a missing or repeated column, a line with the wrong number of
fields, a field that is not a plain decimal number where one is needed, a blank line between samples. Accepted
and ignored: a UTF-8 byte-order mark, CRLF line ends, surrounding spaces in a field, trailing blank lines.
Quoting is not supported (none of these formats quotes a field); numbers are plain decimals such as ``-0.12``,
``1e-3`` or ``148502622`` (no ``_`` separators, no hex); ``nan`` and ``inf`` are refused unless a column allows
them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.utils.errors import DataError

MAX_BYTES = 1 << 31  # 2 GiB: a larger "gaze file" is not one (Ego4D's largest are a few hundred MB)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


@dataclass(frozen=True, eq=False)
class CsvRows:
    """The header and the sample lines of a file, fields as text; ``lines[i]`` is the 1-based line of row i."""

    path: str
    header: tuple[str, ...]
    rows: list[list[str]]
    lines: np.ndarray  # int64
    full_header: tuple[str, ...] = ()  # every column of the file (``header``: the ones kept)

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, name: str) -> bool:
        return name in self.header

    def text(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [row[i] for row in self.rows]

    def floats(self, name: str, *, empty: float | None = None, non_finite: bool = False) -> np.ndarray:
        """Column ``name`` as float64. An empty field is ``empty`` (an error when None); ``nan``/``inf`` are
        errors unless ``non_finite``."""
        fields = self.text(name)
        alternatives = [_NUMBER.pattern] + ([""] if empty is not None else []) + (
            ["[+-]?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"] if non_finite else [])
        one = "(?:" + "|".join(alternatives) + ")"
        if re.fullmatch(f"{one}(?:\n{one})*", "\n".join(fields)):  # fast path: one regex for the column
            blank = np.array([f == "" for f in fields], dtype=bool)
            out = np.array(["nan" if b else f for f, b in zip(fields, blank)], dtype=np.float64)
            out[blank] = np.nan if empty is None else empty
            if non_finite or np.all(np.isfinite(out[~blank])):
                return out
        out = np.empty(len(self.rows), dtype=np.float64)
        for k, field in enumerate(self.text(name)):
            if field == "":
                if empty is None:
                    raise DataError(self.path, f"column {name!r}: empty field", int(self.lines[k]))
                out[k] = empty
            elif _NUMBER.fullmatch(field):
                out[k] = float(field)
                if not non_finite and not np.isfinite(out[k]):  # 1e400
                    raise DataError(self.path, f"column {name!r}: out of range: {_show(field)}", int(self.lines[k]))
            elif non_finite and field.lower() in _NON_FINITE:
                out[k] = float(field)
            else:
                raise DataError(self.path, f"column {name!r}: not a number: {_show(field)}", int(self.lines[k]))
        return out

    def integers(self, name: str) -> np.ndarray:
        """Column ``name`` as int64 (plain decimal integers, |value| < 2**62)."""
        out = np.empty(len(self.rows), dtype=np.int64)
        for k, field in enumerate(self.text(name)):
            if not _INTEGER.fullmatch(field) or abs(int(field)) >= 1 << 62:
                raise DataError(self.path, f"column {name!r}: not an integer: {_show(field)}", int(self.lines[k]))
            out[k] = int(field)
        return out


def _show(field: str) -> str:
    return repr(field if len(field) <= 40 else field[:40] + "...")


def read_rows(path: str | os.PathLike, *, what: str, keep: tuple[str, ...] | None = None) -> CsvRows:
    """Read a header line and its sample lines, one line at a time; ``what`` names the format in messages (e.g.
    "Aria MPS eye gaze"). With ``keep``, only those columns (the ones the header has) are kept, to save memory on
    large files; every line's field count is still checked. The first malformed line (in file order) is named."""
    p = Path(path)
    try:
        if p.is_dir():
            raise DataError(p, f"is a folder, not a {what} file")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise DataError(p, f"{size} bytes: too large for a {what} file")
        with open(p, "rb") as fh:
            return _read_lines(p, fh, what, keep)
    except OSError as err:
        raise DataError(p, f"cannot read: {err.strerror or err}") from None


def _read_lines(p: Path, fh, what: str, keep: tuple[str, ...] | None) -> CsvRows:
    header: tuple[str, ...] | None = None
    pick: list[int] = []
    rows: list[list[str]] = []
    blank_at = None  # the first blank line not yet followed by a non-blank one
    for k, raw in enumerate(fh, start=1):
        if k == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(p, f"not UTF-8 text (byte 0x{raw[err.start]:02x}): not a {what} CSV", k) from None
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        if "\r" in line or "\x00" in line:
            what_char = "a carriage return inside a line" if "\x00" not in line else "a NUL byte"
            raise DataError(p, f"{what_char}: not a {what} CSV", k)
        if line.strip() == "":
            blank_at = blank_at or k
            continue
        if header is None:
            if blank_at is not None:
                raise DataError(p, f"blank line {blank_at} before the header: not a {what} CSV", blank_at)
            header = _header(p, line, what)
            kept = header if keep is None else tuple(n for n in header if n in keep)
            pick = [header.index(n) for n in kept]
            continue
        if blank_at is not None:
            raise DataError(p, "blank line between samples", blank_at)
        fields = line.split(",")
        if len(fields) != len(header):
            raise DataError(p, f"{len(fields)} fields, the header has {len(header)}", k)
        rows.append([fields[i].strip() for i in pick])
    if header is None:
        raise DataError(p, f"empty file: expected a {what} CSV with a header line", 1)
    if not rows:
        raise DataError(p, f"no samples after the header: an empty {what} file", 1)
    return CsvRows(path=str(p), header=tuple(header[i] for i in pick), rows=rows,
                   lines=np.arange(2, len(rows) + 2, dtype=np.int64), full_header=header)


def _header(p: Path, line: str, what: str) -> tuple[str, ...]:
    header = tuple(name.strip() for name in line.split(","))
    seen = set()
    for name in header:
        if name == "":
            raise DataError(p, f"empty column name in the header: not a {what} CSV", 1)
        if name in seen:
            raise DataError(p, f"column {name!r} appears twice in the header", 1)
        seen.add(name)
    return header


def _header_text(names: tuple[str, ...]) -> str:
    text = ", ".join(ascii(n)[1:-1] for n in names[:12]) + (", ..." if len(names) > 12 else "")
    return text if len(text) <= 300 else text[:300] + "..."


def require(rows: CsvRows, names: tuple[str, ...], *, what: str) -> None:
    """DataError (line 1) naming the columns of ``names`` that the header lacks."""
    missing = [n for n in names if not rows.has(n)]
    if missing:
        raise DataError(rows.path, f"missing column(s) {', '.join(map(repr, missing))}: not a {what} CSV "
                                   f"(header: {_header_text(rows.full_header or rows.header)})",
                        1)


def non_decreasing(rows: CsvRows, values: np.ndarray, name: str) -> None:
    """DataError naming the first line whose ``name`` is smaller than the previous line's."""
    back = np.flatnonzero(np.diff(values) < 0)
    if back.size:
        k = int(back[0]) + 1
        raise DataError(rows.path, f"column {name!r} goes backwards ({values[k - 1]!r} then {values[k]!r}): "
                                   "samples must be in time order", int(rows.lines[k]))
