"""The loss-function contract shared by every estimator.

A ``loss_fn`` maps candidate gaze maps ``z`` of shape ``(B, M, T', H', W')`` -- M maps for each of the B clips,
clip ``b``'s candidates always in row ``b`` -- to either

* a tensor of losses ``(B, M)`` (the loss L(z) to minimise, e.g. CE(y | x_b, z)), or
* :class:`ClassLosses` -- per-class losses ``(B, M, C)`` and label weights ``(B, C)`` for soft labels,
  whose total is ``L = sum_c w_c · L_c``. Direct optimization then takes one perturbed argmax per class
  (the class-wise form); the other estimators use the total.

Requirements the caller must meet:

* deterministic: the same ``z`` must give the same loss (run the head with dropout off, i.e. in eval mode, or
  with a fixed dropout mask) -- estimators compare losses of different candidates;
* clip-aligned: row ``b`` of ``z`` belongs to clip ``b`` of the batch the logits came from;
* for direct optimization, local expectation, REINFORCE and exact enumeration the maps are one-hot and the
  call runs under ``torch.no_grad()``; for Gumbel-Softmax / straight-through ``z`` is relaxed (soft) and
  the loss must be differentiable in ``z`` (then ``M = 1``);
* precision: losses are cast to float64 before any argmax; compute them in float32 or better (bf16 losses tie).

Building one for the attention head without copying x5 per candidate: with x5 (B, C, T', H', W') computed once,
``a = sigmoid(FC(z.flatten(2)))`` is (B, M, T'H'W') and ``GAP(x5 ⊙ a) = einsum("bcn,bmn->bmc", x5.flatten(2), a)
/ (T'H'W')``; add GAP(x5), apply the classifier (dropout off) and return CE per (b, m). The 147 candidates of a
clip then cost one (M×147)·(147×C) product instead of 147 copies of x5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from torch import Tensor

__all__ = ["ClassLosses", "LossFn", "LossOutput", "total_loss", "split_loss_output"]


@dataclass(frozen=True)
class ClassLosses:
    """Per-class losses ``per_class`` (B, M, C) and label weights ``weights`` (B, C) (soft labels).

    The weights must not depend on the candidates (they are read once per call).
    """

    per_class: Tensor
    weights: Tensor

    def __post_init__(self) -> None:
        if self.per_class.dim() != 3 or self.weights.dim() != 2:
            raise ValueError("ClassLosses needs per_class (B, M, C) and weights (B, C)")
        b, _, c = self.per_class.shape
        if tuple(self.weights.shape) != (b, c):
            raise ValueError(f"weights {tuple(self.weights.shape)} must be (B, C) = {(b, c)}")

    def total(self) -> Tensor:
        """``(B, M)``: ``sum_c w_c · L_c``."""
        return (self.per_class * self.weights.unsqueeze(1)).sum(-1)


LossOutput = Union[Tensor, ClassLosses]
LossFn = Callable[[Tensor], LossOutput]


def split_loss_output(out: LossOutput, batch: int, m: int) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Validate a ``loss_fn`` output; return ``(total (B, M), per_class (B, M, C) | None, weights | None)``."""
    if isinstance(out, ClassLosses):
        if tuple(out.per_class.shape[:2]) != (batch, m):
            got = tuple(out.per_class.shape)
            raise ValueError(f"loss_fn returned per-class losses {got}, expected ({batch}, {m}, C)")
        return out.total(), out.per_class, out.weights
    if not isinstance(out, Tensor) or tuple(out.shape) != (batch, m):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"loss_fn must return losses of shape (B, M) = ({batch}, {m}), got {shape}")
    return out, None, None


def total_loss(out: LossOutput) -> Tensor:
    """``(B, M)`` total loss of a ``loss_fn`` output (a tensor, or the weighted sum of class losses)."""
    return out.total() if isinstance(out, ClassLosses) else out
