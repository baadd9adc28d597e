"""Action-recognition metrics for EGTEA Gaze+: confusion matrix, per-class recall, mean class and overall accuracy.

Conventions:

- A confusion matrix ``cm`` is ``(C, C)`` int64 with **rows = true class, columns = predicted class**.
- The functions return **fractions** in [0, 1] (NaN where a quantity is undefined); :func:`action_report` turns
  them into the **percentages** papers print.
- "Mean class accuracy" (the paper's headline number, 62.84 for Min & Corso) is the mean over classes of the
  per-class recall ``cm[c, c] / cm[c].sum()``. The reference implementation computes it as the mean over all 106
  classes, which is well defined there because all 106 actions occur in the split-1 test set. On subsets where some
  classes are absent from the targets their recall is undefined (0/0); :func:`mean_class_accuracy` then averages
  over the classes present (``over="present"``, default) or over all ``C`` classes with absent classes counted as 0
  (``over="all"``, a fixed denominator that can only under-state the score). Both agree when every class occurs.
- Test protocol (:func:`aggregate_windows`): each test clip is cut into non-overlapping 24-frame windows from frame
  0, the logits of its windows are averaged, and the clip is classified by the argmax of the mean.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np
import torch

__all__ = [
    "ActionReport",
    "action_report",
    "aggregate_windows",
    "class_accuracies",
    "confusion_matrix",
    "mean_class_accuracy",
    "overall_accuracy",
    "topk_accuracy",
]


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_labels(x: Any, what: str) -> np.ndarray:
    """A 1-D int64 array of labels; integral floats are accepted, anything else is a ValueError."""
    a = _to_numpy(x)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        if a.size:
            raise ValueError(f"{what} must hold integer class ids, got dtype {a.dtype}")
        return a.astype(np.int64)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{what} must hold integer class ids, got non-integral values")
    return a.astype(np.int64)


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return int(num_classes)


def _check_cm(cm: Any) -> np.ndarray:
    cm = _to_numpy(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"a confusion matrix must be square (C, C) with C >= 1, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.integer) or np.any(cm < 0):
        raise ValueError("a confusion matrix must hold non-negative integer counts")
    return cm.astype(np.int64)


def confusion_matrix(targets: Any, predictions: Any, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts, ``cm[true, predicted]``. Inputs: 1-D sequences/arrays/tensors of class ids.

    Raises ValueError when the lengths differ, when an id is not an integer, or when an id is outside
    ``[0, num_classes)`` (the message names the offending value and its position).
    """
    c = _check_num_classes(num_classes)
    t = _as_labels(targets, "targets")
    p = _as_labels(predictions, "predictions")
    if t.shape != p.shape:
        raise ValueError(f"targets and predictions differ in length: {t.shape[0]} vs {p.shape[0]}")
    for name, a in (("targets", t), ("predictions", p)):
        bad = np.flatnonzero((a < 0) | (a >= c))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name}[{i}] = {int(a[i])} is outside [0, {c}) ({bad.size} such values)")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def class_accuracies(cm: Any) -> np.ndarray:
    """Per-class recall ``cm[c, c] / cm[c].sum()`` as float64 fractions; NaN for classes absent from the targets."""
    cm = _check_cm(cm)
    support = cm.sum(axis=1)
    out = np.full(cm.shape[0], np.nan)
    present = support > 0
    out[present] = np.diag(cm)[present] / support[present]
    return out


def mean_class_accuracy(cm: Any, *, over: Literal["present", "all"] = "present") -> float:
    """Mean of the per-class recall (a fraction): the paper's "mean class accuracy".

    ``over="present"`` (default): the mean over classes that occur in the targets (absent classes, whose recall
    is 0/0, are left out). ``over="all"``: the sum of the recalls of the present classes divided by ``C``, i.e.
    absent classes count as 0. On EGTEA split 1 all 106 classes occur in the test set and both give the
    reference's number. NaN when no class occurs at all (an empty matrix).
    """
    if over not in ("present", "all"):
        raise ValueError(f"over must be 'present' or 'all', got {over!r}")
    acc = class_accuracies(cm)
    present = ~np.isnan(acc)
    if not present.any():
        return math.nan
    if over == "present":
        return float(acc[present].mean())
    return float(acc[present].sum() / acc.size)


def overall_accuracy(cm: Any) -> float:
    """``trace(cm) / sum(cm)`` (a fraction; NaN for an empty matrix)."""
    cm = _check_cm(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else math.nan


def topk_accuracy(targets: Any, logits: Any, k: int = 5) -> float:
    """Fraction of rows whose target is among the ``k`` highest scores (``k`` is capped at ``C``).

    Ties are broken towards the lower class index, as ``argmax`` does, so ``k=1`` equals the overall accuracy of
    the argmax predictions. NaN for zero rows.
    """
    t = _as_labels(targets, "targets")
    s = _to_numpy(logits).astype(np.float64)
    if s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise ValueError(f"logits must be (N, C) with N = len(targets) = {t.shape[0]}, got shape {s.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, c = s.shape
    if np.any((t < 0) | (t >= c)):
        raise ValueError(f"targets must lie in [0, {c})")
    if n == 0:
        return math.nan
    if np.isnan(s).any():
        raise ValueError("logits contain NaN")
    mine = s[np.arange(n), t][:, None]
    cls = np.arange(c)[None, :]
    # Rank of the target: classes scoring higher, plus tied classes with a lower index.
    rank = (s > mine).sum(axis=1) + ((s == mine) & (cls < t[:, None])).sum(axis=1)
    return float(np.mean(rank < min(k, c)))


def aggregate_windows(clip_index: Any, logits: Any) -> tuple[Any, Any]:
    """Average the logits of each clip's windows (the test protocol).

    ``clip_index`` (N,): the clip id of each window (integers, or strings for numpy input); ``logits`` (N, C), a
    numpy array or a torch tensor. Returns ``(clip_ids (K,), mean_logits (K, C))`` with the clips sorted by id, in
    the library of ``logits`` (a tensor result stays on the tensor's device, a float dtype is kept, integer logits
    become float64/float32).
    """
    ids = _to_numpy(clip_index)
    if ids.ndim != 1:
        raise ValueError(f"clip_index must be 1-D, got shape {ids.shape}")
    if not isinstance(logits, torch.Tensor):
        logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] != ids.shape[0]:
        raise ValueError(f"logits must be (N, C) with N = len(clip_index) = {ids.shape[0]}, got {tuple(logits.shape)}")
    uniq, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=uniq.size)
    if isinstance(logits, torch.Tensor):
        x = logits if logits.is_floating_point() else logits.to(torch.get_default_dtype())
        inv = torch.as_tensor(inverse, device=x.device, dtype=torch.long)
        sums = torch.zeros((uniq.size, x.shape[1]), dtype=x.dtype, device=x.device).index_add_(0, inv, x)
        mean = sums / torch.as_tensor(counts, device=x.device, dtype=x.dtype)[:, None]
        out_ids = torch.as_tensor(uniq) if np.issubdtype(uniq.dtype, np.number) else uniq
        return out_ids, mean
    x = np.asarray(logits)
    x = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    sums = np.zeros((uniq.size, x.shape[1]), dtype=x.dtype)
    np.add.at(sums, inverse, x)
    return uniq, sums / counts[:, None].astype(x.dtype)


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return x


def _pct(x: float) -> float:
    return 100.0 * x


@dataclass(frozen=True)
class ActionReport:
    """Action metrics in **percent**. NaN (``null`` in JSON) where undefined.

    ``per_class``: one dict per class ``{"index", "name", "support", "accuracy"}`` (accuracy = recall in percent,
    NaN for a class absent from the targets). ``confusion``: rows = true class, columns = predicted.
    ``top5_accuracy`` is None when only predictions (no logits) were given.
    """

    num_classes: int
    n_samples: int
    mean_class_accuracy: float
    overall_accuracy: float
    top5_accuracy: float | None
    mean_over: str
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]

    def to_json(self, indent: int | None = None) -> str:
        """Strict JSON (NaN written as null)."""
        return json.dumps(_nan_to_none(asdict(self)), indent=indent, allow_nan=False)


def action_report(
    targets: Any,
    logits_or_preds: Any,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    *,
    over: Literal["present", "all"] = "present",
) -> ActionReport:
    """Build an :class:`ActionReport` from targets and either logits ``(N, C)`` (argmax, plus top-5) or predictions
    ``(N,)`` (no top-5). ``over`` chooses the classes the mean class accuracy averages over (see the module doc)."""
    c = _check_num_classes(num_classes)
    scores = _to_numpy(logits_or_preds)
    top5: float | None = None
    if scores.ndim == 2:
        if scores.shape[1] != c:
            raise ValueError(f"logits have {scores.shape[1]} classes, num_classes is {c}")
        preds = scores.argmax(axis=1) if scores.shape[0] else np.zeros(0, np.int64)
        top5 = _pct(topk_accuracy(targets, scores, k=5))
    elif scores.ndim == 1:
        preds = scores
    else:
        raise ValueError(f"expected logits (N, C) or predictions (N,), got shape {scores.shape}")
    if class_names is not None and len(class_names) != c:
        raise ValueError(f"{len(class_names)} class names for {c} classes")
    cm = confusion_matrix(targets, preds, c)
    acc = class_accuracies(cm)
    support = cm.sum(axis=1)
    per_class = [
        {
            "index": i,
            "name": str(class_names[i]) if class_names is not None else str(i),
            "support": int(support[i]),
            "accuracy": _pct(float(acc[i])),
        }
        for i in range(c)
    ]
    return ActionReport(
        num_classes=c,
        n_samples=int(cm.sum()),
        mean_class_accuracy=_pct(mean_class_accuracy(cm, over=over)),
        overall_accuracy=_pct(overall_accuracy(cm)),
        top5_accuracy=top5,
        mean_over=over,
        per_class=per_class,
        confusion=cm.tolist(),
    )
