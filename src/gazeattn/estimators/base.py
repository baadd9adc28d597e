"""What every estimator object returns to the trainer, and the surrogate-loss helper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from gazeattn.estimators.gumbel import one_hot_maps
from gazeattn.estimators.losses import LossFn

__all__ = ["EstimatorOutput", "GradientEstimator", "SampleEstimator", "surrogate_from_grad"]


def surrogate_from_grad(logits: Tensor, grad: Tensor, *, reduction: str = "mean") -> Tensor:
    """A scalar whose autograd gradient w.r.t. ``logits`` is ``grad`` (divided by B for ``reduction="mean"``).

    Built as ``(grad.detach() · (logits − logits.detach())).sum()``: its *value* is exactly 0, so
    ``loss = ce + kl + surrogate`` logs the real loss while the gaze head receives the estimated gradient.
    Use ``"mean"`` when the trainer averages its other loss terms over the batch, ``"sum"`` otherwise.
    """
    if grad.shape != logits.shape:
        raise ValueError(f"grad {tuple(grad.shape)} must be shaped like logits {tuple(logits.shape)}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    g = grad.detach().to(logits.dtype)
    s = (g * (logits - logits.detach())).sum()
    return s / logits.shape[0] if reduction == "mean" else s


@dataclass
class EstimatorOutput:
    """One training step's output of an estimator object.

    ``surrogate``: scalar to add to the loss (value 0 for the score-function-style estimators; gradient = the
    estimate of ∇_logits E_q[L], batch-reduced). ``z``: (B, T', H', W') gaze map to run the classifier on for the
    CE term -- a detached one-hot sample, or for Gumbel-Softmax the relaxed sample that carries the gradient
    itself. ``grad``: the per-clip estimate (B, T', H', W') or None when autograd through ``z`` does the work.
    ``stats``: floats to log (eps/tau, flip rate, loss evaluations, ...).
    """

    surrogate: Tensor
    z: Tensor
    grad: Tensor | None
    stats: dict[str, Any] = field(default_factory=dict)


class GradientEstimator(Protocol):
    """The uniform interface the trainer calls: ``out = est.surrogate(logits, loss_fn, step, generator)``."""

    needs_loss_fn: bool

    def surrogate(
        self, logits: Tensor, loss_fn: LossFn | None, step: int, generator: torch.Generator | None = None
    ) -> EstimatorOutput: ...


class SampleEstimator:
    """The trainer-facing side of the estimators whose forward pass takes a hard sample z and whose gradient is
    estimated from ``loss_fn`` (direct, local expectation, REINFORCE). A subclass (a frozen dataclass with a
    ``reduction`` field) gives ``estimate(logits, loss_fn, step, generator) -> (grad (B, T', H', W'), sample (B, T')
    flat cell indices, stats)``; :meth:`surrogate` returns z = the sample's one-hot map (detached) and a
    zero-valued surrogate whose gradient is ``grad`` (batch-``reduction``, :func:`surrogate_from_grad`)."""

    needs_loss_fn = True
    reduction: str

    def estimate(self, logits: Tensor, loss_fn: LossFn, step: int,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor, dict[str, Any]]:
        raise NotImplementedError

    def surrogate(
        self, logits: Tensor, loss_fn: LossFn, step: int, generator: torch.Generator | None = None
    ) -> EstimatorOutput:
        grad, sample, stats = self.estimate(logits, loss_fn, step, generator)
        z = one_hot_maps(sample, tuple(logits.shape[-2:]), dtype=logits.dtype)
        return EstimatorOutput(surrogate_from_grad(logits, grad, reduction=self.reduction), z, grad, stats)
