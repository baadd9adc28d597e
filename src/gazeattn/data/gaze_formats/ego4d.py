"""Ego4D gaze CSVs (``gaze/<video_uid>.csv``, Pupil Labs exports processed by Ego4D), one per video.

Documented columns (ego4d-data.org/docs/data/gaze): ``component_idx, component_timestamp_s,
canonical_timestamp_s, world_index, confidence, norm_pos_x, norm_pos_y, base_data, gaze_point_3d_*, eye_center*,
gaze_normal*``; only ``world_index``, ``confidence``, ``norm_pos_x`` and ``norm_pos_y`` are populated, samples
come faster than the video's frames (about 200 Hz), and the processed files start at t = 0 with the video.
``norm_pos`` is Pupil's normalised position with the origin at the *bottom*-left, so the image y is
``1 - norm_pos_y``.

Read as GLC reads them (Lai et al., "In the Eye of Transformer: Global-Local Correlation for Egocentric Gaze
Estimation", ``data/preprocessing.py``): frame i is at i / fps s, takes the sample whose timestamp is nearest
(``canonical_timestamp_s``; ``component_timestamp_s`` when that column is absent: they are equal in processed
files), position (norm_pos_x, 1 - norm_pos_y); a position outside [0, 1) is TRUNCATED, keeping its value (GLC
clamps it and calls it "trimmed"). Differences from GLC, all at the edges: a frame farther than half a frame
period (or half the median sample period, when larger) from every sample is untracked, where GLC takes the nearest
however far; an exact tie between two samples goes to the earlier (GLC: the later); GLC stops two samples before
the end of the file and marks the remaining frames untracked, this reader uses every sample; GLC's split of frames
into fixation and saccade by a 40 px movement is made only with ``glc_saccades=True`` (otherwise all tracked
in-frame frames are FIXATION, see :mod:`~gazeattn.data.gaze_formats.align`): a FIXATION frame becomes SACCADE when
its gaze moved more than 40 px at 1088 x 1080 since the previous frame's (GLC compares with the previous frame's
position whatever its type; here the previous frame must have a position, tracked or truncated).
``min_confidence`` (default 0: every sample, as GLC) leaves samples of lower ``confidence`` out of the search (a
frame then takes the nearest of the others). An empty or nan position is a sample without gaze.
"""

from __future__ import annotations

import os

import numpy as np

from gazeattn.data.begaze import FIXATION, SACCADE
from gazeattn.data.gaze_formats.align import frame_rows, frame_times, nearest_sample
from gazeattn.data.gaze_formats.csvfile import non_decreasing, read_rows, require
from gazeattn.utils.errors import DataError

WHAT = "Ego4D gaze"
GLC_FRAME = (1088, 1080)  # the pixel size GLC measures gaze movement in
GLC_SACCADE_PX = 40.0
TIME_COLUMNS = ("canonical_timestamp_s", "component_timestamp_s")


def read_gaze(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(time_s, x, y, confidence) float64 per row, x and y in [0, 1] image units with y down (NaN: no gaze);
    confidence is 1 when the column is absent. DataError naming the file and line on malformation."""
    rows = read_rows(path, what=WHAT, keep=(*TIME_COLUMNS, "norm_pos_x", "norm_pos_y", "confidence"))
    time_col = next((c for c in TIME_COLUMNS if rows.has(c)), None)
    if time_col is None:
        raise DataError(rows.path, f"missing column 'canonical_timestamp_s' (or 'component_timestamp_s'): not an "
                                   f"{WHAT} CSV", 1)
    require(rows, ("norm_pos_x", "norm_pos_y"), what=WHAT)
    t = rows.floats(time_col)
    non_decreasing(rows, t, time_col)
    x = rows.floats("norm_pos_x", empty=np.nan, non_finite=True)
    y = 1.0 - rows.floats("norm_pos_y", empty=np.nan, non_finite=True)
    conf = rows.floats("confidence", empty=np.nan, non_finite=True) if rows.has("confidence") else np.ones_like(t)
    return t, x, y, conf


def frame_table(path: str | os.PathLike, *, n_frames: int | None = None, fps: float | None = None,
                frame_times_s: np.ndarray | None = None, min_confidence: float = 0.0,
                max_gap_s: float | None = None, glc_saccades: bool = False) -> np.ndarray:
    """The per-frame gaze table (float32 ``(n_frames, 3)``: x, y in [0, 1) of the frame, type) of an Ego4D gaze
    file on its video: frame i at i / fps s (or ``frame_times_s``), rule in the module docstring."""
    t, x, y, conf = read_gaze(path)
    times = frame_times(n_frames=n_frames, fps=fps, frame_times_s=frame_times_s)
    with np.errstate(invalid="ignore"):
        keep = ~(conf < min_confidence)  # low-confidence samples are not candidates: a frame takes the next nearest
    t, x, y = t[keep], x[keep], y[keep]
    index = nearest_sample(t, times, max_gap_s)
    table = frame_rows(index, x, y, np.isfinite(x) & np.isfinite(y), width=1.0, height=1.0)
    if glc_saccades and table.shape[0] > 1:
        has = table[:, 2] != 0
        step = np.hypot(np.diff(table[:, 0].astype(np.float64)) * GLC_FRAME[0],
                        np.diff(table[:, 1].astype(np.float64)) * GLC_FRAME[1])
        moved = np.concatenate([[False], has[:-1] & (step > GLC_SACCADE_PX)])
        table[moved & (table[:, 2] == FIXATION), 2] = SACCADE
    return table
