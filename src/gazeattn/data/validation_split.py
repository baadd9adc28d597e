"""The validation split: training clips held out of training, so that settings (learning rate, steps) are chosen
without ever looking at the test split.

:func:`validation_split` is a pure function of (seed, the training split's entries, fraction, unit), as the gaze
budget's choice is (:func:`gazeattn.data.gaze_budget.seeded_choice`, whose helpers it uses):

- ``unit="clips"``: hold out ``k = floor(fraction · n + 1/2)`` of the ``n`` distinct clip names (round half up);
- ``unit="sessions"``: hold out the same rounding of the distinct sessions, with all their clips, so that no
  recording has clips on both sides.

Each unit's rank key is the SHA-256 of ``"validation-{seed}:{name}"``; the ``k`` units of smallest key are held out.
So the split does not depend on the order of the split file, and is nested in the fraction for one seed; the
``validation-`` prefix makes it independent of the gaze budget's choice at the same seed. Both sides keep the split
file's order, and ``fraction`` 0 holds out nothing (the training entries as they are).

``fraction`` is at most 0.5, and a fraction > 0 must hold out at least one unit and leave at least one: a refusal
names the counts (e.g. 0.1 of 2 sessions rounds to 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from gazeattn.data.annotations import SplitEntry
from gazeattn.data.gaze_budget import BUDGET_UNITS, seeded_choice

VALIDATION_UNITS = BUDGET_UNITS  # "clips", or "sessions" (whole recordings held out)
MAX_VALIDATION_FRACTION = 0.5


@dataclass(frozen=True)
class ValidationSplit:
    """The training split's entries cut in two: ``train`` (trained on) and ``validation`` (held out), each in the
    split file's order, with the units counted."""

    train: tuple[SplitEntry, ...]
    validation: tuple[SplitEntry, ...]
    held_out_units: int
    n_units: int
    fraction: float
    unit: str
    seed: int

    def describe(self) -> str:
        """One line for the start of training."""
        n = len(self.train) + len(self.validation)
        sessions = f"{self.held_out_units} of {self.n_units} sessions, " if self.unit == "sessions" else ""
        return (f"validation: {len(self.validation)} of {n} training clips held out ({sessions}"
                f"{100 * self.fraction:g} %, unit {self.unit}, seed {self.seed})")


def validation_split(entries: Iterable[SplitEntry], *, fraction: float, unit: str = "clips",
                     seed: int = 0) -> ValidationSplit:
    """Hold out ``fraction`` of the training ``entries`` (see the module docstring); ValueError for a unit not in
    VALIDATION_UNITS, a fraction outside [0, 0.5], or one that holds out no unit or every unit."""
    if unit not in VALIDATION_UNITS:
        raise ValueError(f"validation unit must be one of {VALIDATION_UNITS}, got {unit!r}")
    if not 0.0 <= fraction <= MAX_VALIDATION_FRACTION:  # NaN fails too
        raise ValueError(f"validation fraction must be in [0, {MAX_VALIDATION_FRACTION}], got {fraction}")
    entries = tuple(entries)
    choice = seeded_choice((e.clip for e in entries), fraction=fraction, unit=unit, key=f"validation-{seed}")
    if fraction > 0 and not 0 < choice.k < choice.n_units:
        raise ValueError(f"validation fraction {fraction:g} of the {choice.n_units} {unit} of the training split "
                         f"holds out {choice.k}: it must hold out at least one and leave at least one (use a "
                         f"{'larger' if choice.k == 0 else 'smaller'} fraction"
                         f"{', or unit clips' if unit == 'sessions' else ''})")
    held = choice.clips
    return ValidationSplit(train=tuple(e for e in entries if e.clip.name not in held),
                           validation=tuple(e for e in entries if e.clip.name in held),
                           held_out_units=choice.k, n_units=choice.n_units, fraction=fraction, unit=unit, seed=seed)
