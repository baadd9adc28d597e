"""What an SMI BeGaze export of EGTEA Gaze+ must look like: the codes of the per-frame table and of the sample
events, the limits, the header (``##`` lines, a ``## Version: BeGaze 3.x`` line, then the ``Time`` column-header
line) and the columns found by their names. The rules themselves: see :mod:`gazeattn.data.begaze`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from gazeattn.utils.errors import DataError

if TYPE_CHECKING:  # annotations only: stream.py imports this module
    from gazeattn.data.begaze.stream import Stream

UNTRACKED, FIXATION, SACCADE, OTHER, TRUNCATED = 0, 1, 2, 3, 4
TYPE_NAMES = ("untracked", "fixation", "saccade", "other", "truncated")
GAZE_RESOLUTION = (1280, 960)  # (width, height) of the gaze pixel coordinates
FPS = 24

EVENT_FIXATION, EVENT_SACCADE, EVENT_BLINK, EVENT_NONE, EVENT_UNKNOWN = 1, 2, 3, 4, 5
EVENT_CODES = {b"Fixation": EVENT_FIXATION, b"Saccade": EVENT_SACCADE, b"Blink": EVENT_BLINK, b"-": EVENT_NONE}
# event code -> table type (index = event code); 0 unused
EVENT_TO_TYPE = np.array([OTHER, FIXATION, SACCADE, OTHER, OTHER, OTHER], dtype=np.uint8)

COMPAT_MODES = ("clean", "official")
MAX_FRAME = FPS * 3600 * 10  # 10 h of video: a larger frame number is garbage (and would allocate a huge table)
CLEAN_MAX_ABS_PX = 1e6
MAX_HEADER_LINES = 1000
MAX_FIELD_WIDTH = 64
CHUNK_BYTES = 1 << 19  # bytes read at a time (a block of whole lines is parsed at once)
MAX_LINE_BYTES = 1 << 20  # a longer line is an error: it bounds the read buffer

X_COLUMNS = ("B POR X [px]", "L POR X [px]", "R POR X [px]")
EVENT_COLUMNS = ("B Event Info", "L Event Info", "R Event Info")
_VERSION_RE = re.compile(r"^BeGaze\s+(\d+)\.(\d+)")

_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BYTES_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_WIDE_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"#\x00#\x00", b"\x00#\x00#", b"#\x00\x00\x00",
                b"\x00\x00\x00#")  # UTF-16/32 byte-order marks, and '##' in UTF-16/32 without one
_ALLOWED_BYTES = bytes(range(32, 127)) + b"\t\r\n"
ALLOWED_LUT = np.zeros(256, dtype=bool)
ALLOWED_LUT[np.frombuffer(_ALLOWED_BYTES, dtype=np.uint8)] = True


OLD_MAC = "carriage returns without line feeds (old Mac line ends): re-save the file with LF or CRLF line ends"


def line_too_long(path: str, line: int, start: bytes) -> DataError:
    """The error for a line over MAX_LINE_BYTES; ``start`` is its beginning. Text whose only control characters
    are tabs and carriage returns is a file with old Mac line ends (bare CRs), read as one long line."""
    if b"\r" in start and not _CONTROL_BYTES_RE.search(start.replace(b"\r", b"")):
        return DataError(path, OLD_MAC, line)
    return DataError(path, f"line longer than {MAX_LINE_BYTES} bytes: not an SMI BeGaze export "
                           "(its lines are a few hundred bytes)", line)


def read_header(path: str, st: Stream) -> tuple[list[str], int]:
    """Walk the ``##`` lines to the ``Time`` line, leaving ``st.lo`` on the first sample: (column names, line no)."""
    while st.hi - st.lo < 4 and st.read():
        pass
    head = bytes(st.view[st.lo : min(st.hi, st.lo + 4)])
    if head.startswith(_WIDE_STARTS):  # a BOM, or '##' with zero bytes between: re-saved by an editor
        raise DataError(path, "UTF-16 or UTF-32 text, not the ASCII of an SMI BeGaze export "
                              "(re-save it as ASCII or UTF-8)", 1)
    if head.startswith(b"\xef\xbb\xbf"):
        st.lo += 3
    version_line = None
    lineno = 0
    while True:
        lineno += 1
        if lineno > MAX_HEADER_LINES:
            raise DataError(path, f"no 'Time' column-header line in the first {MAX_HEADER_LINES} lines", lineno)
        end = st.line_end(lineno)
        raw = bytes(st.view[st.lo : end if end >= 0 else st.hi])
        st.lo = end + 1 if end >= 0 else st.hi
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(path, f"not UTF-8 text (binary file?): {err.reason} at byte {err.start}", lineno) from None
        if _CONTROL_RE.search(text):
            if "\r" in text and not _CONTROL_RE.search(text.replace("\r", "")):  # bare CRs, nothing else
                raise DataError(path, OLD_MAC, lineno)
            raise DataError(path, "control characters in the header (binary file?)", lineno)
        if text.startswith("##"):
            body = text[2:].strip()
            if body.startswith("Version:"):
                version_line = (lineno, body[len("Version:") :].strip())
        elif text.startswith("Time"):
            columns = [c.strip() for c in text.split("\t")]
            break
        else:
            what = "an SMI BeGaze export must start with '##' header lines" if lineno == 1 else "unrecognised header"
            got = f"expected '##...' or the 'Time' column-header line, got {text[:40]!r}"
            raise DataError(path, f"{what}: {got}", lineno)
        if end < 0 or not st.more():
            raise DataError(path, "file ends inside the header (no 'Time' column-header line)", lineno)
    if version_line is None:
        raise DataError(path, "unrecognised header: no '## Version:' line before the column header", lineno)
    vline, vtext = version_line
    m = _VERSION_RE.match(vtext)
    if m is None or m.group(1) != "3":
        raise DataError(path, f"unknown version {vtext!r} (expected an SMI 'BeGaze 3.x' export)", vline)
    return columns, lineno


def find_column(path: str, columns: list[str], names: tuple[str, ...], line: int) -> int:
    for name in names:
        if name in columns:
            return columns.index(name)
    raise DataError(path, f"unrecognised header: no column named {' or '.join(map(repr, names))}", line)
