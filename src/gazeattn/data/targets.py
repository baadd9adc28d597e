"""Gaze targets on the model's T'×H'×W' grid, from per-frame gaze points.

The grid is derived from the clip shape and the backbone's total strides (I3D: 8 in time, 32 in space,
TF "same" padding, so T' = ceil(T / 8), H' = ceil(H / 32)): 24×224² → 3×7×7. Temporal slot t covers clip
frames [8t, 8t + 8); a point at normalised crop coordinates (x, y) falls in cell
(floor(y·H_crop / 32), floor(x·W_crop / 32)).

Per slot the dataset provides ``gaze_target`` (a distribution over the H'×W' cells), ``gaze_mask`` (use the
slot in the KL term) and ``gaze_cell`` (flat index of the measured cell, −1 when none). Policies:

- points: ``fixation`` (frames of type fixation only, the reference) or ``tracked`` (fixations and saccades).
  Points outside the crop never count.
- reduce: ``first`` (the point at the first frame of the slot only, the reference: frames 1, 9, 17),
  ``majority`` (the most frequent cell among the slot's valid points, ties to the earliest; default) or
  ``histogram`` (the normalised histogram of the slot's points as a soft target).
- missing: ``mask`` (slot left out of the KL, the reference), ``uniform`` (uniform target, Li et al.) or
  ``center`` (a centre Gaussian, the EGTEA readme's advice for clips without gaze).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gazeattn.data.begaze import FIXATION, SACCADE

POINTS = ("fixation", "tracked")
REDUCE = ("first", "majority", "histogram")
# I3D's total (t, h, w) strides: the grid of the reference model (the tiny backbone takes (8, s, s)); the
# one place they are written (gazeattn.models.config re-exports them)
I3D_STRIDES = (8, 32, 32)
MISSING = ("mask", "uniform", "center")


@dataclass(frozen=True)
class GazeTargetConfig:
    points: str = "fixation"
    reduce: str = "majority"
    missing: str = "mask"
    center_sigma: float = 0.25  # std of the centre Gaussian, in units of the frame's width/height

    def __post_init__(self) -> None:
        for name, allowed in (("points", POINTS), ("reduce", REDUCE), ("missing", MISSING)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"gaze target {name} must be one of {allowed}, got {getattr(self, name)!r}")


def grid_shape(frames: int, height: int, width: int, strides: tuple[int, int, int] = I3D_STRIDES) -> tuple[int, int, int]:
    """(T', H', W') of a backbone with total strides (t, h, w) and "same" padding: ceil(n / stride)."""
    return tuple(math.ceil(n / s) for n, s in zip((frames, height, width), strides))  # type: ignore[return-value]


def _center_gaussian(h: int, w: int, sigma: float) -> np.ndarray:
    ys = (np.arange(h) + 0.5) / h - 0.5
    xs = (np.arange(w) + 0.5) / w - 0.5
    d2 = ys[:, None] ** 2 + xs[None, :] ** 2
    g = np.exp(-d2 / (2 * sigma**2))
    return (g / g.sum()).astype(np.float32)


def gaze_targets(
    xy: np.ndarray,
    types: np.ndarray,
    *,
    crop_size: tuple[int, int],
    strides: tuple[int, int, int],
    config: GazeTargetConfig,
) -> dict[str, np.ndarray]:
    """Targets for one window.

    xy: (T, 2) normalised crop coordinates; types: (T,) gaze types (0 untracked, 1 fixation, 2 saccade, ...);
    crop_size: (height, width) of the crop in pixels. Returns ``gaze_target`` (T', H', W') float32,
    ``gaze_mask`` (T',) bool, ``gaze_cell`` (T',) int64.
    """
    n = len(types)
    t_, h_, w_ = grid_shape(n, crop_size[0], crop_size[1], strides)
    allowed = (FIXATION,) if config.points == "fixation" else (FIXATION, SACCADE)
    x, y = xy[:, 0], xy[:, 1]
    valid = np.isin(types, allowed) & (x >= 0) & (x < 1) & (y >= 0) & (y < 1)
    col = np.clip(np.floor(np.where(valid, x, 0) * crop_size[1] / strides[2]).astype(np.int64), 0, w_ - 1)
    row = np.clip(np.floor(np.where(valid, y, 0) * crop_size[0] / strides[1]).astype(np.int64), 0, h_ - 1)
    cell = row * w_ + col

    target = np.zeros((t_, h_ * w_), np.float32)
    mask = np.zeros(t_, bool)
    cells = np.full(t_, -1, np.int64)
    for t in range(t_):  # T' is 3 at the reference shape: a loop over slots, not frames
        lo, hi = t * strides[0], min((t + 1) * strides[0], n)
        if config.reduce == "first":
            picked = cell[lo:lo + 1][valid[lo:lo + 1]]
        else:
            picked = cell[lo:hi][valid[lo:hi]]
        if picked.size == 0:
            continue
        counts = np.bincount(picked, minlength=h_ * w_)
        if config.reduce == "histogram":
            target[t] = counts / counts.sum()
            cells[t] = int(np.argmax(counts))
        else:
            best = counts.max()
            winner = next(c for c in picked if counts[c] == best)  # ties go to the earliest point
            cells[t] = int(winner)
            target[t, winner] = 1.0
        mask[t] = True
    missing = ~mask
    if missing.any() and config.missing != "mask":
        fill = (np.full((h_ * w_,), 1.0 / (h_ * w_), np.float32) if config.missing == "uniform"
                else _center_gaussian(h_, w_, config.center_sigma).reshape(-1))
        target[missing] = fill
        mask[:] = True
    return {"gaze_target": target.reshape(t_, h_, w_), "gaze_mask": mask, "gaze_cell": cells}
