"""Gaze samples on video frames, by timestamp, and the per-frame table every reader returns.

The rule (one for every timestamped format):

    frame i, at time t_i, takes the gaze sample j whose time s_j is nearest to t_i (a tie goes to the earlier
    sample), provided |s_j - t_i| <= max_gap_s; otherwise frame i is untracked.
    max_gap_s defaults to half the coarser of the two sampling periods:
        max_gap_s = 0.5 * max(median(diff(s)), median(diff(t)))

So 10 Hz gaze against 30 fps video gives every frame within 50 ms of a sample the nearest sample (two frames of
every three borrow a neighbour's); 90 Hz gaze against 30 fps gives each frame the sample nearest to it (within
16.7 ms); 200 Hz Ego4D gaze likewise (within 16.7 ms). A frame before the first sample or after the last by more
than max_gap_s, or in a gap of the recording, is untracked: no value is extrapolated. Samples are never averaged
(a sample is one measurement at one instant; averaging across a saccade would put gaze where the eye never was).

The table (:func:`frame_rows`) is the one of :mod:`gazeattn.data.begaze`: float32 ``(n_frames, 3)`` = x / width,
y / height, type, with UNTRACKED 0 at (0, 0), FIXATION 1 for a valid sample inside the frame
(0 <= x < width, 0 <= y < height) and TRUNCATED 4 for a valid sample outside it (its unclamped normalised position
is kept, as BeGaze's clean table does). These formats carry no fixation/saccade labels, so a tracked in-frame
frame is FIXATION: that is what the training targets and evaluation read as measured gaze.
"""

from __future__ import annotations

import numpy as np

from gazeattn.data.begaze import FIXATION, TRUNCATED, UNTRACKED

MAX_ABS_NORM = 1000.0  # a sample farther than 1000 frame widths away is a failure value: untracked, not truncated


def frame_times(*, n_frames: int | None = None, fps: float | None = None,
                frame_times_s: np.ndarray | None = None, start_s: float = 0.0) -> np.ndarray:
    """Frame timestamps in seconds: ``frame_times_s`` as given, or ``start_s + i / fps`` for i < n_frames.
    Exactly one of ``fps`` and ``frame_times_s``; ``n_frames`` is required with ``fps`` and must match
    ``len(frame_times_s)`` when both are given. ValueError otherwise (a caller's mistake, not a data error)."""
    if (fps is None) == (frame_times_s is None):
        raise ValueError("give exactly one of fps and frame_times_s")
    if frame_times_s is not None:
        t = np.asarray(frame_times_s, dtype=np.float64).reshape(-1)
        if n_frames is not None and n_frames != t.size:
            raise ValueError(f"n_frames={n_frames} but {t.size} frame times")
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise ValueError("frame_times_s must be finite and increasing")
        return t
    if n_frames is None or n_frames < 0:
        raise ValueError("n_frames (>= 0) is required with fps")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps!r}")
    return start_s + np.arange(n_frames, dtype=np.float64) / float(fps)


def default_max_gap(sample_s: np.ndarray, frame_s: np.ndarray) -> float:
    """Half the coarser of the median sample period and the median frame period (see the module docstring)."""
    with np.errstate(over="ignore", invalid="ignore"):  # timestamps near the float range: inf periods
        periods = [float(np.median(np.diff(v))) for v in (sample_s, frame_s) if v.size >= 2]
    periods = [p for p in periods if p > 0]
    return 0.5 * max(periods) if periods else 0.0


def nearest_sample(sample_s: np.ndarray, frame_s: np.ndarray, max_gap_s: float | None = None) -> np.ndarray:
    """For each frame time, the index of the nearest sample time (ties: the earlier), or -1 when it is farther
    than ``max_gap_s`` (default :func:`default_max_gap`). ``sample_s`` must be non-decreasing."""
    sample_s = np.asarray(sample_s, dtype=np.float64)
    frame_s = np.asarray(frame_s, dtype=np.float64)
    out = np.full(frame_s.shape, -1, dtype=np.int64)
    if sample_s.size == 0 or frame_s.size == 0:
        return out
    gap = default_max_gap(sample_s, frame_s) if max_gap_s is None else float(max_gap_s)
    right = np.searchsorted(sample_s, frame_s, side="left").clip(0, sample_s.size - 1)  # first sample >= t
    left = (right - 1).clip(0, None)
    with np.errstate(over="ignore", invalid="ignore"):
        d_right = np.abs(sample_s[right] - frame_s)
        d_left = np.abs(frame_s - sample_s[left])
    pick = np.where(d_left <= d_right, left, right)  # a tie goes to the earlier sample
    dist = np.minimum(d_left, d_right)
    # samples with equal times: searchsorted(side="left") already points at the first of a run
    ok = dist <= gap + 1e-9  # 1 ns of slack for timestamps written in µs or ns and read as float seconds
    out[ok] = pick[ok]
    return out


def frame_rows(index: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, valid: np.ndarray, *, width: float,
               height: float) -> np.ndarray:
    """The per-frame table from each frame's sample index (-1: none) and the samples' pixel positions.

    ``valid[j]`` says sample j is a measurement; x_px / y_px are pixels of the width x height image the gaze
    refers to (they may lie outside it: TRUNCATED). NaN, inf, or farther than MAX_ABS_NORM frame sizes: UNTRACKED."""
    n = index.shape[0]
    table = np.zeros((n, 3), dtype=np.float32)
    has = index >= 0
    j = index[has]
    with np.errstate(invalid="ignore", over="ignore"):
        ok = valid[j] & (np.abs(x_px[j] / width) < MAX_ABS_NORM) & (np.abs(y_px[j] / height) < MAX_ABS_NORM)
    rows = np.flatnonzero(has)[ok]
    j = j[ok]
    x, y = x_px[j], y_px[j]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    table[rows, 0] = (x / width).astype(np.float32)
    table[rows, 1] = (y / height).astype(np.float32)
    table[rows, 2] = np.where(inside, FIXATION, TRUNCATED)
    table[~np.isin(np.arange(n), rows), 2] = UNTRACKED
    return table
