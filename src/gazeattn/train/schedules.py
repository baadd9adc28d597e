"""The three schedules of a run, side by side: each a pure function of the global step (0-based), built from the
training config.

- learning rate (``[optim]``): ``step`` (``lr`` × ``gamma`` at each milestone) or ``cosine`` (half-cosine from
  ``lr`` to 0 over ``run.steps``), times a linear warm-up over the first ``warmup_steps``; the loop sets it on
  the optimizer before every step;
- ε of direct optimization (``[estimator]``): ``reference`` (the WACV 2021 reference's
  ``max(0.1, 1000·exp(−0.001·i))``, i floored to a multiple of 100), ``constant`` (``eps``) or ``exponential``
  (``max(eps_floor, eps·exp(−eps_rate·i))``, i floored to a multiple of ``eps_every``);
- τ of (straight-through) Gumbel-Softmax (``[estimator]``): ``tau``, or ``max(tau_floor, tau·exp(−tau_rate·i))``
  with i floored to a multiple of 100 when ``tau_rate`` > 0.

ε and τ are :mod:`gazeattn.estimators.schedules` objects handed to the estimator, which reads them at every step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gazeattn.estimators.schedules import Constant, ExponentialDecay, Schedule, reference_eps_schedule

if TYPE_CHECKING:  # annotations only: the config imports the variants, which use these schedules
    from gazeattn.train.config import TrainConfig

__all__ = ["learning_rate", "eps_schedule", "tau_schedule"]


def learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate of ``step`` of a run of ``config.run.steps`` steps."""
    o = config.optim
    if o.lr_schedule == "cosine":
        lr = o.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, config.run.steps) / max(1, config.run.steps)))
    else:
        lr = o.lr * (o.gamma ** sum(step >= m for m in o.milestones))
    if o.warmup_steps and step < o.warmup_steps:
        lr *= (step + 1) / o.warmup_steps
    return lr


def eps_schedule(config: TrainConfig) -> Schedule:
    e = config.estimator
    if e.eps_schedule == "reference":
        return reference_eps_schedule()
    if e.eps_schedule == "constant":
        return Constant(e.eps)
    return ExponentialDecay(start=e.eps, rate=e.eps_rate, floor=e.eps_floor, every=e.eps_every)


def tau_schedule(config: TrainConfig) -> Schedule:
    e = config.estimator
    if e.tau_rate == 0:
        return Constant(e.tau)
    return ExponentialDecay(start=e.tau, rate=e.tau_rate, floor=e.tau_floor, every=100)
