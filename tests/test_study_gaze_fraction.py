"""The study's view against the gaze budget: cells that differ only in data.gaze_fraction form one curve, cells
without gaze are flat references, a lone fraction makes no curve; the table and the plot."""

from __future__ import annotations

import pytest

from gazeattn.study.gaze_fraction import fraction_curves, fraction_sections, fraction_table
from gazeattn.study.spec import spec_from_dict

SPEC = {
    "study": {"seeds": [0, 1]},
    "worlds": {"w": {"sessions": 2, "clips_per_session": 4}},
    "cells": {
        "i3d": {"model": "i3d"},
        "direct-g100": {"model": "gaze-direct", "set": {"data.gaze_fraction": 1.0}},
        "direct-g10": {"model": "gaze-direct", "set": {"data.gaze_fraction": 0.1}},
        "kl-only-g10": {"model": "gaze-direct", "set": {"data.gaze_fraction": 0.1, "loss.surrogate": 0.0}},
        "kl-only-g30": {"model": "gaze-direct", "set": {"data.gaze_fraction": 0.3, "loss.surrogate": 0.0}},
        "aux-g10": {"model": "gaze-aux", "set": {"data.gaze_fraction": 0.1}},
    },
}


def _summary(mean, half=None, n=3):
    return {"metrics": {"mean_class_accuracy": {"mean": mean, "half_width": half, "n": n,
                                                "lo": None if half is None else mean - half,
                                                "hi": None if half is None else mean + half}}}


CELLS = {"i3d": _summary(60.0, 5.0), "direct-g100": _summary(95.0, 2.0), "direct-g10": _summary(50.0, 10.0),
         "kl-only-g10": _summary(45.0, 4.0), "kl-only-g30": _summary(70.0, None, n=1), "aux-g10": _summary(40.0)}


def test_cells_that_differ_only_in_the_gaze_fraction_form_a_curve():
    spec = spec_from_dict(SPEC)
    curves, references = fraction_curves(spec, CELLS)
    assert list(curves) == ["direct", "kl-only"]  # aux has one fraction: no curve
    assert [(f, s["mean"]) for f, s in curves["direct"]] == [(0.1, 50.0), (1.0, 95.0)]
    assert [f for f, _ in curves["kl-only"]] == [0.1, 0.3]
    assert list(references) == ["i3d"]
    assert fraction_table(curves, references) == [
        "| gaze on training clips | direct | kl-only |", "|---|---:|---:|",
        "| 100 % | 95.0 ± 2.0 (3) | – |", "| 30 % | – | 70.0 (1) |", "| 10 % | 50.0 ± 10.0 (3) | 45.0 ± 4.0 (3) |",
        "| i3d (no gaze) | 60.0 ± 5.0 (3) | 60.0 ± 5.0 (3) |"]
    assert fraction_curves(spec, {"i3d": CELLS["i3d"], "direct-g10": CELLS["direct-g10"]}) == ({}, {
        "i3d": CELLS["i3d"]["metrics"]["mean_class_accuracy"]})


def test_the_sections_write_one_plot_per_world_with_a_curve(tmp_path):
    pytest.importorskip("matplotlib")
    spec = spec_from_dict(SPEC)
    sections = fraction_sections(spec, {"w": CELLS, "empty": {}}, tmp_path, plots=True)
    assert list(sections) == ["w"] and sections["w"]["plot"] == "plots/w-gaze-fraction.png"
    assert (tmp_path / "plots" / "w-gaze-fraction.png").stat().st_size > 1000
    assert fraction_sections(spec, {"w": CELLS}, tmp_path / "none", plots=False)["w"]["plot"] is None
