"""Estimator code only the tests use (moved out of the package): the trainer-facing exact-enumeration estimator
(an oracle with the ``surrogate`` interface), and ε/τ schedules no command builds (linear, cosine, and the
Gumbel-Softmax paper's temperature)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gazeattn.estimators import DEFAULT_MAX_MAPS, EstimatorOutput, ExponentialDecay, LossFn, exact_moments
from gazeattn.estimators import gumbel_argmax, one_hot_maps, surrogate_from_grad
from gazeattn.estimators.gumbel import resolve_gumbel
from gazeattn.estimators.schedules import _check_step  # the schedules' own step check, not a copy


@dataclass(frozen=True)
class ExactEnumeration:
    """Trainer-facing exact gradient (tiny grids only); ``out.z`` is a Gumbel-Max sample (detached one-hot)."""

    max_maps: int = DEFAULT_MAX_MAPS
    chunk_size: int = 8192
    reduction: str = "mean"
    needs_loss_fn: bool = True

    def surrogate(
        self, logits: Tensor, loss_fn: LossFn, step: int, generator: torch.Generator | None = None
    ) -> EstimatorOutput:
        expected, grad = exact_moments(logits, loss_fn, max_maps=self.max_maps, chunk_size=self.chunk_size)
        grid = tuple(logits.shape[-2:])
        z = one_hot_maps(gumbel_argmax(logits, resolve_gumbel(logits, None, generator)), grid, dtype=logits.dtype)
        n_maps = (grid[0] * grid[1]) ** logits.shape[1]
        stats = {"expected_loss": float(expected.mean()), "loss_evals": logits.shape[0] * n_maps}
        grad = grad.to(logits.dtype)
        return EstimatorOutput(surrogate_from_grad(logits, grad, reduction=self.reduction), z, grad, stats)


@dataclass(frozen=True)
class LinearSchedule:
    """Linear from ``start`` (step 0) to ``end`` (step ``steps``), constant afterwards."""

    start: float
    end: float
    steps: int

    def __call__(self, step: int) -> float:
        frac = min(1.0, _check_step(step) / max(1, self.steps))
        return float(self.start) + (float(self.end) - float(self.start)) * frac


@dataclass(frozen=True)
class CosineSchedule:
    """Half-cosine from ``start`` (step 0) to ``end`` (step ``steps``), constant afterwards."""

    start: float
    end: float
    steps: int

    def __call__(self, step: int) -> float:
        frac = min(1.0, _check_step(step) / max(1, self.steps))
        return float(self.end) + 0.5 * (float(self.start) - float(self.end)) * (1.0 + math.cos(math.pi * frac))


def jang_tau_schedule(rate: float = 1e-4, floor: float = 0.5, every: int = 500) -> ExponentialDecay:
    """Jang et al. (ICLR 2017) Gumbel-Softmax temperature: ``max(0.5, exp(−r·step))`` updated every N steps."""
    return ExponentialDecay(start=1.0, rate=rate, floor=floor, every=every)
