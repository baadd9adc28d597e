"""Gaze-prediction metrics: cell accuracy, average angular error (AAE), heatmap AUC, and precision/recall/F1.

Conventions (the same as :mod:`gazeattn.data.targets`):

- Points are **normalised image coordinates** ``(x, y)``: x from the left edge (0) to the right edge (1), y from
  the top (0) to the bottom (1).
- A heatmap is ``(h, w)`` per frame/slot; the point ``(x, y)`` falls in cell ``(row, col) = (floor(y·h),
  floor(x·w))``, clipped to the grid, with flat index ``row·w + col``. A cell's centre is
  ``((col + 0.5)/w, (row + 0.5)/h)``.
- As in the literature, gaze is evaluated on **fixation frames only**: slots without a measured fixation carry the
  cell −1 and are left out of every metric.

Definitions:

- **AAE**: the camera centre is the image centre and the focal distance is ``d = (W/2) / tan(fov/2)`` pixels
  (horizontal field of view ``fov``, 60° by default; square pixels). A point becomes the ray
  ``((x − ½)·W, (y − ½)·H, d)`` and the error is the angle between the predicted and the true ray,
  ``atan2(|u × v|, u · v)`` in degrees. Only the aspect ratio ``W/H`` matters. One older codebase measured the
  point from the image **corner** instead of the centre (a bug that changes the numbers); we use the centre.
- **AUC** (one positive per frame, rank-based): the heatmap's ``h·w`` scores are a classifier whose single positive
  is the cell containing the fixation and whose ``h·w − 1`` negatives are all other cells. Per frame,
  ``AUC = (#{negatives scoring below the positive} + ½·#{negatives tied with it}) / (h·w − 1)``, i.e. the
  Mann–Whitney U statistic with average ranks for ties, normalised to [0, 1]. The reported AUC is the mean over
  frames. It is invariant to any strictly increasing transform of the map (logits and softmax agree); a constant
  map scores 0.5, a map peaking only at the fixation 1, a map whose strict minimum is the fixation 0.
- **Precision / recall / F1** at a threshold fixed in advance: per frame the (non-negative) heatmap is divided by
  its maximum and the cells with value ``>= threshold`` (default 0.5) are predicted positive; the ground truth is
  the single fixation cell. Counts are pooled over all frames (micro average): ``TP`` = frames whose fixation cell
  is predicted positive, ``FP`` = the other predicted cells, ``FN`` = frames whose fixation cell is not predicted;
  ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F1 = 2PR/(P+R)`` (0 when ``P + R = 0``). The threshold must never be
  tuned on the test set (one published codebase did); 0.5 is the value used everywhere here.
- **Against the truth** (synthetic worlds, :func:`gaze_truth_report`): the measured gaze is itself wrong at times
  (tracker drift, gaze that runs ahead of the hand, glances elsewhere), so it is no ground truth. Where the world
  knows the truly attended cell of a slot (the acted-on object during the action), the predicted cell (argmax of
  the logits) and the measured cell are each scored against it: a model whose gaze corrects bad supervision
  scores higher than the measured gaze it was trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = [
    "AngularErrors",
    "GazeReport",
    "GazeTruthReport",
    "PrecisionRecallF1",
    "angular_error_deg",
    "cell_accuracy",
    "cell_centers_xy",
    "gaze_report",
    "gaze_truth_report",
    "heatmap_auc",
    "heatmap_f1",
    "heatmap_precision_recall_f1",
    "xy_to_cells",
]

DEFAULT_THRESHOLD = 0.5
DEFAULT_FOV_DEG = 60.0


class AngularErrors(NamedTuple):
    per_point: np.ndarray  # (N,) degrees
    mean: float  # degrees; NaN for N = 0


class PrecisionRecallF1(NamedTuple):
    precision: float
    recall: float
    f1: float


def _to_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _as_points(xy: Any, what: str) -> np.ndarray:
    a = _to_numpy(xy, np.float64)
    if a.ndim == 0 or a.shape[-1] != 2:
        raise ValueError(f"{what} must have shape (..., 2), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be finite")
    return a.reshape(-1, 2)


def xy_to_cells(xy: Any, h: int, w: int) -> np.ndarray:
    """Flat cell indices ``row·w + col`` of normalised points ``(..., 2)`` on an ``h × w`` grid (clipped)."""
    p = _as_points(xy, "xy")
    col = np.clip(np.floor(p[:, 0] * w).astype(np.int64), 0, w - 1)
    row = np.clip(np.floor(p[:, 1] * h).astype(np.int64), 0, h - 1)
    return row * w + col


def cell_centers_xy(cells: Any, h: int, w: int) -> np.ndarray:
    """Normalised ``(x, y)`` centres ``(N, 2)`` of flat cell indices on an ``h × w`` grid."""
    c = _to_numpy(cells).astype(np.int64).reshape(-1)
    if np.any((c < 0) | (c >= h * w)):
        raise ValueError(f"cell indices must lie in [0, {h * w})")
    return np.stack([(c % w + 0.5) / w, (c // w + 0.5) / h], axis=1)


def cell_accuracy(pred_cells: Any, true_cells: Any) -> float:
    """Fraction of slots whose predicted cell equals the true cell, over slots with ``true_cells >= 0`` (−1 = none).

    NaN when no slot has a true cell.
    """
    p = _to_numpy(pred_cells).astype(np.int64)
    t = _to_numpy(true_cells).astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"pred_cells {p.shape} and true_cells {t.shape} differ in shape")
    if np.any(t < -1):
        raise ValueError("true cells must be >= 0, or -1 for no fixation")
    valid = t >= 0
    return float(np.mean(p[valid] == t[valid])) if valid.any() else math.nan


def angular_error_deg(
    pred_xy: Any, true_xy: Any, width: float, height: float, fov_deg: float = DEFAULT_FOV_DEG
) -> AngularErrors:
    """Angle in degrees between the gaze rays of normalised points ``(..., 2)``, measured from the image centre.

    ``d = (width/2) / tan(fov_deg/2)``; the ray of ``(x, y)`` is ``((x − ½)·width, (y − ½)·height, d)``.
    Returns the per-point errors (flattened to ``(N,)``) and their mean (NaN for N = 0).
    """
    if not (width > 0 and height > 0):
        raise ValueError(f"width and height must be positive, got {width} x {height}")
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must lie in (0, 180), got {fov_deg}")
    p, t = _as_points(pred_xy, "pred_xy"), _as_points(true_xy, "true_xy")
    if p.shape != t.shape:
        raise ValueError(f"pred_xy {p.shape} and true_xy {t.shape} differ in shape")
    d = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)

    def rays(q: np.ndarray) -> np.ndarray:  # (N, 3) in pixels
        return np.stack([(q[:, 0] - 0.5) * width, (q[:, 1] - 0.5) * height, np.full(len(q), d)], axis=1)

    u, v = rays(p), rays(t)
    cross = np.linalg.norm(np.cross(u, v), axis=1)
    dot = np.sum(u * v, axis=1)
    err = np.degrees(np.arctan2(cross, dot))
    return AngularErrors(err, float(err.mean()) if err.size else math.nan)


def _flatten_maps(heatmaps: Any) -> tuple[np.ndarray, int, int]:
    m = _to_numpy(heatmaps, np.float64)
    if m.ndim < 2:
        raise ValueError(f"heatmaps must be (..., h, w), got shape {m.shape}")
    h, w = m.shape[-2:]
    if h * w == 0:
        raise ValueError(f"empty heatmap grid {h} x {w}")
    if np.isnan(m).any():
        raise ValueError("heatmaps contain NaN")
    return m.reshape(-1, h * w), h, w


def _frame_cells(true_xy: Any, n: int, h: int, w: int) -> np.ndarray:
    cells = xy_to_cells(true_xy, h, w)
    if cells.shape[0] != n:
        raise ValueError(f"{n} heatmaps but {cells.shape[0]} fixation points")
    return cells


def _auc_per_frame(scores: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``scores (N, K)``, ``pos (N,)`` → per-frame one-positive AUC (NaN when K = 1)."""
    n, k = scores.shape
    if k < 2:
        return np.full(n, np.nan)
    s_pos = scores[np.arange(n), pos][:, None]
    below = (scores < s_pos).sum(axis=1)
    tied = (scores == s_pos).sum(axis=1) - 1  # other cells tied with the positive
    return (below + 0.5 * tied) / (k - 1)


def heatmap_auc(heatmaps: Any, true_xy: Any) -> float:
    """Mean over frames of the one-positive rank AUC (see the module docstring). ``heatmaps (..., h, w)``,
    ``true_xy (..., 2)`` normalised fixation points, one per map. NaN for no frames or a 1-cell grid."""
    scores, h, w = _flatten_maps(heatmaps)
    auc = _auc_per_frame(scores, _frame_cells(true_xy, scores.shape[0], h, w))
    return float(auc.mean()) if auc.size else math.nan


def _prf_cells(maps: np.ndarray, pos: np.ndarray, threshold: float) -> PrecisionRecallF1:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    if np.any(maps < 0) or not np.all(np.isfinite(maps)):
        raise ValueError("precision/recall need finite non-negative heatmaps (pass probabilities, not logits)")
    if maps.shape[0] == 0:
        return PrecisionRecallF1(math.nan, math.nan, math.nan)
    peak = maps.max(axis=1, keepdims=True)
    norm = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    predicted = norm >= threshold  # (N, K)
    tp = int(predicted[np.arange(maps.shape[0]), pos].sum())
    fp = int(predicted.sum()) - tp
    fn = maps.shape[0] - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PrecisionRecallF1(precision, recall, f1)


def heatmap_precision_recall_f1(heatmaps: Any, true_xy: Any, threshold: float = DEFAULT_THRESHOLD) -> PrecisionRecallF1:
    """Micro-averaged precision, recall and F1 of the thresholded, max-normalised heatmaps against the fixation
    cells (see the module docstring). ``heatmaps (..., h, w)`` non-negative; ``true_xy (..., 2)``. The threshold is
    fixed in advance, never chosen on the test set. NaNs for no frames; a frame with an all-zero map predicts
    nothing."""
    maps, h, w = _flatten_maps(heatmaps)
    return _prf_cells(maps, _frame_cells(true_xy, maps.shape[0], h, w), threshold)


def heatmap_f1(heatmaps: Any, true_xy: Any, threshold: float = DEFAULT_THRESHOLD) -> float:
    """The F1 of :func:`heatmap_precision_recall_f1`."""
    return heatmap_precision_recall_f1(heatmaps, true_xy, threshold).f1


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass(frozen=True)
class GazeReport:
    """Gaze metrics over the ``n_slots`` slots with a measured fixation: ``cell_accuracy`` in percent, ``aae_deg``
    in degrees, ``auc``/``precision``/``recall``/``f1`` in [0, 1]. All NaN (JSON null) when ``n_slots == 0``."""

    cell_accuracy: float
    aae_deg: float
    auc: float
    precision: float
    recall: float
    f1: float
    n_slots: int
    threshold: float
    fov_deg: float

    def to_json(self, indent: int | None = None) -> str:
        """Strict JSON (NaN written as null)."""
        return json.dumps({k: _nan_to_none(v) for k, v in asdict(self).items()}, indent=indent, allow_nan=False)


def gaze_report(
    gaze_logits: Any,
    gaze_cell: Any,
    gaze_xy: Any | None = None,
    *,
    frame_size: tuple[float, float],
    fov_deg: float = DEFAULT_FOV_DEG,
    threshold: float = DEFAULT_THRESHOLD,
) -> GazeReport:
    """Evaluate gaze logits against the measured fixations.

    - ``gaze_logits`` (N, T', H', W'): the gaze head's logits; the grid is taken from this shape.
    - ``gaze_cell`` (N, T'): flat index ``row·W' + col`` of the fixation cell per slot, −1 when the slot has no
      fixation (non-fixation frames, missing gaze, fixation outside the crop). Only slots ``>= 0`` are measured.
    - ``gaze_xy`` (N, T', 2): the normalised fixation point per slot (may be NaN where ``gaze_cell`` is −1), or
      None to use the centre of ``gaze_cell`` (the AAE is then quantised to the grid).
    - ``frame_size``: ``(width, height)`` of the frame the points are normalised to (for the AAE).

    The predicted cell is the argmax of the logits (ties to the lowest index) and the predicted point its cell
    centre. AUC and P/R/F1 use the per-slot softmax of the logits with the positive cell = ``gaze_cell``.
    """
    logits, cells = _checked_logits_cells(gaze_logits, gaze_cell)
    n, t, h, w = logits.shape
    width, height = frame_size
    valid = cells >= 0  # (N, T')
    n_slots = int(valid.sum())
    if n_slots == 0:
        nan = math.nan
        return GazeReport(nan, nan, nan, nan, nan, nan, 0, threshold, fov_deg)

    scores = logits.reshape(n, t, h * w)[valid]  # (S, H'·W')
    if not np.all(np.isfinite(scores)):
        raise ValueError("gaze_logits must be finite on measured slots")
    pos = cells[valid]  # (S,)
    pred = scores.argmax(axis=1)
    true_xy = _true_points(gaze_xy, valid, pos, (h, w))
    aae = angular_error_deg(cell_centers_xy(pred, h, w), true_xy, width, height, fov_deg).mean
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    auc = _auc_per_frame(scores, pos)
    prf = _prf_cells(probs, pos, threshold)
    return GazeReport(
        cell_accuracy=100.0 * float(np.mean(pred == pos)),
        aae_deg=aae,
        auc=float(auc.mean()),
        precision=prf.precision,
        recall=prf.recall,
        f1=prf.f1,
        n_slots=n_slots,
        threshold=threshold,
        fov_deg=fov_deg,
    )


def _checked_logits_cells(gaze_logits: Any, gaze_cell: Any) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, T', H', W') float64, cells (N, T') int64), ValueError when their shapes disagree or a cell is
    neither −1 nor on the grid."""
    logits = _to_numpy(gaze_logits, np.float64)
    if logits.ndim != 4:
        raise ValueError(f"gaze_logits must be (N, T', H', W'), got shape {logits.shape}")
    n, t, h, w = logits.shape
    cells = _to_numpy(gaze_cell).astype(np.int64)
    if cells.shape != (n, t):
        raise ValueError(f"gaze_cell must be (N, T') = {(n, t)}, got {cells.shape}")
    if np.any((cells < -1) | (cells >= h * w)):
        raise ValueError(f"gaze_cell must be -1 or lie in [0, {h * w})")
    return logits, cells


def _true_points(gaze_xy: Any | None, valid: np.ndarray, pos: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(S, 2) the measured point of each measured slot: ``gaze_xy`` (N, T', 2) on the ``valid`` (N, T') slots, or
    without it the centre of the cell ``pos`` (S,) on the (H', W') ``grid``."""
    if gaze_xy is None:
        return cell_centers_xy(pos, *grid)
    xy = _to_numpy(gaze_xy, np.float64)
    if xy.shape != (*valid.shape, 2):
        raise ValueError(f"gaze_xy must be (N, T', 2) = {(*valid.shape, 2)}, got {xy.shape}")
    return xy[valid]


@dataclass(frozen=True)
class GazeTruthReport:
    """Gaze against the truly attended cell, in percent: ``predicted_cell_accuracy`` over the ``n_slots`` slots
    with a truth cell (None without a gaze head), ``measured_cell_accuracy`` over the ``n_measured_slots`` of
    them that also have a measured cell. NaN (JSON null) where there is no slot to score."""

    predicted_cell_accuracy: float | None
    measured_cell_accuracy: float
    n_slots: int
    n_measured_slots: int

    def to_json(self, indent: int | None = None) -> str:
        """Strict JSON (NaN written as null)."""
        return json.dumps({k: _nan_to_none(v) for k, v in asdict(self).items()}, indent=indent, allow_nan=False)


def gaze_truth_report(truth_cell: Any, measured_cell: Any, gaze_logits: Any | None = None) -> GazeTruthReport:
    """Score predicted and measured gaze against the truth (see the module docstring).

    - ``truth_cell`` (N, T'): flat index of the truly attended cell per slot, −1 where the truth has none.
    - ``measured_cell`` (N, T'): the measured gaze cell per slot (``gaze_cell``), −1 where none.
    - ``gaze_logits`` (N, T', H', W') or None: the model's gaze logits; its cell is the argmax (ties to the lowest).
    """
    truth = _to_numpy(truth_cell).astype(np.int64)
    measured = _to_numpy(measured_cell).astype(np.int64)
    if truth.ndim != 2 or measured.shape != truth.shape:
        raise ValueError(f"truth_cell {truth.shape} and measured_cell {measured.shape} must both be (N, T')")
    scored = truth >= 0
    both = scored & (measured >= 0)
    measured_acc = 100.0 * float(np.mean(measured[both] == truth[both])) if both.any() else math.nan
    predicted_acc = None
    if gaze_logits is not None:
        logits = _to_numpy(gaze_logits, np.float64)
        if logits.ndim != 4 or logits.shape[:2] != truth.shape:
            raise ValueError(f"gaze_logits must be (N, T', H', W') with (N, T') = {truth.shape}, got {logits.shape}")
        if np.any(truth >= logits.shape[2] * logits.shape[3]):
            raise ValueError(f"truth cells must lie in [0, {logits.shape[2] * logits.shape[3]})")
        pred = logits.reshape(*truth.shape, -1).argmax(axis=-1)
        predicted_acc = 100.0 * cell_accuracy(pred, truth) if scored.any() else math.nan
    return GazeTruthReport(predicted_acc, measured_acc, int(scored.sum()), int(both.sum()))
