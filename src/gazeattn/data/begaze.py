"""SMI BeGaze gaze exports of EGTEA Gaze+: a vectorised reader and the per-frame gaze table.

File layout (CRLF text): header lines starting with ``##`` (33 in the real files, one of them
``## Version:\\tBeGaze 3.x``), then a column-header line starting with ``Time`` (line 34), then one tab-separated
line per 30 Hz sample (the first on line 35; the official reader skips exactly 34 lines).
The header is found by content, never by line number, and columns are located by their header names:

- v1 (BeGaze 3.1, the ``OP*`` sessions): ``Time Type Trial L POR X [px] L POR Y [px] Frame Aux1 L Event Info``;
  ``Frame`` is an integer session frame (24 fps).
- v2 (BeGaze 3.4, the ``P*`` sessions): 27 columns, the binocular ``B POR X [px]`` / ``B POR Y [px]`` are used
  (``L POR ...`` then ``R POR ...`` when there is no binocular column); ``Frame`` is a timecode
  ``HH:MM:SS:FF`` with FF in 0..23, frame = (3600 h + 60 m + s) * 24 + FF; x/y may be ``NaN``.

The version reported is decided by the ``Frame`` column: integer frame counter -> 1, timecode -> 2.
Coordinates are pixels of the 1280x960 scene video (:data:`GAZE_RESOLUTION`).

Sample event codes (:attr:`BegazeSamples.event`): :data:`EVENT_FIXATION` = 1 (``Fixation``),
:data:`EVENT_SACCADE` = 2 (``Saccade``), :data:`EVENT_BLINK` = 3 (``Blink``), :data:`EVENT_NONE` = 4 (``-``),
:data:`EVENT_UNKNOWN` = 5 (any other non-empty name).

The per-frame table (:func:`parse_begaze`) is float32 ``(n_frames, 3)``: x, y normalised by (1280, 960), and the
type: :data:`UNTRACKED` 0, :data:`FIXATION` 1, :data:`SACCADE` 2, :data:`OTHER` 3 (blink, ``-``, unknown event
names), :data:`TRUNCATED` 4 (clean mode only). Row index = session frame, ``n_frames = max frame + 1``.

``compat="official"`` reproduces the table of the official EGTEA reader bit for bit, quirks included:

1. x/y are parsed as float64 and stored as float32 before anything else.
2. Samples of one frame are combined in file order by a running pairwise average *in float32*:
   ``acc = float32(acc + float32(px)) / 2`` (the 2nd sample weighs 1/2, the 1st 1/4 when there are three, ...),
   so it is not the mean, and the float32 rounding of px and of every step matters for bit-exactness: the
   same average in float64 of the unrounded px (rounded once at the end, or the closed form
   ``s1/2^(n-1) + sum_k s_k/2^(n-k+1)``) differs on ~11 % of the frames of the fixture files.
3. The type is the type of the frame's *last* sample: Fixation 1, Saccade 2, anything else (Blink, ``-``,
   unknown names) 3.
4. Clamping happens after the averaging, on the averaged value: x to [0, 1279], y to [0, 959]; a NaN anywhere in
   a frame poisons the running average and the frame's x (or y) becomes 0. Then x / 1280, y / 960 in float32.
   The truncated type is never emitted, so a clamped point keeps its fixation/saccade type.
5. Frames without a sample are (0, 0, type 0).

``compat="clean"`` (the default) differs from official in exactly these ways:

- a sample is *valid* when x and y are both finite and ``|x|, |y| < 1e6`` px (larger magnitudes are tracker
  failure values and would overflow float32); invalid samples (e.g. the NaN of v2 blinks) contribute nothing;
- a valid sample is *in frame* when ``0 <= x < 1280`` and ``0 <= y < 960`` (official clamps at 1279 / 959);
- x, y = the arithmetic mean (float64 sums) of the frame's in-frame samples, not a running pairwise average;
  the pixel mean is rounded to float32 and divided by (1280, 960) in float32 exactly as official does, so the
  two modes agree bit for bit on every frame whose only sample is finite and inside [0, 1279] x [0, 959]
  (dividing the float64 mean instead would differ from official by 1 ulp on about half of those frames);
- type = the majority type among the in-frame samples (Fixation 1, Saccade 2, Blink / ``-`` / unknown 3);
  ties go to the *less* stable type: OTHER beats SACCADE beats FIXATION, so a frame is a fixation frame only
  when fixation samples are a strict plurality (e.g. one fixation and one saccade sample -> saccade);
- a frame with valid samples none of which is in frame is :data:`TRUNCATED` (4), with the unclamped normalised
  mean of its valid samples (may lie outside [0, 1]); official clamps it and keeps the event type;
- a frame whose samples are all invalid (NaN) is :data:`UNTRACKED` (0) at (0, 0); official gives (0, 0) too but
  with the event type (often 3), and a frame mixing NaN and finite samples keeps the finite mean instead of 0;
- unknown event names map to OTHER (3), as in official.

Both modes raise :class:`gazeattn.errors.DataError` naming the file and 1-based line for every malformed input.
Differences from the official reader on inputs it would not read: columns are split on tabs (not on any
whitespace), so a non-empty ``Aux1`` column is accepted; fields may carry surrounding spaces; trailing empty
lines are ignored; negative frames and frames beyond :data:`MAX_FRAME` are errors (official would index the
array from the end or crash).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.errors import DataError

UNTRACKED, FIXATION, SACCADE, OTHER, TRUNCATED = 0, 1, 2, 3, 4
TYPE_NAMES = ("untracked", "fixation", "saccade", "other", "truncated")
GAZE_RESOLUTION = (1280, 960)  # (width, height) of the gaze pixel coordinates
FPS = 24

EVENT_FIXATION, EVENT_SACCADE, EVENT_BLINK, EVENT_NONE, EVENT_UNKNOWN = 1, 2, 3, 4, 5
_EVENT_CODES = {b"Fixation": EVENT_FIXATION, b"Saccade": EVENT_SACCADE, b"Blink": EVENT_BLINK, b"-": EVENT_NONE}
# event code -> table type (index = event code); 0 unused
_EVENT_TO_TYPE = np.array([OTHER, FIXATION, SACCADE, OTHER, OTHER, OTHER], dtype=np.uint8)

COMPAT_MODES = ("clean", "official")
MAX_FRAME = FPS * 3600 * 10  # 10 h of video: a larger frame number is garbage (and would allocate a huge table)
CLEAN_MAX_ABS_PX = 1e6
_MAX_HEADER_LINES = 1000
_MAX_FIELD_WIDTH = 64

_X_COLUMNS = ("B POR X [px]", "L POR X [px]", "R POR X [px]")
_EVENT_COLUMNS = ("B Event Info", "L Event Info", "R Event Info")
_VERSION_RE = re.compile(r"^BeGaze\s+(\d+)\.(\d+)")
_TIMECODE_RE = re.compile(rb"^(\d+):(\d\d):(\d\d):(\d\d)$")

_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_WIDE_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"#\x00#\x00", b"\x00#\x00#", b"#\x00\x00\x00",
                b"\x00\x00\x00#")  # UTF-16/32 byte-order marks, and '##' in UTF-16/32 without one
_ALLOWED_BYTES = bytes(range(32, 127)) + b"\t\r\n"
_ALLOWED_LUT = np.zeros(256, dtype=bool)
_ALLOWED_LUT[np.frombuffer(_ALLOWED_BYTES, dtype=np.uint8)] = True


@dataclass(frozen=True, eq=False)
class BegazeSamples:
    """Raw per-sample arrays of one BeGaze export, one entry per data line, in file order."""

    path: str
    version: int  # 1 (BeGaze 3.1, integer frame counter) or 2 (BeGaze 3.4, timecodes)
    time_us: np.ndarray  # int64, tracker time stamp in microseconds
    x_px: np.ndarray  # float64, gaze x in pixels of 1280x960; NaN allowed
    y_px: np.ndarray  # float64, gaze y in pixels
    frame: np.ndarray  # int64, session frame at 24 fps, >= 0
    event: np.ndarray  # uint8, EVENT_* codes: 1 Fixation, 2 Saccade, 3 Blink, 4 '-', 5 unknown name
    line: np.ndarray  # int64, 1-based line number of each sample in the file

    def __len__(self) -> int:
        return int(self.time_us.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.frame.max()) + 1


# --------------------------------------------------------------------------------------------------- reading


def _header(path: str, data: bytes) -> tuple[int, list[str], int]:
    """Walk the ``##`` lines to the ``Time`` line: (offset of the first data line, column names, its line no)."""
    if data.startswith(_WIDE_STARTS):  # a BOM, or '##' with zero bytes between: re-saved by an editor
        raise DataError(path, "UTF-16 or UTF-32 text, not the ASCII of an SMI BeGaze export "
                              "(re-save it as ASCII or UTF-8)", 1)
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    version_line = None
    lineno = 0
    while True:
        lineno += 1
        if lineno > _MAX_HEADER_LINES:
            raise DataError(path, f"no 'Time' column-header line in the first {_MAX_HEADER_LINES} lines", lineno)
        end = data.find(b"\n", pos)
        nxt = len(data) + 1 if end < 0 else end + 1
        raw = data[pos : len(data) if end < 0 else end]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(path, f"not UTF-8 text (binary file?): {err.reason} at byte {err.start}", lineno) from None
        if _CONTROL_RE.search(text):
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
        if nxt >= len(data):
            raise DataError(path, "file ends inside the header (no 'Time' column-header line)", lineno)
        pos = nxt
    if version_line is None:
        raise DataError(path, "unrecognised header: no '## Version:' line before the column header", lineno)
    vline, vtext = version_line
    m = _VERSION_RE.match(vtext)
    if m is None or m.group(1) != "3":
        raise DataError(path, f"unknown version {vtext!r} (expected an SMI 'BeGaze 3.x' export)", vline)
    return nxt, columns, lineno


def _column(path: str, columns: list[str], names: tuple[str, ...], line: int) -> int:
    for name in names:
        if name in columns:
            return columns.index(name)
    raise DataError(path, f"unrecognised header: no column named {' or '.join(map(repr, names))}", line)


_PAD = 80  # zero bytes around the sample block, so 8-byte words may be read past either end of it
_POW10 = np.array([float(10**k) for k in range(23)])  # exact in float64
_POW10_INT = np.array([10**k for k in range(19)], dtype=np.int64)


class _Block:
    """The sample block as bytes plus an unaligned uint64 view at every byte offset: reading the 8 bytes that
    start at any position is one fancy index, so gathering n fields costs n word reads, not n*width byte reads."""

    def __init__(self, b: np.ndarray):
        self.padded = np.concatenate([np.zeros(_PAD, np.uint8), b, np.zeros(_PAD, np.uint8)])
        self.words = np.ndarray((self.padded.size - 7,), dtype=np.uint64, buffer=self.padded, strides=(1,))

    def gather(self, s: np.ndarray, e: np.ndarray, *, right: bool = False) -> np.ndarray:
        """Fields ``b[s:e]`` as an (n, w) uint8 matrix, w a multiple of 8, zero padded (left-aligned unless right)."""
        lens = e - s
        k = max((int(lens.max()) + 7) // 8, 1)
        w = 8 * k
        first = (e - w if right else s) + _PAD
        words = np.empty((s.size, k), dtype=np.uint64)
        for i in range(k):  # word i holds columns 8i..8i+7; keep the bytes of the field, by byte-mask table
            if right:
                words[:, i] = self.words[first + 8 * i] & _KEEP_LAST[np.clip(lens - (w - 8 * i - 8), 0, 8)]
            else:
                words[:, i] = self.words[first + 8 * i] & _KEEP_FIRST[np.clip(lens - 8 * i, 0, 8)]
        return words.view(np.uint8)  # (n, w): bytes in memory order, whatever the machine's endianness

    def word(self, s: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """First min(len, 8) bytes of each field packed in a uint64 (zero bytes after the field)."""
        return self.words[s + _PAD] & _KEEP_FIRST[np.minimum(lens, 8)]


# byte masks as native uint64: keep the first / last m bytes of a word, m = 0..8
_KEEP_FIRST = np.frombuffer(b"".join(b"\xff" * m + b"\0" * (8 - m) for m in range(9)), dtype=np.uint64)
_KEEP_LAST = np.frombuffer(b"".join(b"\0" * (8 - m) + b"\xff" * m for m in range(9)), dtype=np.uint64)


def _pack(name: bytes) -> np.uint64:
    return np.frombuffer(name.ljust(8, b"\0"), dtype=np.uint64)[0]


def _as_bytes(mat: np.ndarray) -> np.ndarray:
    """(n, w) uint8 matrix -> (n,) fixed-width bytes array (numpy ignores NUL padding on the right)."""
    return np.ascontiguousarray(mat).view(f"S{mat.shape[1]}").ravel()


def _fast_decimal(mat: np.ndarray, lens: np.ndarray, first: np.ndarray, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse right-aligned ``-?digits[.digits]`` fields of at most 15 characters; (values, ok mask).

    The digits (the dot read as a 0 digit) are summed with fixed place values by one matrix-vector product:
    T = sum_j d_j 10^(w-1-j), exact in float64 below 10^15. With f digits after the dot, the fraction part is
    A = T mod 10^(f+1) and the mantissa (T - A)/10 + A; value = mantissa / 10^f with both exact, so the IEEE
    division is correctly rounded and equals Python's float() (the classic fast path). Other rows -> slow path.
    """
    n, w = mat.shape
    d = mat - np.uint8(48)
    digit = d < 10
    dot = mat == 46

    def per_row(m: np.ndarray) -> np.ndarray:  # count of True per row: popcount of its 8-byte words
        c = np.bitwise_count(m.view(np.uint64))  # (n, w/8) uint8
        total = c[:, 0].astype(np.int64)
        for i in range(1, c.shape[1]):  # column adds: much faster than a reduction over a short axis
            total += c[:, i]
        return total

    ndig = per_row(digit)
    ndot = per_row(dot)
    minus = first == 45  # the field's first character
    ok = (ndig + ndot + minus == lens) & (ndig >= 1) & (lens <= 15) & (ndot <= (0 if integer else 1))
    place = np.zeros(w)
    m = min(w, 16)  # rows of at most 15 characters lie in the last 16 columns
    place[w - m :] = _POW10[m - 1 :: -1]
    d *= digit
    total = place @ d.astype(np.float64).T  # (n,)
    ok &= total < 1e15
    t = np.where(ok, total, 0).astype(np.int64)
    if integer:
        return np.where(minus, -t, t), ok
    frac = np.where(ndot == 1, (w - 1) - np.argmax(dot, axis=1), 0)
    low = t % _POW10_INT[np.minimum(frac + 1, 18)]
    mant = np.where(ndot == 1, (t - low) // 10 + low, t)
    val = mant / _POW10[frac]
    return np.where(minus, -val, val), ok  # "-0.00" gives -0.0 as float() does


def _first_bad(values: np.ndarray, convert) -> int:
    for i, v in enumerate(values):  # rare path: only after a bulk conversion failed
        try:
            convert(v)
        except (ValueError, OverflowError):
            return i
    raise AssertionError("bulk conversion failed but no element fails")  # pragma: no cover


def _to_number(path, block, s, e, lines, name, dtype) -> np.ndarray:
    """Numbers of one column: the vectorised fast path, numpy's parser for the rest (NaN, exponents, spaces)."""
    integer = dtype == np.int64
    mat = block.gather(s, e, right=True)
    out, ok = _fast_decimal(mat, e - s, block.padded[s + _PAD], integer)
    if ok.all():
        return out
    slow = np.flatnonzero(~ok)
    values = _as_bytes(block.gather(s[slow], e[slow]))
    try:
        out[slow] = values.astype(dtype)
    except (ValueError, OverflowError):
        i = _first_bad(values, lambda v: np.array([v]).astype(dtype))
        kind = "integer" if integer else "number"
        message = f"unparsable {kind} {values[i].decode()!r} in column {name!r}"
        raise DataError(path, message, int(lines[slow[i]])) from None
    return out


def _timecodes(path: str, values: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """``HH:MM:SS:FF`` (stripped fixed-width bytes) -> session frame, vectorised for the 11-character form."""
    n = values.shape[0]
    frames = np.empty(n, dtype=np.int64)
    lens = np.char.str_len(values)
    std = lens == 11
    if std.any():
        raw = values[std].astype("S11").view(np.uint8).reshape(-1, 11).astype(np.int64)
        colons = (raw[:, [2, 5, 8]] == ord(":")).all(1)
        digits = raw[:, [0, 1, 3, 4, 6, 7, 9, 10]] - ord("0")
        ok = colons & ((digits >= 0) & (digits <= 9)).all(1)
        d = np.where(ok[:, None], digits, 0)
        hh, mm, ss, ff = (d[:, 2 * k] * 10 + d[:, 2 * k + 1] for k in range(4))
        ok &= (mm < 60) & (ss < 60)
        sub = np.full(int(std.sum()), -1, dtype=np.int64)
        sub[ok] = ((hh * 3600 + mm * 60 + ss) * FPS + ff)[ok]
        sub[ok & (ff >= FPS)] = -2
        frames[std] = sub
    for i in np.flatnonzero(~std):  # rare: hours with other than two digits, or garbage
        m = _TIMECODE_RE.match(values[i].strip())
        if m is None:
            frames[i] = -1
            continue
        h, mi, s, f = (int(g) for g in m.groups())
        if mi >= 60 or s >= 60 or h > 99999:
            frames[i] = -1
        else:
            frames[i] = -2 if f >= FPS else (h * 3600 + mi * 60 + s) * FPS + f
    bad = np.flatnonzero(frames < 0)
    if bad.size:
        i = bad[0]
        tc = values[i].decode()
        if frames[i] == -2:
            raise DataError(path, f"timecode {tc!r}: frame field FF outside 0..{FPS - 1}", int(lines[i]))
        raise DataError(path, f"unparsable timecode {tc!r} in column 'Frame' (expected HH:MM:SS:FF)", int(lines[i]))
    return frames


def _names(block: _Block, s: np.ndarray, e: np.ndarray, table: dict[bytes, int], default: int) -> np.ndarray:
    """Map short names (events, sample types) to codes by comparing packed 8-byte words; spaces stripped."""
    lens = e - s
    w = block.word(s, lens)
    codes = np.full(s.size, default, dtype=np.uint8)
    for name, code in table.items():
        codes[(w == _pack(name)) & (lens == len(name))] = code
    odd = np.flatnonzero(codes == default)
    if odd.size:  # rare: unknown names, surrounding spaces, empty fields
        stripped = np.char.strip(_as_bytes(block.gather(s[odd], e[odd])))
        for name, code in table.items():
            codes[odd[stripped == name]] = code
        codes[odd[stripped == b""]] = 0
    return codes


def read_begaze_samples(path: str | os.PathLike) -> BegazeSamples:
    """Read every sample line of an SMI BeGaze export (v1 or v2) into arrays; DataError on any malformation."""
    path = str(path)
    data = Path(path).read_bytes()
    if not data or data.isspace():
        raise DataError(path, "empty file", 1)
    body_off, columns, header_line = _header(path, data)
    ncol = len(columns)
    i_time = _column(path, columns, ("Time",), header_line)
    i_type = columns.index("Type") if "Type" in columns else None
    i_x = _column(path, columns, _X_COLUMNS, header_line)
    i_y = _column(path, columns, (columns[i_x].replace(" X ", " Y "),), header_line)
    i_frame = _column(path, columns, ("Frame",), header_line)
    i_event = _column(path, columns, _EVENT_COLUMNS, header_line)
    if ncol < 2:
        raise DataError(path, "unrecognised header: the column header has a single column", header_line)

    b = np.frombuffer(data, dtype=np.uint8)[min(body_off, len(data)) :]
    first_line = header_line + 1

    def line_of(pos: int) -> int:
        return first_line + int(np.count_nonzero(b[:pos] == 10))

    # 1. bytes: printable ASCII, tabs and line ends only; CR only as part of CRLF
    nl = np.flatnonzero(b == 10)
    tabs = np.flatnonzero(b == 9)
    n_cr = np.count_nonzero(b == 13)
    n_special = np.count_nonzero(b.view(np.int8) < 32) + np.count_nonzero(b == 127)  # bytes < 32 or >= 127
    if n_special != nl.size + tabs.size + n_cr:
        pos = int(np.flatnonzero(~_ALLOWED_LUT[b])[0])
        message = f"byte 0x{b[pos]:02x} in the samples: not ASCII text (binary or non-UTF-8 data)"
        raise DataError(path, message, line_of(pos))
    if n_cr != np.count_nonzero(b[nl[nl > 0] - 1] == 13):
        cr = np.flatnonzero(b == 13)
        lone = cr[(cr + 1 >= b.size) | (b[np.minimum(cr + 1, b.size - 1)] != 10)]
        raise DataError(path, "carriage return not followed by a line feed", line_of(int(lone[0])))

    # 2. lines: [starts, ends) without the CRLF; trailing empty lines dropped
    ends = nl if (b.size == 0 or b[-1] == 10) else np.append(nl, b.size)
    starts = np.concatenate(([0], nl + 1))[: ends.size]
    ends = ends - ((ends > starts) & (b[np.maximum(ends - 1, 0)] == 13))
    nonempty = np.flatnonzero(ends > starts)
    n = int(nonempty[-1]) + 1 if nonempty.size else 0
    if n == 0:
        raise DataError(path, "no samples after the column-header line", first_line)
    starts, ends = starts[:n], ends[:n]
    lines = np.arange(first_line, first_line + n, dtype=np.int64)

    # 3. fields: every line must have exactly the header's number of tab-separated columns. With n*k tabs in
    # all and row i's k tabs all inside line i, every line has exactly k (tabs are sorted).
    k = ncol - 1
    fits = tabs.size == n * k
    if fits:
        tabs = tabs.reshape(n, k)
        fits = bool(np.all(tabs[:, 0] >= starts) & np.all(tabs[:, -1] < ends))
    if not fits:
        tabs = tabs.ravel()
        counts = np.searchsorted(tabs, ends) - np.searchsorted(tabs, starts)
        i = int(np.flatnonzero(counts != k)[0])
        message = f"expected {ncol} tab-separated columns as in the header, got {counts[i] + 1}"
        raise DataError(path, message, int(lines[i]))

    def span(j: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        s = starts if j == 0 else tabs[:, j - 1] + 1
        e = ends if j == ncol - 1 else tabs[:, j]
        too_long = np.flatnonzero(e - s > _MAX_FIELD_WIDTH)
        if too_long.size:
            message = f"column {name!r}: field longer than {_MAX_FIELD_WIDTH} bytes"
            raise DataError(path, message, int(lines[too_long[0]]))
        return s, e

    block = _Block(b)
    if i_type is not None:
        smp = _names(block, *span(i_type, "Type"), {b"SMP": 1}, 2)
        if not (smp == 1).all():
            i = int(np.flatnonzero(smp != 1)[0])
            raise DataError(path, "unsupported sample type (only 'SMP' sample lines are supported)", int(lines[i]))
    time_us = _to_number(path, block, *span(i_time, "Time"), lines, "Time", np.int64)
    x = _to_number(path, block, *span(i_x, columns[i_x]), lines, columns[i_x], np.float64)
    y = _to_number(path, block, *span(i_y, columns[i_y]), lines, columns[i_y], np.float64)

    s, e = span(i_frame, "Frame")
    version = 2 if b":" in data[body_off + s[0] : body_off + e[0]] else 1
    if version == 2:
        frame = _timecodes(path, np.char.strip(_as_bytes(block.gather(s, e))), lines)
    else:
        frame = _to_number(path, block, s, e, lines, "Frame", np.int64)
    bad = np.flatnonzero((frame < 0) | (frame > MAX_FRAME))
    if bad.size:
        i = int(bad[0])
        what = "negative frame" if frame[i] < 0 else f"frame beyond {MAX_FRAME} (10 h at {FPS} fps)"
        raise DataError(path, f"{what} {frame[i]} in column 'Frame'", int(lines[i]))

    event = _names(block, *span(i_event, columns[i_event]), _EVENT_CODES, EVENT_UNKNOWN)
    empty = np.flatnonzero(event == 0)
    if empty.size:
        raise DataError(path, f"empty event in column {columns[i_event]!r}", int(lines[empty[0]]))

    return BegazeSamples(
        path=path, version=version, time_us=time_us, x_px=x, y_px=y, frame=frame, event=event, line=lines
    )


# ------------------------------------------------------------------------------------------------ the tables


def official_table(samples: BegazeSamples) -> np.ndarray:
    """The official EGTEA reader's (n_frames, 3) float32 table, bit for bit (see the module docstring)."""
    order = np.argsort(samples.frame, kind="stable")  # by frame, file order kept within a frame
    f_sorted = samples.frame[order]
    n = f_sorted.size
    starts = np.flatnonzero(np.concatenate(([True], f_sorted[1:] != f_sorted[:-1])))  # one group per frame
    counts = np.diff(np.append(starts, n))
    # |px| > 3.4e38 becomes inf in float32 and inf + -inf NaN, as in the official reader: no warnings for them
    with np.errstate(over="ignore", invalid="ignore"):
        x = samples.x_px.astype(np.float32)[order]  # rounded to float32 first, as the official reader stores them
        y = samples.y_px.astype(np.float32)[order]
        by_count = np.argsort(-counts, kind="stable")  # groups with the most samples first
        g_start, g_count = starts[by_count], counts[by_count]
        gx, gy = x[g_start], y[g_start]
        half = np.float32(2)
        for r in range(1, int(g_count[0])):  # running pairwise average, one pass per rank (2-3 in real files)
            m = int(np.searchsorted(-g_count, -r, side="left"))  # the groups with more than r samples: a prefix
            idx = g_start[:m] + r
            gx[:m] = (gx[:m] + x[idx]) / half  # float32 throughout, like the reader's float32 array
            gy[:m] = (gy[:m] + y[idx]) / half
    w, h = GAZE_RESOLUTION
    gx = np.minimum(np.maximum(gx, np.float32(0)), np.float32(w - 1))  # clamp after averaging; NaN stays NaN
    gy = np.minimum(np.maximum(gy, np.float32(0)), np.float32(h - 1))
    gx[np.isnan(gx)] = 0
    gy[np.isnan(gy)] = 0
    frames = f_sorted[g_start]
    table = np.zeros((samples.n_frames, 3), dtype=np.float32)
    table[frames, 0] = gx / np.float32(w)
    table[frames, 1] = gy / np.float32(h)
    table[frames, 2] = _EVENT_TO_TYPE[samples.event[order[g_start + g_count - 1]]]  # type of the last sample
    return table


def clean_table(samples: BegazeSamples) -> np.ndarray:
    """Per-frame mean of valid in-frame samples, majority type, TRUNCATED for out-of-frame-only frames."""
    n_frames = samples.n_frames
    x, y, frame = samples.x_px, samples.y_px, samples.frame
    w, h = GAZE_RESOLUTION
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(x) & np.isfinite(y) & (np.abs(x) < CLEAN_MAX_ABS_PX) & (np.abs(y) < CLEAN_MAX_ABS_PX)
        inside = valid & (x >= 0) & (x < w) & (y >= 0) & (y < h)

    def mean(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cnt = np.bincount(frame[mask], minlength=n_frames)
        sx = np.bincount(frame[mask], weights=x[mask], minlength=n_frames)
        sy = np.bincount(frame[mask], weights=y[mask], minlength=n_frames)
        denom = np.maximum(cnt, 1)
        mean_px = np.stack([sx / denom, sy / denom], axis=1).astype(np.float32)  # (n_frames, 2)
        return cnt, mean_px / np.array(GAZE_RESOLUTION, dtype=np.float32)  # same rounding as official

    n_in, xy_in = mean(inside)
    n_valid, xy_valid = mean(valid)
    table = np.zeros((n_frames, 3), dtype=np.float32)
    has_in = n_in > 0
    trunc = ~has_in & (n_valid > 0)
    table[has_in, :2] = xy_in[has_in]
    table[trunc, :2] = xy_valid[trunc]
    types = _EVENT_TO_TYPE[samples.event[inside]].astype(np.int64)  # 1..3
    votes = np.bincount(frame[inside] * 3 + (types - 1), minlength=n_frames * 3).reshape(n_frames, 3)
    majority = 3 - np.argmax(votes[:, ::-1], axis=1)  # columns other, saccade, fixation: ties to the first
    table[has_in, 2] = majority[has_in]
    table[trunc, 2] = TRUNCATED
    return table


def parse_begaze(path: str | os.PathLike, *, compat: str = "clean") -> np.ndarray:
    """Per-frame gaze table, float32 (max frame + 1, 3): x, y normalised by (1280, 960), type; row = frame.

    ``compat="official"`` equals the official EGTEA reader bit for bit; ``"clean"`` is the corrected table
    (module docstring lists every difference).
    """
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
    samples = read_begaze_samples(path)
    return official_table(samples) if compat == "official" else clean_table(samples)


def find_gaze_file(gaze_dir: str | os.PathLike, session: str) -> Path | None:
    """``<session>.txt`` or ``<session><sep>*.txt`` (e.g. ``P10-R02-TurkeySandwich-GazeData.txt``) in gaze_dir.

    The character after the session name must not be a letter or digit, so ``P1-R01-X`` never matches
    ``P1-R01-Xyz.txt``. Returns None when there is none; DataError when several files match or the folder is missing.
    """
    folder = Path(gaze_dir)
    if not folder.is_dir():
        raise DataError(folder, "gaze folder not found")
    hits = []
    for p in folder.iterdir():
        name = p.name
        if not (name.endswith(".txt") and name.startswith(session) and p.is_file()):
            continue
        rest = name[len(session) : -len(".txt")]
        if rest == "" or not rest[0].isalnum():
            hits.append(p)
    if len(hits) > 1:
        names = ", ".join(sorted(p.name for p in hits))
        raise DataError(folder, f"several gaze files for session {session!r}: {names}")
    return hits[0] if hits else None
