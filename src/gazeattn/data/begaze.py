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

Reading (:func:`read_begaze_table`, which :func:`parse_begaze` calls): the file is read in blocks of whole lines
(:data:`CHUNK_BYTES`, 512 KiB) into one reused buffer, each block is checked and parsed by numpy, and its samples
are folded into per-frame accumulators in file order, so peak memory is the table, the accumulators (about 6x
the table in clean mode, 1x in official) and a few MB of buffer and block temporaries, whatever the file size
(a 1 GB file included). Results, errors included, do not depend on where the blocks end:

- the running averages (official) and float64 sums (clean) continue across blocks in file order, bit for bit;
- every check (bytes, line ends, column counts, then column by column: Type, Time, x, y, Frame, Event) reports
  the first bad line of the whole file, and the error raised is that of the earliest check that fails anywhere,
  as one pass over the whole file would find it; after an error, later blocks only run the earlier checks;
- a line longer than :data:`MAX_LINE_BYTES` (1 MiB; real lines are under 300 bytes) is an error, which is what
  bounds the buffer. A file with old Mac line ends (bare CRs) reads as one long line and is named as such.

A frame counter that goes backwards (a restarted recorder, exports glued together) logs one warning naming the
file and the first line where it does: its samples still go to their frame numbers, mixing the parts.
:func:`read_begaze_samples` keeps every sample (41 bytes each), for inspection and tests.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.errors import DataError

log = logging.getLogger(__name__)

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
CHUNK_BYTES = 1 << 19  # bytes read at a time (a block of whole lines is parsed at once)
MAX_LINE_BYTES = 1 << 20  # a longer line is an error: it bounds the read buffer

_X_COLUMNS = ("B POR X [px]", "L POR X [px]", "R POR X [px]")
_EVENT_COLUMNS = ("B Event Info", "L Event Info", "R Event Info")
_VERSION_RE = re.compile(r"^BeGaze\s+(\d+)\.(\d+)")
_TIMECODE_RE = re.compile(rb"^(\d+):(\d\d):(\d\d):(\d\d)$")

_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BYTES_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
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


def _open(path: str):
    """The file opened for reading, or DataError saying why it cannot be (missing, a folder, no permission)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except IsADirectoryError:
        raise DataError(path, "is a folder, not a gaze file (give the SMI BeGaze export <session>.txt)") from None
    except PermissionError:
        raise DataError(path, "cannot read the file: permission denied") from None
    except OSError as err:
        raise DataError(path, f"cannot read the file: {err.strerror or err}") from None


_OLD_MAC = "carriage returns without line feeds (old Mac line ends): re-save the file with LF or CRLF line ends"


def _line_too_long(path: str, line: int, start: bytes) -> DataError:
    """The error for a line over MAX_LINE_BYTES; ``start`` is its beginning. Text whose only control characters
    are tabs and carriage returns is a file with old Mac line ends (bare CRs), read as one long line."""
    if b"\r" in start and not _CONTROL_BYTES_RE.search(start.replace(b"\r", b"")):
        return DataError(path, _OLD_MAC, line)
    return DataError(path, f"line longer than {MAX_LINE_BYTES} bytes: not an SMI BeGaze export "
                           "(its lines are a few hundred bytes)", line)


class _Stream:
    """A file read in blocks of whole lines through one reused buffer, so memory does not grow with the file.

    Buffer layout: ``[_PAD | consumed | lo .. hi: bytes not handed out yet | free | _PAD]``. Each read appends
    up to ``chunk`` bytes (first moving the unconsumed bytes to the front); a block ends after the last line
    feed read so far, and the partial line after it waits for the next read. A line longer than
    :data:`MAX_LINE_BYTES` is an error, which bounds the buffer to ``MAX_LINE_BYTES + 2 * chunk`` bytes.
    The pads let 8-byte words be read around any field (:class:`_Block`); what they hold does not matter.
    """

    def __init__(self, path: str, fh, chunk: int):
        self.path, self.fh, self.chunk = path, fh, chunk
        self.max_size = _PAD + MAX_LINE_BYTES + 2 * chunk + _PAD
        try:  # a small file gets a small buffer (grown if the file turns out longer)
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            size = 0
        self._allocate(min(self.max_size, _PAD + max(size, 0) + 1 + _PAD))
        self.lo = self.hi = _PAD
        self.eof = False

    def _allocate(self, size: int) -> None:
        old = getattr(self, "buf", None)
        self.buf = bytearray(size)
        if old is not None:
            self.buf[: self.hi] = old[: self.hi]
        self.view = memoryview(self.buf)
        self.array = np.frombuffer(self.buf, dtype=np.uint8)
        self.words = np.ndarray((len(self.buf) - 7,), dtype=np.uint64, buffer=self.buf, strides=(1,))

    def read(self) -> bool:
        """Append up to ``chunk`` bytes; False (and nothing read) at the end of the file."""
        if self.eof:
            return False
        if self.lo > _PAD:  # move the bytes not handed out yet to the front (numpy copes with the overlap)
            n = self.hi - self.lo
            self.array[_PAD : _PAD + n] = self.array[self.lo : self.hi]
            self.lo, self.hi = _PAD, _PAD + n
        room = len(self.buf) - _PAD - self.hi
        if room <= 0 and len(self.buf) < self.max_size:  # a small file's buffer is full: it grew meanwhile
            self._allocate(min(self.max_size, max(2 * len(self.buf), self.hi + self.chunk + _PAD)))
            room = len(self.buf) - _PAD - self.hi
        got = self.fh.readinto(self.view[self.hi : self.hi + min(room, self.chunk)])
        if not got:
            self.eof = True
            return False
        self.hi += got
        return True

    def line_end(self, line: int) -> int:
        """Index of the line feed ending the line that starts at ``lo``, reading as needed; -1 at the end of the
        file (the line is ``lo .. hi``)."""
        searched = 0
        while True:
            end = self.buf.find(b"\n", self.lo + searched, self.hi)
            if end >= 0:
                if end - self.lo - (end > self.lo and self.buf[end - 1] == 13) > MAX_LINE_BYTES:  # CRLF: CR not counted
                    raise _line_too_long(self.path, line, self.head())
                return end
            if self.hi - self.lo > MAX_LINE_BYTES + 1:
                raise _line_too_long(self.path, line, self.head())
            searched = self.hi - self.lo
            if not self.read():
                if self.hi - self.lo > MAX_LINE_BYTES:
                    raise _line_too_long(self.path, line, self.head())
                return -1

    def head(self) -> bytes:
        """The first MAX_LINE_BYTES bytes after ``lo`` (the start of an over-long line)."""
        return bytes(self.view[self.lo : min(self.hi, self.lo + MAX_LINE_BYTES)])

    def more(self) -> bool:
        """Whether any byte is left after ``lo``."""
        return self.lo < self.hi or self.read()

    def next_block(self, line: int) -> tuple[int, int, bool]:
        """(start, end, final): the next run of whole lines, ``line`` being the number of the one at ``lo``.
        Non-final blocks end with a line feed; the final one holds everything left (maybe nothing)."""
        known = 0  # bytes after lo known to hold no line feed (a line longer than one read)
        while True:
            if not self.read():
                return self.lo, self.hi, True
            cut = self.buf.rfind(b"\n", self.lo + known, self.hi)
            if cut >= 0:
                return self.lo, cut + 1, False
            if self.hi - self.lo > MAX_LINE_BYTES + 1:  # (+1: the line may end with CRLF)
                raise _line_too_long(self.path, line, self.head())
            known = self.hi - self.lo


def _only_whitespace(fh) -> bool:
    """Whether the whole file is empty or whitespace (read again from the start, a block at a time)."""
    try:
        fh.seek(0)
        while block := fh.read(1 << 20):
            if not block.isspace():
                return False
    except OSError:
        return False
    return True


def _header(path: str, st: _Stream) -> tuple[list[str], int]:
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
        if lineno > _MAX_HEADER_LINES:
            raise DataError(path, f"no 'Time' column-header line in the first {_MAX_HEADER_LINES} lines", lineno)
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
                raise DataError(path, _OLD_MAC, lineno)
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


def _column(path: str, columns: list[str], names: tuple[str, ...], line: int) -> int:
    for name in names:
        if name in columns:
            return columns.index(name)
    raise DataError(path, f"unrecognised header: no column named {' or '.join(map(repr, names))}", line)


_PAD = 80  # bytes before and after the block in the read buffer, so 8-byte words may be read past its ends


class _Block:
    """A block of sample lines inside the read buffer (``array[base:]``) plus an unaligned uint64 view at every
    byte offset of that buffer: reading the 8 bytes that start at any position is one fancy index, so gathering
    n fields costs n word reads, not n*width byte reads. Bytes around a field are masked off, so whatever lies
    before or after the block (at least _PAD bytes) never shows."""

    def __init__(self, array: np.ndarray, words: np.ndarray, base: int):
        self.array, self.words, self.base = array, words, base

    def gather(self, s: np.ndarray, e: np.ndarray, *, right: bool = False) -> np.ndarray:
        """Fields ``b[s:e]`` as an (n, w) uint8 matrix, w a multiple of 8, zero padded (left-aligned unless right)."""
        return self.gather_words(s, e, right=right).view(np.uint8)  # bytes in memory order, any endianness

    def gather_words(self, s: np.ndarray, e: np.ndarray, *, right: bool = False, max_width: int = 1 << 30):
        """The same as (n, w/8) uint64 words; with ``max_width``, only the first (or last) max_width bytes."""
        lens = e - s
        k = max((min(int(lens.max()), max_width) + 7) // 8, 1)
        w = 8 * k
        first = (e - w if right else s) + self.base
        words = np.empty((s.size, k), dtype=np.uint64)
        for i in range(k):  # word i holds columns 8i..8i+7; keep the bytes of the field, by byte-mask table
            skip = w - 8 * i - 8 if right else 8 * i  # field bytes beyond this word (right) or before it
            keep = np.minimum(lens - skip if skip else lens, 8)  # field bytes in the word, clipped to 0..8
            if skip:
                np.maximum(keep, 0, out=keep)
            words[:, i] = self.words[first + 8 * i if i else first] & (_KEEP_LAST if right else _KEEP_FIRST)[keep]
        return words

    def word(self, s: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """First min(len, 8) bytes of each field packed in a uint64 (zero bytes after the field)."""
        return self.words[s + self.base] & _KEEP_FIRST[np.minimum(lens, 8)]

    def first_byte(self, s: np.ndarray) -> np.ndarray:
        return self.array[s + self.base]


# byte masks as native uint64: keep the first / last m bytes of a word, m = 0..8
_KEEP_FIRST = np.frombuffer(b"".join(b"\xff" * m + b"\0" * (8 - m) for m in range(9)), dtype=np.uint64)
_KEEP_LAST = np.frombuffer(b"".join(b"\0" * (8 - m) + b"\xff" * m for m in range(9)), dtype=np.uint64)

# SWAR (several bytes per uint64 operation) constants of _fast_decimal, for words whose first character is in
# the lowest byte (little-endian; big-endian words are byte-swapped first)
_LITTLE_ENDIAN = sys.byteorder == "little"
_LANE_SUM = np.uint64(0x0101010101010101)  # x * this: the sum of x's 8 bytes in the top byte (no carries)
_LANES_16, _LANES_32 = np.uint64(0x00FF00FF00FF00FF), np.uint64(0x0000FFFF0000FFFF)
_PAIRS, _QUADS, _OCTS = np.uint64(10 * 256 + 1), np.uint64(100 * 65536 + 1), np.uint64((10000 << 32) + 1)
# For a right-aligned field in k words, byte j of the constant for word i is the code of a dot at byte 7 - j of
# that word: 1 + the number of characters after the dot. (A word whose only 1-byte is byte m, times the
# constant, has byte 7 - m of the constant in its top byte.)
_DOT_CODE = {k: tuple(np.uint64(0x0807060504030201 + (8 * (k - 1 - i)) * 0x0101010101010101) for i in range(k))
             for k in (1, 2)}
# by dot code c (0: no dot, f = c - 1 digits after it): T mod 10^(f+1) (all of T without a dot) and 10^f; the
# codes above 16 (several dots) only come from rows that are not ok, whose values are thrown away
_FRACTION_MOD = np.array([10**18] + [10**c for c in range(1, 19)] + [1] * 493, dtype=np.int64)
_FRACTION_DIV = np.array([1.0] + [float(10 ** (c - 1)) for c in range(1, 19)] + [1.0] * 493)
# one-word fields, by dot code c (the dot in byte 8 - c): the bytes before the dot and those after it
_BEFORE_DOT = np.array([0] + [(1 << 8 * (8 - c)) - 1 for c in range(1, 9)] + [0] * 247, dtype=np.uint64)
_AFTER_DOT = np.array([(1 << 64) - 1] + [((1 << 64) - 1) ^ ((1 << 8 * (9 - c)) - 1) for c in range(1, 9)]
                      + [0] * 247, dtype=np.uint64)


def _pack(name: bytes) -> np.uint64:
    return np.frombuffer(name.ljust(8, b"\0"), dtype=np.uint64)[0]


def _as_bytes(mat: np.ndarray) -> np.ndarray:
    """(n, w) uint8 matrix -> (n,) fixed-width bytes array (numpy ignores NUL padding on the right)."""
    return np.ascontiguousarray(mat).view(f"S{mat.shape[1]}").ravel()


def _swar8(v: np.ndarray) -> np.ndarray:
    """uint64 words of 8 digit values (0..9 per byte, the most significant in the lowest byte, as text lies in a
    little-endian word) -> the 8-digit numbers: pairs, then quads, then the eight. Each step is one multiply
    that adds a lane to 10^j times its neighbour without carrying out of the lane, and a shift and mask."""
    v = (v * _PAIRS) >> np.uint64(8)  # low byte of each 16-bit lane: 10 b0 + b1
    v = ((v & _LANES_16) * _QUADS) >> np.uint64(16)  # low 16 bits of each 32-bit lane: 100 p0 + p1
    return ((v & _LANES_32) * _OCTS) >> np.uint64(32)  # 10000 q0 + q1


def _fast_decimal(words: np.ndarray, lens: np.ndarray, first: np.ndarray, integer: bool,
                  check_only: bool = False) -> tuple[np.ndarray | None, np.ndarray]:
    """Parse right-aligned ``-?digits[.digits]`` fields of at most 15 characters; (values, ok mask).

    ``words``: (n, k) uint64, k = 1 or 2, the last 8k bytes of each field (bytes before the field zero). The
    digits (the dot read as a 0 digit) form the integer T = sum_j d_j 10^(w-1-j) < 10^15, computed exactly
    8 digits at a time by SWAR arithmetic on the words. With f digits after the dot, the fraction part is
    A = T mod 10^(f+1) and the mantissa (T - A)/10 + A; value = mantissa / 10^f with both exact in float64, so
    the IEEE division is correctly rounded and equals Python's float() (the classic fast path). Other rows
    (exponents, NaN, spaces, longer fields) are not ok: their values are garbage, for the slow path to replace.
    ``check_only`` (integers): only the ok mask, values None.
    """
    n, k = words.shape
    if not _LITTLE_ENDIAN:  # the arithmetic below wants the first character in the lowest byte
        words = words.byteswap()
    mat = words.view(np.uint8)  # (n, 8k)
    d = mat - np.uint8(48)
    digit = d < 10
    d *= digit  # digit values, 0 for any other byte
    lanes = np.uint64(56)

    def per_row(m: np.ndarray) -> np.ndarray:  # bool (n, 8k) -> count per row
        # adding a row's words lane by lane cannot carry (lanes <= k), and multiplying by 0x0101..01 sums the
        # 8 lanes into the top byte (np.bitwise_count would need NumPy >= 2.0)
        m = m.view(np.uint64)
        total = m[:, 0] if k == 1 else m[:, 0] + m[:, 1]
        return ((total * _LANE_SUM) >> lanes).astype(np.intp)

    ndig = per_row(digit)
    minus = first == 45  # the field's first character
    if integer:
        ok = (ndig + minus == lens) & (ndig >= 1)
        if k == 2:  # a word holds 8 characters: only fields of two words may be too long
            ok &= lens <= 15
        if check_only:
            return None, ok
        v = _swar8(d.view(np.uint64))  # (n, k): 8 digits per word
        t = (v[:, 0] if k == 1 else v[:, 0] * np.uint64(10**8) + v[:, 1]).view(np.int64)
        return np.where(minus, -t, t), ok
    dot = mat == 46
    dots = per_row(dot)
    ok = (ndig + dots + minus == lens) & (ndig >= 1) & (dots <= 1) & (lens <= 15 if k == 2 else True)
    # f + 1 for a dot with f characters after it, 0 without one: a word whose only 1-byte is byte m, times a
    # constant whose byte 7 - m holds that number for byte m, has it in its top byte
    dot_w = dot.view(np.uint64)
    code = (dot_w[:, 0] * _DOT_CODE[k][0]) >> lanes
    if k == 1:  # the mantissa directly: the digits before the dot moved one byte right, over the dot's 0
        code = code.astype(np.intp)
        d_w = d.view(np.uint64)[:, 0]
        mant = _swar8((d_w & _AFTER_DOT[code]) | ((d_w & _BEFORE_DOT[code]) << np.uint64(8))).view(np.int64)
    else:  # T with the dot read as a 0 digit; mantissa = (T - A)/10 + A, A = the f digits after the dot
        code = (code + ((dot_w[:, 1] * _DOT_CODE[k][1]) >> lanes)).astype(np.intp)
        v = _swar8(d.view(np.uint64))
        t = (v[:, 0] * np.uint64(10**8) + v[:, 1]).view(np.int64)  # < 10^16
        low = t % _FRACTION_MOD[code]
        mant = (t - low) // 10 + low
    val = mant / _FRACTION_DIV[code]
    return np.where(minus, -val, val), ok  # "-0.00" gives -0.0 as float() does


def _first_bad(values: np.ndarray, convert) -> int:
    for i, v in enumerate(values):  # rare path: only after a bulk conversion failed
        try:
            convert(v)
        except (ValueError, OverflowError):
            return i
    raise AssertionError("bulk conversion failed but no element fails")  # pragma: no cover


def _to_number(path, block, s, e, lines, name, dtype, check_only: bool = False) -> np.ndarray | None:
    """Numbers of one column: the vectorised fast path, numpy's parser for the rest (NaN, exponents, spaces).
    ``check_only``: only raise for unparsable fields, return None (integers only)."""
    integer = dtype == np.int64
    lens = e - s
    words = block.gather_words(s, e, right=True, max_width=16)  # longer fields are not fast-path rows anyway
    out, ok = _fast_decimal(words, lens, block.first_byte(s), integer, check_only)
    if ok.all():
        return out
    slow = np.flatnonzero(~ok)
    values = _as_bytes(block.gather(s[slow], e[slow]))
    try:
        parsed = values.astype(dtype)
        if out is not None:
            out[slow] = parsed
    except (ValueError, OverflowError):
        i = _first_bad(values, lambda v: np.array([v]).astype(dtype))
        kind = "integer" if integer else "number"
        message = f"unparsable {kind} {values[i].decode()!r} in column {name!r}"
        raise DataError(path, message, int(lines[slow[i]])) from None
    return out


def _timecode_frames(values: np.ndarray) -> np.ndarray:
    """``HH:MM:SS:FF`` (stripped fixed-width bytes) -> session frame; -1 unparsable, -2 FF outside 0..23."""
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
    return frames


def _timecodes(path: str, block: _Block, s: np.ndarray, e: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The ``Frame`` column of v2 files: ``HH:MM:SS:FF`` -> session frame. Fields of exactly 11 bytes shaped
    ``dd:dd:dd:dd`` are read from their 8-byte words; the rest (spaces, other hour widths, garbage) as text."""
    frames = np.full(s.size, -3, dtype=np.int64)  # -3: not read yet
    fast = np.flatnonzero(e - s == 11)
    if fast.size:
        mat = block.gather_words(s[fast], e[fast], right=True).view(np.uint8)[:, 5:]  # (m, 11) the field
        ok = (mat[:, 2] == 58) & (mat[:, 5] == 58) & (mat[:, 8] == 58)  # ':'
        d = mat[:, [0, 1, 3, 4, 6, 7, 9, 10]] - np.uint8(48)
        ok &= (d < 10).all(axis=1)
        d = d.astype(np.int64)
        hh, mm, ss, ff = (d[:, 2 * k] * 10 + d[:, 2 * k + 1] for k in range(4))
        frame = np.where((mm < 60) & (ss < 60), np.where(ff < FPS, (hh * 3600 + mm * 60 + ss) * FPS + ff, -2), -1)
        frames[fast] = np.where(ok, frame, -3)
    slow = np.flatnonzero(frames == -3)
    if slow.size:
        frames[slow] = _timecode_frames(np.char.strip(_as_bytes(block.gather(s[slow], e[slow]))))
    if frames.min() < 0:
        i = int(np.flatnonzero(frames < 0)[0])
        tc = np.char.strip(_as_bytes(block.gather(s[i : i + 1], e[i : i + 1])))[0].decode()
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


# Checks of the sample lines, in the order a whole-file pass makes them. Every check finds the first bad line
# of the whole file, so the error reported is the first bad line of the earliest check that fails anywhere:
# the smallest (rank, line). Block by block that is the same: a block stops at its own smallest (rank, line),
# and later blocks only run the checks ranked before the best error found so far.
(_R_BYTES, _R_CR, _R_COLUMNS, _R_TYPE_WIDTH, _R_TYPE, _R_TIME_WIDTH, _R_TIME, _R_X_WIDTH, _R_X, _R_Y_WIDTH, _R_Y,
 _R_FRAME_WIDTH, _R_FRAME, _R_FRAME_RANGE, _R_EVENT_WIDTH, _R_EVENT) = range(1, 17)
_NO_ERROR = 1 << 30


class _Found(Exception):
    """A bad line found in a block: its check's rank, line number and message."""

    def __init__(self, rank: int, line: int, message: str):
        super().__init__(message)
        self.rank, self.line, self.message = rank, line, message


def _ranked(rank: int, fn, *args):
    """``fn(*args)``, its DataError re-raised as a _Found of ``rank``."""
    try:
        return fn(*args)
    except DataError as err:
        raise _Found(rank, err.line, err.reason) from None


class _Body:
    """The sample lines after the column header, fed block by block; keeps what crosses block boundaries."""

    def __init__(self, path: str, columns: list[str], header_line: int, need_time: bool = True):
        self.path, self.need_time = path, need_time
        i_time = _column(path, columns, ("Time",), header_line)
        self.i_type = columns.index("Type") if "Type" in columns else None
        i_x = _column(path, columns, _X_COLUMNS, header_line)
        i_y = _column(path, columns, (columns[i_x].replace(" X ", " Y "),), header_line)
        i_frame = _column(path, columns, ("Frame",), header_line)
        i_event = _column(path, columns, _EVENT_COLUMNS, header_line)
        if len(columns) < 2:
            raise DataError(path, "unrecognised header: the column header has a single column", header_line)
        self.columns, self.ncol = columns, len(columns)
        self.i_time, self.i_x, self.i_y, self.i_frame, self.i_event = i_time, i_x, i_y, i_frame, i_event
        self.first_line = header_line + 1
        self.line_no = header_line + 1  # number of the next line to be fed
        self.pending_empty: int | None = None  # first of the empty lines that ended the blocks so far
        self.has_samples = False  # some non-empty line was seen
        self.best: _Found | None = None
        self.stop = _NO_ERROR  # only checks ranked before this still matter
        self.version: int | None = None
        self.n_samples = 0
        self.last_frame: int | None = None
        self.backwards: tuple[int, int, int] | None = None  # (line, frame, previous frame) of the first step back

    def feed(self, array: np.ndarray, words: np.ndarray, lo: int, hi: int, final: bool):
        """Check and parse the lines in ``array[lo:hi]`` (whole lines, ending with LF unless final).
        Returns (time_us, x_px, y_px, frame, event, first_line) or None when the file has an error so far."""
        first = self.line_no
        b = array[lo:hi]
        nl = np.flatnonzero(b == 10)
        self.line_no += nl.size
        try:
            out = self._parse(b, _Block(array, words, lo), first, nl, final)
        except _Found as found:
            self.best, self.stop = found, found.rank
            return None
        return None if self.best is not None else out

    def _parse(self, b: np.ndarray, block: _Block, first_line: int, nl: np.ndarray, final: bool):
        path, stop, ncol = self.path, self.stop, self.ncol

        def line_of(pos: int) -> int:
            return first_line + int(np.searchsorted(nl, pos))

        # 0. lines: [starts, ends) without the LF; a line over MAX_LINE_BYTES is reported at once
        ends = nl if (b.size == 0 or b[-1] == 10) else np.append(nl, b.size)
        starts = np.concatenate(([0], nl + 1))[: ends.size]
        if ends.size and (ends - starts).max() > MAX_LINE_BYTES:  # (the CR of a CRLF does not count)
            lengths = ends - starts - ((ends > starts) & (b[np.maximum(ends - 1, 0)] == 13) & (ends < b.size))
            too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
            if too_long.size:
                i = int(too_long[0])
                raise _line_too_long(path, first_line + i, b[starts[i] : starts[i] + MAX_LINE_BYTES].tobytes())

        # 1. bytes: printable ASCII, tabs and line ends only; CR only as part of CRLF
        if stop <= _R_BYTES:
            return None
        tabs = np.flatnonzero(b == 9)
        n_cr = np.count_nonzero(b == 13)
        n_special = np.count_nonzero(b.view(np.int8) < 32) + np.count_nonzero(b == 127)  # bytes < 32 or >= 127
        if n_special != nl.size + tabs.size + n_cr:
            pos = int(np.flatnonzero(~_ALLOWED_LUT[b])[0])
            message = f"byte 0x{b[pos]:02x} in the samples: not ASCII text (binary or non-UTF-8 data)"
            raise _Found(_R_BYTES, line_of(pos), message)
        if stop <= _R_CR:
            return None
        if n_cr != np.count_nonzero(b[nl[nl > 0] - 1] == 13):
            cr = np.flatnonzero(b == 13)
            lone = cr[(cr + 1 >= b.size) | (b[np.minimum(cr + 1, b.size - 1)] != 10)]
            raise _Found(_R_CR, line_of(int(lone[0])), "carriage return not followed by a line feed")

        # 2. trailing empty lines are dropped at the end of the file; before a non-empty line they are errors
        ends = ends - ((ends > starts) & (b[np.maximum(ends - 1, 0)] == 13))
        if ends.size and ends[-1] > starts[-1]:  # the last line is not empty (the usual case)
            n = ends.size
        else:
            nonempty = np.flatnonzero(ends > starts)
            n = int(nonempty[-1]) + 1 if nonempty.size else 0
        if n == 0:
            if final:
                self.pending_empty = None
            elif ends.size and self.pending_empty is None:
                self.pending_empty = first_line
            return None
        self.has_samples = True
        pending = self.pending_empty
        self.pending_empty = first_line + n if (not final and n < ends.size) else None
        if stop <= _R_COLUMNS:
            return None
        if pending is not None:
            raise _Found(_R_COLUMNS, pending, f"expected {ncol} tab-separated columns as in the header, got 1")
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
            raise _Found(_R_COLUMNS, int(lines[i]), message)

        def span(j: int, name: str, rank: int) -> tuple[np.ndarray, np.ndarray]:
            s = starts if j == 0 else tabs[:, j - 1] + 1
            e = ends if j == ncol - 1 else tabs[:, j]
            if (e - s).max() > _MAX_FIELD_WIDTH:
                message = f"column {name!r}: field longer than {_MAX_FIELD_WIDTH} bytes"
                raise _Found(rank, int(lines[np.flatnonzero(e - s > _MAX_FIELD_WIDTH)[0]]), message)
            return s, e

        columns = self.columns
        if self.i_type is not None:
            if stop <= _R_TYPE_WIDTH:
                return None
            s, e = span(self.i_type, "Type", _R_TYPE_WIDTH)
            if stop <= _R_TYPE:
                return None
            smp = _names(block, s, e, {b"SMP": 1}, 2)
            if not (smp == 1).all():
                i = int(np.flatnonzero(smp != 1)[0])
                raise _Found(_R_TYPE, int(lines[i]), "unsupported sample type (only 'SMP' sample lines are supported)")
        if stop <= _R_TIME_WIDTH:
            return None
        s, e = span(self.i_time, "Time", _R_TIME_WIDTH)
        if stop <= _R_TIME:
            return None
        time_us = _ranked(_R_TIME, _to_number, path, block, s, e, lines, "Time", np.int64, not self.need_time)
        values = []
        for i_col, r_width, r_parse in ((self.i_x, _R_X_WIDTH, _R_X), (self.i_y, _R_Y_WIDTH, _R_Y)):
            if stop <= r_width:
                return None
            s, e = span(i_col, columns[i_col], r_width)
            if stop <= r_parse:
                return None
            values.append(_ranked(r_parse, _to_number, path, block, s, e, lines, columns[i_col], np.float64))
        x, y = values

        if stop <= _R_FRAME_WIDTH:
            return None
        s, e = span(self.i_frame, "Frame", _R_FRAME_WIDTH)
        if self.version is None:  # decided by the file's first sample line, which is this block's first line
            self.version = 2 if b":" in b[s[0] : e[0]].tobytes() else 1
        if stop <= _R_FRAME:
            return None
        if self.version == 2:
            frame = _ranked(_R_FRAME, _timecodes, path, block, s, e, lines)
        else:
            frame = _ranked(_R_FRAME, _to_number, path, block, s, e, lines, "Frame", np.int64)
        if stop <= _R_FRAME_RANGE:
            return None
        if frame.min() < 0 or frame.max() > MAX_FRAME:
            i = int(np.flatnonzero((frame < 0) | (frame > MAX_FRAME))[0])
            what = "negative frame" if frame[i] < 0 else f"frame beyond {MAX_FRAME} (10 h at {FPS} fps)"
            raise _Found(_R_FRAME_RANGE, int(lines[i]), f"{what} {frame[i]} in column 'Frame'")

        if stop <= _R_EVENT_WIDTH:
            return None
        s, e = span(self.i_event, columns[self.i_event], _R_EVENT_WIDTH)
        if stop <= _R_EVENT:
            return None
        event = _names(block, s, e, _EVENT_CODES, EVENT_UNKNOWN)
        empty = np.flatnonzero(event == 0)
        if empty.size:
            raise _Found(_R_EVENT, int(lines[empty[0]]), f"empty event in column {columns[self.i_event]!r}")

        # the frame counter should not go backwards (several samples per frame are normal)
        if self.backwards is None:
            prev = np.concatenate(([frame[0] if self.last_frame is None else self.last_frame], frame[:-1]))
            back = np.flatnonzero(frame < prev)
            if back.size:
                i = int(back[0])
                self.backwards = (int(lines[i]), int(frame[i]), int(prev[i]))
        self.last_frame = int(frame[-1])
        self.n_samples += n
        return time_us, x, y, frame, event, first_line

    def finish(self) -> None:
        """At the end of the file: raise the error found, or 'no samples'; warn about a backwards frame counter."""
        if self.best is not None:
            raise DataError(self.path, self.best.message, self.best.line)
        if not self.has_samples:
            raise DataError(self.path, "no samples after the column-header line", self.first_line)
        if self.backwards is not None:
            line, frame, prev = self.backwards
            log.warning("%s:%d: the frame counter goes backwards (frame %d after frame %d): restarted, or several "
                        "recordings in one file? Samples are combined by frame number, so samples of different "
                        "moments that share a frame number are averaged together", self.path, line, frame, prev)


def _scan(path: str | os.PathLike, chunk_bytes: int, sink, *, need_time: bool = True) -> _Body:
    """Read the file block by block, calling ``sink(time_us, x_px, y_px, frame, event, first_line)`` per block
    while no error is known; raises DataError for the first bad line (in the order of the checks). Without
    ``need_time`` the Time column is checked but not converted (``time_us`` None)."""
    path = str(path)
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    fh = _open(path)
    try:
        with fh:
            st = _Stream(path, fh, chunk_bytes)
            try:
                columns, header_line = _header(path, st)
            except DataError as err:
                if err.line == 1 and _only_whitespace(fh):
                    raise DataError(path, "empty file", 1) from None
                raise
            body = _Body(path, columns, header_line, need_time)
            while True:
                lo, hi, final = st.next_block(body.line_no)
                out = body.feed(st.array, st.words, lo, hi, final)
                if out is not None:
                    sink(*out)
                st.lo = hi
                if final:
                    break
    except OSError as err:  # a read failing half-way (I/O error, a file on a vanished mount)
        raise DataError(path, f"cannot read the file: {err.strerror or err}") from None
    body.finish()
    return body


# ------------------------------------------------------------------------------------------------ the tables


class _Frames:
    """Per-frame accumulators indexed by session frame, grown (doubling) to the largest frame seen."""

    def __init__(self) -> None:
        self.n_frames = 0  # largest frame seen + 1
        self.arrays: dict[str, np.ndarray] = {}

    def reserve(self, frames: np.ndarray, **spec) -> None:
        need = int(frames.max()) + 1
        self.n_frames = max(self.n_frames, need)
        cap = next(iter(self.arrays.values())).shape[0] if self.arrays else 0
        if need <= cap:
            return
        cap = max(need, 2 * cap, 1024)
        for name, (dtype, width) in spec.items():
            new = np.zeros((cap, width) if width else cap, dtype=dtype)
            if name in self.arrays:
                old = self.arrays[name]
                new[: old.shape[0]] = old
            self.arrays[name] = new


class _OfficialFrames(_Frames):
    """The official reader's running pairwise average, in float32, fed block by block (see the docstring)."""

    _SPEC = {"x": (np.float32, 0), "y": (np.float32, 0), "seen": (bool, 0), "kind": (np.uint8, 0)}

    def add(self, frame: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, event: np.ndarray) -> None:
        self.reserve(frame, **self._SPEC)
        a = self.arrays
        two = np.float32(2)
        # |px| > 3.4e38 becomes inf in float32 and inf + -inf NaN, as in the official reader: no warnings for them
        with np.errstate(over="ignore", invalid="ignore"):
            x = x_px.astype(np.float32)  # rounded to float32 first, as the official reader stores them
            y = y_px.astype(np.float32)
            if frame.size > 1 and (frame[1:] < frame[:-1]).any():
                order = np.argsort(frame, kind="stable")  # by frame, file order kept within a frame
                frame, x, y, event = frame[order], x[order], y[order], event[order]
            first = np.flatnonzero(np.concatenate(([True], frame[1:] != frame[:-1])))  # one group per frame
            count = np.diff(np.append(first, frame.size))
            f = frame[first]
            gx, gy = x[first], y[first]
            old = np.flatnonzero(a["seen"][f])  # frames that earlier blocks already have: continue their average
            if old.size:
                gx[old] = (a["x"][f[old]] + gx[old]) / two
                gy[old] = (a["y"][f[old]] + gy[old]) / two
            more, r = np.flatnonzero(count > 1), 1
            while more.size:  # running average, one pass per rank (2-3 in real files); float32 throughout
                idx = first[more] + r
                gx[more] = (gx[more] + x[idx]) / two
                gy[more] = (gy[more] + y[idx]) / two
                r += 1
                more = more[count[more] > r]
        a["x"][f], a["y"][f], a["seen"][f] = gx, gy, True
        a["kind"][f] = _EVENT_TO_TYPE[event[first + count - 1]]  # the type of the frame's last sample

    def table(self) -> np.ndarray:
        n, a = self.n_frames, self.arrays
        w, h = GAZE_RESOLUTION
        gx = np.minimum(np.maximum(a["x"][:n], np.float32(0)), np.float32(w - 1))  # clamp after averaging
        gy = np.minimum(np.maximum(a["y"][:n], np.float32(0)), np.float32(h - 1))  # (NaN stays NaN)
        gx[np.isnan(gx)] = 0
        gy[np.isnan(gy)] = 0
        table = np.empty((n, 3), dtype=np.float32)  # frames without a sample: x = y = 0, kind 0 -> (0, 0, 0)
        table[:, 0] = gx / np.float32(w)
        table[:, 1] = gy / np.float32(h)
        table[:, 2] = a["kind"][:n]
        return table


class _CleanFrames(_Frames):
    """Per-frame counts and float64 sums of the in-frame samples and of the valid out-of-frame ones, and type
    votes of the in-frame ones, fed block by block.

    A frame without in-frame samples is truncated with the mean of its valid samples, which are then all out of
    frame: so the valid out-of-frame sums are all that is needed besides the in-frame ones. The sums are added in
    file order, as one pass over the whole file would: each block's are accumulated by one np.bincount whose
    input starts with the running totals (0.0 + total is exact), so the result does not depend on the blocks."""

    _SPEC = {"n_in": (np.int64, 0), "sx_in": (np.float64, 0), "sy_in": (np.float64, 0), "n_out": (np.int64, 0),
             "sx_out": (np.float64, 0), "sy_out": (np.float64, 0), "votes": (np.int64, 3)}

    def add(self, frame: np.ndarray, x: np.ndarray, y: np.ndarray, event: np.ndarray) -> None:
        seen = self.n_frames  # frames >= this have no sums yet
        self.reserve(frame, **self._SPEC)
        w, h = GAZE_RESOLUTION
        with np.errstate(invalid="ignore"):  # comparisons with NaN are False: |x| < 1e6 rules out NaN and inf,
            valid = (np.abs(x) < CLEAN_MAX_ABS_PX) & (np.abs(y) < CLEAN_MAX_ABS_PX)  # and so does 0 <= x < w
            inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        lo, hi = int(frame.min()), int(frame.max()) + 1  # the frames this block touches
        rel = frame - lo
        old = max(0, min(hi, seen) - lo)
        rel_in = rel[inside]
        self._sum("in", rel_in, x[inside], y[inside], lo, hi, old)
        out = valid & ~inside
        if out.any():
            self._sum("out", rel[out], x[out], y[out], lo, hi, old)
        types = _EVENT_TO_TYPE[event[inside]].astype(np.int64)  # 1..3
        votes = np.bincount(rel_in * 3 + (types - 1), minlength=(hi - lo) * 3).reshape(hi - lo, 3)
        self.arrays["votes"][lo:hi] += votes

    def _sum(self, kind: str, rel: np.ndarray, x: np.ndarray, y: np.ndarray, lo: int, hi: int, old: int) -> None:
        """Add samples at frames lo + rel; frames lo .. lo + old - 1 may hold sums from earlier blocks."""
        if rel.size == 0:
            return
        a, m = self.arrays, hi - lo
        a["n_" + kind][lo:hi] += np.bincount(rel, minlength=m)
        idx = np.concatenate((np.arange(old), rel)) if old else rel
        for name, v in (("sx_" + kind, x), ("sy_" + kind, y)):
            weights = np.concatenate((a[name][lo : lo + old], v)) if old else v
            a[name][lo:hi] = np.bincount(idx, weights=weights, minlength=m)

    def table(self) -> np.ndarray:
        n, a = self.n_frames, self.arrays
        w, h = np.float32(GAZE_RESOLUTION[0]), np.float32(GAZE_RESOLUTION[1])
        n_in = a["n_in"][:n]
        has_in = n_in > 0
        table = np.empty((n, 3), dtype=np.float32)
        # the pixel mean rounded to float32, then divided as official does; no sample in frame: 0 / 1 = 0
        denom = np.maximum(n_in, 1)
        table[:, 0] = (a["sx_in"][:n] / denom).astype(np.float32) / w
        table[:, 1] = (a["sy_in"][:n] / denom).astype(np.float32) / h
        fix, sac, other = a["votes"][:n].T  # ties go to the less stable type
        majority = np.where((other >= sac) & (other >= fix), OTHER, np.where(sac >= fix, SACCADE, FIXATION))
        table[:, 2] = np.where(has_in, majority, UNTRACKED)
        trunc = np.flatnonzero(~has_in & (a["n_out"][:n] > 0))  # valid samples, none in frame: unclamped mean
        if trunc.size:
            n_out = a["n_out"][trunc]
            table[trunc, 0] = (a["sx_out"][trunc] / n_out).astype(np.float32) / w
            table[trunc, 1] = (a["sy_out"][trunc] / n_out).astype(np.float32) / h
            table[trunc, 2] = TRUNCATED
        return table


_TABLES = {"official": _OfficialFrames, "clean": _CleanFrames}


def official_table(samples: BegazeSamples) -> np.ndarray:
    """The official EGTEA reader's (n_frames, 3) float32 table, bit for bit (see the module docstring)."""
    frames = _OfficialFrames()
    frames.add(samples.frame, samples.x_px, samples.y_px, samples.event)
    return frames.table()


def clean_table(samples: BegazeSamples) -> np.ndarray:
    """Per-frame mean of valid in-frame samples, majority type, TRUNCATED for out-of-frame-only frames."""
    frames = _CleanFrames()
    frames.add(samples.frame, samples.x_px, samples.y_px, samples.event)
    return frames.table()


# ------------------------------------------------------------------------------------------------ public API


def read_begaze_samples(path: str | os.PathLike, *, chunk_bytes: int = CHUNK_BYTES) -> BegazeSamples:
    """Read every sample line of an SMI BeGaze export (v1 or v2) into arrays; DataError on any malformation.

    Memory grows with the number of samples (41 bytes each); :func:`read_begaze_table` does not keep them."""
    parts: list[tuple] = []
    body = _scan(path, chunk_bytes, lambda *block: parts.append(block))
    time_us, x, y, frame, event = (np.concatenate([p[i] for p in parts]) for i in range(5))
    lines = np.concatenate([np.arange(p[5], p[5] + p[0].size, dtype=np.int64) for p in parts])
    return BegazeSamples(path=str(path), version=body.version, time_us=time_us, x_px=x, y_px=y, frame=frame,
                         event=event, line=lines)


@dataclass(frozen=True, eq=False)
class BegazeTable:
    """A gaze file's per-frame table (see :func:`parse_begaze`) with what the file says about itself."""

    path: str
    version: int  # 1 (BeGaze 3.1, integer frame counter) or 2 (BeGaze 3.4, timecodes)
    compat: str
    n_samples: int
    table: np.ndarray  # float32 (max frame + 1, 3): x, y, type


def read_begaze_table(path: str | os.PathLike, *, compat: str = "clean",
                      chunk_bytes: int = CHUNK_BYTES) -> BegazeTable:
    """The per-frame table of a gaze file, read in blocks of ``chunk_bytes``: memory is the table, per-frame
    accumulators (about 6x the table in clean mode) and a buffer of about ``2 * chunk_bytes`` plus the
    temporaries of one block, whatever the file size. The result does not depend on ``chunk_bytes``."""
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
    frames = _TABLES[compat]()
    body = _scan(path, chunk_bytes, lambda t, x, y, frame, event, line: frames.add(frame, x, y, event),
                 need_time=False)
    return BegazeTable(path=str(path), version=body.version, compat=compat, n_samples=body.n_samples,
                       table=frames.table())


def parse_begaze(path: str | os.PathLike, *, compat: str = "clean", chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """Per-frame gaze table, float32 (max frame + 1, 3): x, y normalised by (1280, 960), type; row = frame.

    ``compat="official"`` equals the official EGTEA reader bit for bit; ``"clean"`` is the corrected table
    (module docstring lists every difference). The file is read in blocks (:func:`read_begaze_table`).
    """
    return read_begaze_table(path, compat=compat, chunk_bytes=chunk_bytes).table


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
