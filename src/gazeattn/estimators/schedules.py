"""ε and τ schedules: frozen dataclasses, pure functions of the global step (``schedule(step) -> float``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

__all__ = [
    "Schedule",
    "Constant",
    "ExponentialDecay",
    "reference_eps_schedule",
]


# Anything mapping the global step to a value; the classes below are frozen dataclasses with that signature.
Schedule = Callable[[int], float]


def _check_step(step: int) -> int:
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return int(step)


@dataclass(frozen=True)
class Constant:
    """``value`` at every step."""

    value: float

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self.value)


@dataclass(frozen=True)
class ExponentialDecay:
    """``max(floor, start · exp(−rate · i))`` with ``i = every · ⌊step / every⌋`` (recomputed every ``every``
    steps)."""

    start: float
    rate: float
    floor: float = 0.0
    every: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("every must be >= 1")

    def __call__(self, step: int) -> float:
        i = (_check_step(step) // self.every) * self.every
        return max(float(self.floor), float(self.start) * math.exp(-float(self.rate) * i))


def reference_eps_schedule() -> ExponentialDecay:
    """The WACV 2021 reference's ε: ``max(0.1, 1000·exp(−0.001·i))``, i floored to a multiple of 100
    (reaches the floor at step 9,300: 1000·e^(−9.2) = 0.101 > 0.1 at 9,200)."""
    return ExponentialDecay(start=1000.0, rate=1e-3, floor=0.1, every=100)

