"""The gaze budget: which training clips keep their measured gaze, when only a share of them may.

Most egocentric video has no eye tracking; a model that needs gaze on only a few clips is trained by keeping the
measured gaze of a chosen share of the training clips and reading every other clip as if its session had no
gaze file (every frame untracked). The dataset's files are never changed.

:func:`gaze_budget` is a pure function of (seed, the training clips, fraction, unit):

- ``unit="clips"``: keep ``k = floor(fraction · n + 1/2)`` of the ``n`` distinct clip names (round half up);
- ``unit="sessions"``: keep the same rounding of the distinct sessions, with all their clips (as when whole
  recordings are lost).

Each unit gets a rank key, the SHA-256 of ``"{seed}:{name}"``; the ``k`` units of smallest key are kept (ties,
never seen in practice, go to the name). So the choice does not depend on the order of the clip list, differs
from seed to seed, and is nested: for one seed, the units kept at a fraction are kept at every larger fraction
(the 10 % clips are among the 30 % clips).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterable

from gazeattn.data.clipnames import ClipName

BUDGET_UNITS = ("clips", "sessions")


@dataclass(frozen=True)
class GazeBudget:
    """The clips whose measured gaze is kept (``kept``: clip names) out of ``n_clips``, and the units counted."""

    kept: frozenset[str]
    n_clips: int
    kept_units: int
    n_units: int
    fraction: float
    unit: str
    seed: int

    def describe(self) -> str:
        """One line for the start of training."""
        head = f"gaze budget: measured gaze kept on {len(self.kept)} of {self.n_clips} training clips"
        if self.unit == "sessions":
            head += f" ({self.kept_units} of {self.n_units} sessions)"
        return f"{head} ({100 * self.fraction:g} %, unit {self.unit}, seed {self.seed})"


def budget_count(fraction: float, n: int) -> int:
    """How many of ``n`` units a fraction keeps: ``floor(fraction · n + 1/2)`` (round half up), within 0..n."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"gaze fraction must be in [0, 1], got {fraction}")
    return min(n, max(0, math.floor(fraction * n + 0.5)))


def rank_key(key: str, name: str) -> tuple[bytes, str]:
    """The rank of a unit ``name`` under ``key`` (a seed, written as text): the SHA-256 of ``"{key}:{name}"``, ties
    (never seen in practice) going to the name."""
    return hashlib.sha256(f"{key}:{name}".encode("utf-8")).digest(), name


@dataclass(frozen=True)
class SeededChoice:
    """The clips (names) of the ``k`` units of smallest :func:`rank_key` out of ``n_units``, over ``n_clips``."""

    clips: frozenset[str]
    n_clips: int
    k: int
    n_units: int


def seeded_choice(clips: Iterable[ClipName], *, fraction: float, unit: str, key: str) -> SeededChoice:
    """The ``budget_count(fraction, n)`` units (distinct clip names, or sessions with all their clips) of smallest
    rank under ``key``: a pure function of (key, the set of clips, fraction, unit); duplicates count once. Shared by
    the gaze budget and the validation split (:mod:`gazeattn.data.validation_split`)."""
    session_of = {c.name: c.session for c in clips}
    units = sorted(set(session_of.values())) if unit == "sessions" else sorted(session_of)
    k = budget_count(fraction, len(units))
    chosen = set(sorted(units, key=lambda name: rank_key(key, name))[:k])
    picked = frozenset(name for name, session in session_of.items()
                       if (session if unit == "sessions" else name) in chosen)
    return SeededChoice(clips=picked, n_clips=len(session_of), k=k, n_units=len(units))


def gaze_budget(clips: Iterable[ClipName], *, fraction: float, unit: str = "clips", seed: int = 0) -> GazeBudget:
    """The clips that keep their measured gaze (see the module docstring); duplicates in ``clips`` count once."""
    if unit not in BUDGET_UNITS:
        raise ValueError(f"gaze budget unit must be one of {BUDGET_UNITS}, got {unit!r}")
    choice = seeded_choice(clips, fraction=fraction, unit=unit, key=str(seed))
    return GazeBudget(kept=choice.clips, n_clips=choice.n_clips, kept_units=choice.k, n_units=choice.n_units,
                      fraction=fraction, unit=unit, seed=seed)
