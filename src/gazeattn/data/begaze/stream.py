"""A gaze file read in blocks of whole lines through one reused buffer (:class:`Stream`), so memory does not grow
with the file; and opening it with one-line errors (missing, a folder, no permission)."""

from __future__ import annotations

import os

import numpy as np

from gazeattn.data.begaze.format import MAX_LINE_BYTES, line_too_long
from gazeattn.utils.errors import DataError

_PAD = 80  # bytes before and after the block in the read buffer, so 8-byte words may be read past its ends


def open_gaze_file(path: str):
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


class Stream:
    """A file read in blocks of whole lines through one reused buffer, so memory does not grow with the file.

    Buffer layout: ``[_PAD | consumed | lo .. hi: bytes not handed out yet | free | _PAD]``. Each read appends
    up to ``chunk`` bytes (first moving the unconsumed bytes to the front); a block ends after the last line
    feed read so far, and the partial line after it waits for the next read. A line longer than
    :data:`MAX_LINE_BYTES` is an error, which bounds the buffer to ``MAX_LINE_BYTES + 2 * chunk`` bytes.
    The pads let 8-byte words be read around any field (:class:`~gazeattn.data.begaze.numbers.Block`); what they
    hold does not matter.
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
                    raise line_too_long(self.path, line, self.head())
                return end
            if self.hi - self.lo > MAX_LINE_BYTES + 1:
                raise line_too_long(self.path, line, self.head())
            searched = self.hi - self.lo
            if not self.read():
                if self.hi - self.lo > MAX_LINE_BYTES:
                    raise line_too_long(self.path, line, self.head())
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
                raise line_too_long(self.path, line, self.head())
            known = self.hi - self.lo


def only_whitespace(fh) -> bool:
    """Whether the whole file is empty or whitespace (read again from the start, a block at a time)."""
    try:
        fh.seek(0)
        while block := fh.read(1 << 20):
            if not block.isspace():
                return False
    except OSError:
        return False
    return True
