"""Gumbel-Softmax / Concrete relaxation and its straight-through variant (Jang et al. 2017; Maddison et al. 2017),
the baseline of Li, Liu & Rehg (ECCV 2018).

Relaxed sample per slot: y_t = softmax((θ_t + γ_t)/τ). The estimate is the autograd gradient of L(y):

* Gumbel-Softmax (``hard=False``): ĝ = ∇_θ L(softmax((θ + γ)/τ)) -- an unbiased estimate of the gradient of the
  *relaxed* objective E_γ[L(y)], hence a biased estimate of ∇ E_q[L] for τ > 0 (L evaluated off the simplex's
  vertices); the bias vanishes as τ → 0 while the variance grows.
* Straight-through (``hard=True``): forward y_hard = onehot(argmax(θ + γ)) (an exact sample of q), backward the
  soft Jacobian: ĝ = (∂y/∂θ)ᵀ ∇_z L(z)|_{z=y_hard}. Biased for τ > 0; as τ → 0 the bias vanishes when L is
  linear in each slot's z (E[soft Jacobian] → ∂q/∂θ), but not in general when L is nonlinear in a slot's z
  (e.g. through the attention sigmoid).

``loss_fn`` must be differentiable in z; it is called on (B, 1, T', H', W').
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gazeattn.estimators.base import EstimatorOutput
from gazeattn.estimators.gumbel import gumbel_argmax, one_hot_maps, resolve_gumbel
from gazeattn.estimators.losses import LossFn, total_loss
from gazeattn.estimators.schedules import Constant, Schedule

__all__ = ["relaxed_sample", "gumbel_softmax_gradient", "straight_through_gradient", "GumbelSoftmax"]


def relaxed_sample(logits: Tensor, gumbel: Tensor, tau: float, hard: bool = False) -> Tensor:
    """Differentiable gaze map (B, T', H', W'): per slot ``softmax((logits + gumbel)/tau)`` over the cells.

    ``hard=True``: the value is the one-hot Gumbel-Max sample (argmax in float64), the gradient that of the soft
    sample (straight-through: ``y_hard − y.detach() + y``).
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if gumbel.shape != logits.shape:
        raise ValueError(f"gumbel {tuple(gumbel.shape)} must be shaped like logits {tuple(logits.shape)}")
    grid = tuple(logits.shape[-2:])
    y = torch.softmax((logits + gumbel.to(logits.dtype)).flatten(-2) / tau, dim=-1).unflatten(-1, grid)
    if not hard:
        return y
    y_hard = one_hot_maps(gumbel_argmax(logits, gumbel), grid, dtype=y.dtype)
    return y_hard - y.detach() + y


def gumbel_softmax_gradient(
    logits: Tensor,
    gumbel: Tensor | None,
    loss_fn: LossFn,
    tau: float,
    hard: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """(Straight-through if ``hard``) Gumbel-Softmax estimate of ∇_logits E_q[L], shaped like logits (biased)."""
    gumbel = resolve_gumbel(logits, gumbel, generator)
    theta = logits.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        z = relaxed_sample(theta, gumbel, tau, hard).unsqueeze(1)  # (B, 1, T', H', W')
        loss = total_loss(loss_fn(z))
        if tuple(loss.shape) != (logits.shape[0], 1):
            raise ValueError(f"loss_fn must return (B, 1) losses here, got {tuple(loss.shape)}")
        (grad,) = torch.autograd.grad(loss.sum(), theta, allow_unused=True)
    return torch.zeros_like(logits) if grad is None else grad.detach()


def straight_through_gradient(
    logits: Tensor, gumbel: Tensor | None, loss_fn: LossFn, tau: float, *, generator: torch.Generator | None = None
) -> Tensor:
    """Straight-through Gumbel-Softmax estimate (biased; see the module docstring and gumbel_softmax_gradient)."""
    return gumbel_softmax_gradient(logits, gumbel, loss_fn, tau, hard=True, generator=generator)


@dataclass(frozen=True)
class GumbelSoftmax:
    """Trainer-facing (straight-through) Gumbel-Softmax with τ = ``tau_schedule(step)``.

    The gradient flows through autograd of the trainer's own loss on ``out.z`` (a relaxed sample attached to the
    logits' graph), so ``loss_fn`` is not called (may be None), ``out.grad`` is None and ``out.surrogate`` is 0.
    """

    tau_schedule: Schedule = Constant(1.0)
    hard: bool = False
    needs_loss_fn: bool = False

    def surrogate(
        self, logits: Tensor, loss_fn: LossFn | None, step: int, generator: torch.Generator | None = None
    ) -> EstimatorOutput:
        tau = float(self.tau_schedule(step))
        gumbel = resolve_gumbel(logits, None, generator)
        z = relaxed_sample(logits, gumbel, tau, self.hard)
        zero = torch.zeros((), dtype=logits.dtype, device=logits.device)
        return EstimatorOutput(zero, z, None, {"tau": tau, "loss_evals": 0})
