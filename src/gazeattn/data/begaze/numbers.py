"""The byte-level parser of the sample columns: numbers, timecodes and names read straight from the bytes of a
block of lines with numpy, several bytes per operation (SWAR), so that a 1 GB file parses at hundreds of MB/s.

A field is located by its [start, end) byte offsets in the block; :class:`Block` gathers fields as 8-byte words.
Fields the fast paths cannot read (exponents, NaN, spaces, long fields) go through numpy's own parser; a field
nothing can read is a :class:`~gazeattn.utils.errors.DataError` naming the column and the 1-based line.
"""

from __future__ import annotations

import re
import sys

import numpy as np

from gazeattn.data.begaze.format import FPS
from gazeattn.utils.errors import DataError

_TIMECODE_RE = re.compile(rb"^(\d+):(\d\d):(\d\d):(\d\d)$")


class Block:
    """A block of sample lines inside the read buffer (``array[base:]``) plus an unaligned uint64 view at every
    byte offset of that buffer: reading the 8 bytes that start at any position is one fancy index, so gathering
    n fields costs n word reads, not n*width byte reads. Bytes around a field are masked off, so whatever lies
    before or after the block (the read buffer's pads, at least 8 bytes) never shows."""

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


def to_number(path, block, s, e, lines, name, dtype, check_only: bool = False) -> np.ndarray | None:
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


def timecodes(path: str, block: Block, s: np.ndarray, e: np.ndarray, lines: np.ndarray) -> np.ndarray:
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


def names_to_codes(block: Block, s: np.ndarray, e: np.ndarray, table: dict[bytes, int], default: int) -> np.ndarray:
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
