"""Ego-Exo4D's projected 2D eye gaze: ``eye_gaze/general_eye_gaze_2d.csv`` and ``personalized_eye_gaze_2d.csv``
of a take.

What is documented (the Ego-Exo4D gaze tutorial, docs.ego-exo4d-data.org/tutorials/gaze): the columns ``x`` and
``y`` are the gaze in pixels of the take's egocentric RGB video (1408 x 1408, already rotated upright), one row per
10 Hz sample, against the take's 30 fps frame-aligned video; the rows start with the take. Other columns are
ignored. An empty (or ``nan``) x or y is a sample without gaze: untracked.

Alignment. Row k is the sample at k / 10 s of the take, frame i is at i / 30 s, and frame i takes the nearest row
within half a gaze period (:mod:`~gazeattn.data.gaze_formats.align`): row round(i / 3), so frames 3k - 1, 3k and
3k + 1 take row k. With N rows, frames 0 .. 3N - 2 are covered; frame 3N - 1 is 67 ms after the last row, beyond
the 50 ms bound, and is untracked (nothing is extrapolated past the file).

The tutorial's alignment and its off-by-one: it expands the rows with ``[x for x in xs for _ in range(3)]`` and
then drops the first element (``[1:]``), and indexes that list by frame. Its entry i is row (i + 1) // 3: that is
the nearest row, the same as above, but it is written as a shift of the expansion, and the list it builds has
3N - 1 entries, one short of the 3N frames the N rows span, so its last frame has no gaze (an IndexError when a
take is read to its end). Reading the same expansion without the shift (row i // 3, what the comment "repeat the
values because the sampling rate is 10 fps" suggests) is off by one frame on every third frame (3k + 2 takes row
k, 67 ms away, instead of row k + 1, 33 ms away). This reader states the rule by time and is tested against both
readings of the tutorial (``tests/test_data_gaze_formats.py``).
"""

from __future__ import annotations

import os

import numpy as np

from gazeattn.data.gaze_formats.align import frame_rows, frame_times, nearest_sample
from gazeattn.data.gaze_formats.csvfile import read_rows, require

WHAT = "Ego-Exo4D 2D eye gaze"
WIDTH = HEIGHT = 1408  # the upright Aria RGB frame the pixels refer to
GAZE_HZ = 10.0
VIDEO_FPS = 30.0


def read_gaze_2d(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(x_px, y_px) float64 of every row, NaN where the file has no gaze (empty or nan field); DataError naming the
    file and line on anything else (see :mod:`~gazeattn.data.gaze_formats.csvfile`)."""
    rows = read_rows(path, what=WHAT, keep=("x", "y"))
    require(rows, ("x", "y"), what=WHAT)
    return rows.floats("x", empty=np.nan, non_finite=True), rows.floats("y", empty=np.nan, non_finite=True)


def sample_times(n_rows: int, gaze_hz: float = GAZE_HZ) -> np.ndarray:
    """Take time (s) of each row: k / gaze_hz."""
    return np.arange(n_rows, dtype=np.float64) / gaze_hz


def frame_table(path: str | os.PathLike, *, n_frames: int | None = None, fps: float | None = VIDEO_FPS,
                frame_times_s: np.ndarray | None = None, gaze_hz: float = GAZE_HZ, width: int = WIDTH,
                height: int = HEIGHT, max_gap_s: float | None = None) -> np.ndarray:
    """The per-frame gaze table (float32 ``(n_frames, 3)``: x / width, y / height, type) of a 2D gaze file on the
    take's video: frame i at i / fps s of the take (or ``frame_times_s``), rows at k / gaze_hz s; ``width`` x
    ``height`` is the frame the pixels refer to (1408 x 1408: normalised positions hold for downscaled copies)."""
    x, y = read_gaze_2d(path)
    if frame_times_s is not None:
        fps = None
    t = frame_times(n_frames=n_frames, fps=fps, frame_times_s=frame_times_s)
    index = nearest_sample(sample_times(x.size, gaze_hz), t, max_gap_s)
    return frame_rows(index, x, y, np.isfinite(x) & np.isfinite(y), width=width, height=height)
