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

Both modes raise :class:`gazeattn.utils.errors.DataError` naming the file and 1-based line for every malformed input.
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

Modules: ``format`` (the codes, limits, header and columns), ``stream`` (reading in blocks of whole lines),
``lines`` (the checks of the sample lines, in order), ``numbers`` (the byte-level parser of their fields) and
``tables`` (the official and clean per-frame tables).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.data.begaze.format import (CHUNK_BYTES, CLEAN_MAX_ABS_PX, COMPAT_MODES, EVENT_BLINK, EVENT_FIXATION,
                                         EVENT_NONE, EVENT_SACCADE, EVENT_UNKNOWN, FIXATION, FPS, GAZE_RESOLUTION,
                                         MAX_FRAME, MAX_LINE_BYTES, OTHER, SACCADE, TRUNCATED, TYPE_NAMES, UNTRACKED)
from gazeattn.data.begaze.lines import scan
from gazeattn.data.begaze.tables import TABLES, CleanFrames, OfficialFrames
from gazeattn.utils.errors import DataError

__all__ = [
    "UNTRACKED", "FIXATION", "SACCADE", "OTHER", "TRUNCATED", "TYPE_NAMES", "GAZE_RESOLUTION", "FPS",
    "EVENT_FIXATION", "EVENT_SACCADE", "EVENT_BLINK", "EVENT_NONE", "EVENT_UNKNOWN", "COMPAT_MODES", "MAX_FRAME",
    "CLEAN_MAX_ABS_PX", "CHUNK_BYTES", "MAX_LINE_BYTES", "BegazeSamples", "BegazeTable", "official_table",
    "clean_table", "read_begaze_samples", "read_begaze_table", "parse_begaze", "find_gaze_file",
]


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


def official_table(samples: BegazeSamples) -> np.ndarray:
    """The official EGTEA reader's (n_frames, 3) float32 table, bit for bit (see the module docstring)."""
    frames = OfficialFrames()
    frames.add(samples.frame, samples.x_px, samples.y_px, samples.event)
    return frames.table()


def clean_table(samples: BegazeSamples) -> np.ndarray:
    """Per-frame mean of valid in-frame samples, majority type, TRUNCATED for out-of-frame-only frames."""
    frames = CleanFrames()
    frames.add(samples.frame, samples.x_px, samples.y_px, samples.event)
    return frames.table()


def read_begaze_samples(path: str | os.PathLike, *, chunk_bytes: int = CHUNK_BYTES) -> BegazeSamples:
    """Read every sample line of an SMI BeGaze export (v1 or v2) into arrays; DataError on any malformation.

    Memory grows with the number of samples (41 bytes each); :func:`read_begaze_table` does not keep them."""
    parts: list[tuple] = []
    body = scan(path, chunk_bytes, lambda *block: parts.append(block))
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
    frames = TABLES[compat]()
    body = scan(path, chunk_bytes, lambda t, x, y, frame, event, line: frames.add(frame, x, y, event),
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
