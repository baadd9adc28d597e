"""The sample lines of a gaze file: checked and parsed block by block in the order one pass over the whole file
would check them, so the error reported (the first bad line of the earliest check that fails) does not depend on
where the blocks end; and :func:`scan`, which reads a file through it.

The checks, in order: 0 lines no longer than MAX_LINE_BYTES; 1 bytes (printable ASCII, tabs, CRLF or LF);
2 empty lines only at the end; 3 the header's number of tab-separated columns on every line; then column by
column, each field's width first: 4 Type (``SMP``), 5 Time (integer µs), 6 x and y (numbers), 7 Frame (an integer
frame counter in v1 files, ``HH:MM:SS:FF`` timecodes in v2; the version is the first sample's) and its range,
8 the event name. A frame counter that goes backwards is a warning, not an error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from gazeattn.data.begaze.format import (ALLOWED_LUT, EVENT_CODES, EVENT_COLUMNS, EVENT_UNKNOWN, FPS, MAX_FIELD_WIDTH,
                                         MAX_FRAME, MAX_LINE_BYTES, X_COLUMNS, find_column, line_too_long,
                                         read_header)
from gazeattn.data.begaze.numbers import Block, names_to_codes, timecodes, to_number
from gazeattn.data.begaze.stream import Stream, only_whitespace, open_gaze_file
from gazeattn.utils.errors import DataError

log = logging.getLogger(__package__)  # gazeattn.data.begaze
_WARNED: set[tuple[str, int]] = set()  # (file, line) of each warning given: a file parsed again is not warned again

# Checks of the sample lines, in the order a whole-file pass makes them. Every check finds the first bad line
# of the whole file, so the error reported is the first bad line of the earliest check that fails anywhere:
# the smallest (rank, line). Block by block that is the same: a block stops at its own smallest (rank, line),
# and later blocks only run the checks ranked before the best error found so far.
(_R_BYTES, _R_CR, _R_COLUMNS, _R_TYPE_WIDTH, _R_TYPE, _R_TIME_WIDTH, _R_TIME, _R_X_WIDTH, _R_X, _R_Y_WIDTH, _R_Y,
 _R_FRAME_WIDTH, _R_FRAME, _R_FRAME_RANGE, _R_EVENT_WIDTH, _R_EVENT) = range(1, 17)
_NO_ERROR = 1 << 30


class _Done(Exception):
    """Nothing more to do in this block: it has no sample line, or the checks left cannot change the error found."""


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


class SampleLines:
    """The sample lines after the column header, fed block by block; keeps what crosses block boundaries."""

    def __init__(self, path: str, columns: list[str], header_line: int, need_time: bool = True):
        self.path, self.need_time = path, need_time
        i_time = find_column(path, columns, ("Time",), header_line)
        self.i_type = columns.index("Type") if "Type" in columns else None
        i_x = find_column(path, columns, X_COLUMNS, header_line)
        i_y = find_column(path, columns, (columns[i_x].replace(" X ", " Y "),), header_line)
        i_frame = find_column(path, columns, ("Frame",), header_line)
        i_event = find_column(path, columns, EVENT_COLUMNS, header_line)
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
            out = self._parse(b, Block(array, words, lo), first, nl, final)
        except _Done:
            return None
        except _Found as found:
            self.best, self.stop = found, found.rank
            return None
        return None if self.best is not None else out

    def _upto(self, rank: int) -> None:
        """Go on only if the check of ``rank`` ranks before the best error found so far (else it cannot change it)."""
        if self.stop <= rank:
            raise _Done

    def _parse(self, b: np.ndarray, block: Block, first_line: int, nl: np.ndarray, final: bool):
        """The checks of one block in rank order (module docstring); raises _Done or _Found, or returns the columns."""
        starts, ends = _line_spans(self.path, b, nl, first_line)
        self._upto(_R_BYTES)
        tabs = self._check_bytes(b, nl, first_line)
        rows = self._fields(*self._sample_lines(b, starts, ends, first_line, final), tabs)
        time_us, x, y = self._numbers(block, rows)
        frame = self._frames(b, block, rows)
        event = self._events(block, rows)
        self._watch_frame_counter(frame, rows.lines)
        self.n_samples += rows.lines.size
        return time_us, x, y, frame, event, first_line

    def _check_bytes(self, b: np.ndarray, nl: np.ndarray, first_line: int) -> np.ndarray:
        """1. bytes: printable ASCII, tabs and line ends only; CR only as part of CRLF. The tabs' offsets."""

        def line_of(pos: int) -> int:
            return first_line + int(np.searchsorted(nl, pos))

        tabs = np.flatnonzero(b == 9)
        n_cr = np.count_nonzero(b == 13)
        n_special = np.count_nonzero(b.view(np.int8) < 32) + np.count_nonzero(b == 127)  # bytes < 32 or >= 127
        if n_special != nl.size + tabs.size + n_cr:
            pos = int(np.flatnonzero(~ALLOWED_LUT[b])[0])
            message = f"byte 0x{b[pos]:02x} in the samples: not ASCII text (binary or non-UTF-8 data)"
            raise _Found(_R_BYTES, line_of(pos), message)
        self._upto(_R_CR)
        if n_cr != np.count_nonzero(b[nl[nl > 0] - 1] == 13):
            cr = np.flatnonzero(b == 13)
            lone = cr[(cr + 1 >= b.size) | (b[np.minimum(cr + 1, b.size - 1)] != 10)]
            raise _Found(_R_CR, line_of(int(lone[0])), "carriage return not followed by a line feed")
        return tabs

    def _sample_lines(self, b: np.ndarray, starts: np.ndarray, ends: np.ndarray, first_line: int,
                      final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """2. trailing empty lines are dropped at the end of the file; before a non-empty line they are errors.
        (starts, ends without the CR, line numbers) of the block's lines up to its last non-empty one."""
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
            raise _Done
        self.has_samples = True
        pending = self.pending_empty
        self.pending_empty = first_line + n if (not final and n < ends.size) else None
        self._upto(_R_COLUMNS)
        if pending is not None:
            raise _Found(_R_COLUMNS, pending, f"expected {self.ncol} tab-separated columns as in the header, got 1")
        return starts[:n], ends[:n], np.arange(first_line, first_line + n, dtype=np.int64)

    def _fields(self, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray, tabs: np.ndarray) -> _Rows:
        """3. fields: every line must have exactly the header's number of tab-separated columns. With n*k tabs in
        all and row i's k tabs all inside line i, every line has exactly k (tabs are sorted)."""
        n, k = lines.size, self.ncol - 1
        fits = tabs.size == n * k
        if fits:
            tabs = tabs.reshape(n, k)
            fits = bool(np.all(tabs[:, 0] >= starts) & np.all(tabs[:, -1] < ends))
        if not fits:
            tabs = tabs.ravel()
            counts = np.searchsorted(tabs, ends) - np.searchsorted(tabs, starts)
            i = int(np.flatnonzero(counts != k)[0])
            message = f"expected {self.ncol} tab-separated columns as in the header, got {counts[i] + 1}"
            raise _Found(_R_COLUMNS, int(lines[i]), message)
        return _Rows(starts, ends, lines, tabs)

    def _numbers(self, block: Block, rows: _Rows) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """4-6. Type (``SMP`` lines only), Time (integer µs; checked only without ``need_time``), x and y."""
        path, columns, lines = self.path, self.columns, rows.lines
        if self.i_type is not None:
            self._upto(_R_TYPE_WIDTH)
            s, e = rows.span(self.i_type, "Type", _R_TYPE_WIDTH)
            self._upto(_R_TYPE)
            smp = names_to_codes(block, s, e, {b"SMP": 1}, 2)
            if not (smp == 1).all():
                i = int(np.flatnonzero(smp != 1)[0])
                raise _Found(_R_TYPE, int(lines[i]), "unsupported sample type (only 'SMP' sample lines are supported)")
        self._upto(_R_TIME_WIDTH)
        s, e = rows.span(self.i_time, "Time", _R_TIME_WIDTH)
        self._upto(_R_TIME)
        time_us = _ranked(_R_TIME, to_number, path, block, s, e, lines, "Time", np.int64, not self.need_time)
        values = []
        for i_col, r_width, r_parse in ((self.i_x, _R_X_WIDTH, _R_X), (self.i_y, _R_Y_WIDTH, _R_Y)):
            self._upto(r_width)
            s, e = rows.span(i_col, columns[i_col], r_width)
            self._upto(r_parse)
            values.append(_ranked(r_parse, to_number, path, block, s, e, lines, columns[i_col], np.float64))
        x, y = values
        return time_us, x, y

    def _frames(self, b: np.ndarray, block: Block, rows: _Rows) -> np.ndarray:
        """7. Frame: the version (1: integer frame counter, 2: timecodes) is decided by the file's first sample."""
        self._upto(_R_FRAME_WIDTH)
        s, e = rows.span(self.i_frame, "Frame", _R_FRAME_WIDTH)
        if self.version is None:  # decided by the file's first sample line, which is this block's first line
            self.version = 2 if b":" in b[s[0] : e[0]].tobytes() else 1
        self._upto(_R_FRAME)
        if self.version == 2:
            frame = _ranked(_R_FRAME, timecodes, self.path, block, s, e, rows.lines)
        else:
            frame = _ranked(_R_FRAME, to_number, self.path, block, s, e, rows.lines, "Frame", np.int64)
        self._upto(_R_FRAME_RANGE)
        if frame.min() < 0 or frame.max() > MAX_FRAME:
            i = int(np.flatnonzero((frame < 0) | (frame > MAX_FRAME))[0])
            what = "negative frame" if frame[i] < 0 else f"frame beyond {MAX_FRAME} (10 h at {FPS} fps)"
            raise _Found(_R_FRAME_RANGE, int(rows.lines[i]), f"{what} {frame[i]} in column 'Frame'")
        return frame

    def _events(self, block: Block, rows: _Rows) -> np.ndarray:
        """8. the event name of every sample: EVENT_* codes, unknown names EVENT_UNKNOWN, empty an error."""
        name = self.columns[self.i_event]
        self._upto(_R_EVENT_WIDTH)
        s, e = rows.span(self.i_event, name, _R_EVENT_WIDTH)
        self._upto(_R_EVENT)
        event = names_to_codes(block, s, e, EVENT_CODES, EVENT_UNKNOWN)
        empty = np.flatnonzero(event == 0)
        if empty.size:
            raise _Found(_R_EVENT, int(rows.lines[empty[0]]), f"empty event in column {name!r}")
        return event

    def _watch_frame_counter(self, frame: np.ndarray, lines: np.ndarray) -> None:
        """Note the first place where the frame counter goes backwards (several samples per frame are normal)."""
        if self.backwards is None:
            prev = np.concatenate(([frame[0] if self.last_frame is None else self.last_frame], frame[:-1]))
            back = np.flatnonzero(frame < prev)
            if back.size:
                i = int(back[0])
                self.backwards = (int(lines[i]), int(frame[i]), int(prev[i]))
        self.last_frame = int(frame[-1])

    def finish(self) -> None:
        """At the end of the file: raise the error found, or 'no samples'; warn about a backwards frame counter."""
        if self.best is not None:
            raise DataError(self.path, self.best.message, self.best.line)
        if not self.has_samples:
            raise DataError(self.path, "no samples after the column-header line", self.first_line)
        if self.backwards is not None and (self.path, self.backwards[0]) not in _WARNED:
            line, frame, prev = self.backwards
            _WARNED.add((self.path, line))
            log.warning("%s:%d: the frame counter goes backwards (frame %d after frame %d): restarted, or several "
                        "recordings in one file? Samples are combined by frame number, so samples of different "
                        "moments that share a frame number are averaged together", self.path, line, frame, prev)


def scan(path: str | os.PathLike, chunk_bytes: int, sink, *, need_time: bool = True) -> SampleLines:
    """Read the file block by block, calling ``sink(time_us, x_px, y_px, frame, event, first_line)`` per block
    while no error is known; raises DataError for the first bad line (in the order of the checks). Without
    ``need_time`` the Time column is checked but not converted (``time_us`` None)."""
    path = str(path)
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    fh = open_gaze_file(path)
    try:
        with fh:
            st = Stream(path, fh, chunk_bytes)
            try:
                columns, header_line = read_header(path, st)
            except DataError as err:
                if err.line == 1 and only_whitespace(fh):
                    raise DataError(path, "empty file", 1) from None
                raise
            body = SampleLines(path, columns, header_line, need_time)
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


def _line_spans(path: str, b: np.ndarray, nl: np.ndarray, first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """0. lines: [starts, ends) without the LF; a line over MAX_LINE_BYTES is reported at once (a DataError)."""
    ends = nl if (b.size == 0 or b[-1] == 10) else np.append(nl, b.size)
    starts = np.concatenate(([0], nl + 1))[: ends.size]
    if ends.size and (ends - starts).max() > MAX_LINE_BYTES:  # (the CR of a CRLF does not count)
        lengths = ends - starts - ((ends > starts) & (b[np.maximum(ends - 1, 0)] == 13) & (ends < b.size))
        too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
        if too_long.size:
            i = int(too_long[0])
            raise line_too_long(path, first_line + i, b[starts[i] : starts[i] + MAX_LINE_BYTES].tobytes())
    return starts, ends


@dataclass(frozen=True)
class _Rows:
    """A block's sample lines: [starts, ends) without line ends, their 1-based numbers, the (n, k) tab offsets."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    tabs: np.ndarray

    def span(self, j: int, name: str, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """[s, e) of column j on every line; a field wider than MAX_FIELD_WIDTH is a _Found of ``rank``."""
        last = self.tabs.shape[1]  # k = ncol - 1
        s = self.starts if j == 0 else self.tabs[:, j - 1] + 1
        e = self.ends if j == last else self.tabs[:, j]
        if (e - s).max() > MAX_FIELD_WIDTH:
            message = f"column {name!r}: field longer than {MAX_FIELD_WIDTH} bytes"
            raise _Found(rank, int(self.lines[np.flatnonzero(e - s > MAX_FIELD_WIDTH)[0]]), message)
        return s, e
