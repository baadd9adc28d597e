"""The clips of a run, by part: ``train`` (the training split less the validation clips), ``validation`` (the
clips held out of the training split, :mod:`gazeattn.data.validation_split`) and ``test`` (the test split).

One place computes them from a run's ``[data]`` config, so training, ``gazeattn eval --split-part validation`` and
the study's evaluation see exactly the same held-out clips.
"""

from __future__ import annotations

from dataclasses import dataclass

from gazeattn.data.annotations import SplitEntry
from gazeattn.data.source import ClipCatalog
from gazeattn.data.validation_split import ValidationSplit, validation_split

PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class RunSplits:
    """The entries of every part, the whole training split (``training``: for the class count) and the held-out
    split (None without one)."""

    training: list[SplitEntry]
    train: list[SplitEntry]
    validation: list[SplitEntry]
    test: list[SplitEntry]
    held_out: ValidationSplit | None

    def part(self, name: str) -> list[SplitEntry]:
        if name not in PARTS:
            raise ValueError(f"unknown part {name!r}; one of {PARTS}")
        return getattr(self, name)


def held_out_split(data, training: list[SplitEntry]) -> ValidationSplit | None:
    """The validation split of ``data`` (a DataConfig) over the training split's entries; None at fraction 0.
    ValueError naming data.validation_fraction when the fraction holds out no unit or every unit."""
    if data.validation_fraction <= 0:
        return None
    try:
        return validation_split(training, fraction=data.validation_fraction, unit=data.validation_unit,
                                seed=data.validation_seed)
    except ValueError as err:
        raise ValueError(f"data.validation_fraction = {data.validation_fraction:g} (data.validation_unit = "
                         f"{data.validation_unit!r}): {err}") from err


def read_run_splits(layout: ClipCatalog, data, *, test: bool = True) -> RunSplits:
    """Every part of a run with ``data`` (a DataConfig) on ``layout`` (``test`` False: the test split is not read,
    its list is empty); the split files are in ``data.split_dir``, else the dataset's own."""
    def read(part: str) -> list[SplitEntry]:
        return layout.read_split(data.split, part, layout.split_path(data.split, part, data.split_dir))

    training = read("train")
    held = held_out_split(data, training)
    tests = read("test") if test else []
    return RunSplits(training=training, train=list(held.train) if held else training,
                     validation=list(held.validation) if held else [], test=tests, held_out=held)


def validation_entries(layout: ClipCatalog, data) -> list[SplitEntry]:
    """The validation clips of a run with ``data``; ValueError when it holds none out."""
    if data.validation_fraction <= 0:
        raise ValueError("the run holds out no validation clips (data.validation_fraction = 0 in its config)")
    return read_run_splits(layout, data, test=False).validation
