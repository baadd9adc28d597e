"""The demo report: plots (matplotlib extra) and report.md from fabricated logs and results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from gazeattn import plots
from gazeattn.report import format_table, write_report
from gazeattn.viz import save_png

MODELS = ("gaze-direct", "gaze-gumbel", "i3d")


def _logs() -> dict[str, list[dict]]:
    logs = {}
    for m, name in enumerate(MODELS):
        records = []
        for step in range(100, 1001, 100):
            loss = 2.5 / (1 + step / 500) + 0.1 * m
            records.append({"kind": "train", "step": step, "loss": loss, "ce": loss - 0.2, "kl": 0.2, "acc": 0.3,
                            "eps": 10.0, "flip_rate": 0.2, "lr": 0.01})
            if step % 400 == 0:
                records.append({"kind": "eval", "step": step, "mean_class_accuracy": 40.0 + step / 50 + m,
                                "overall_accuracy": 45.0 + step / 50 + m})
        logs[name] = records
    return logs


def _results() -> dict[str, dict]:
    gaze = {"cell_accuracy": 31.25, "aae_deg": 8.5, "auc": 0.8, "precision": 0.3, "recall": 0.4, "f1": 0.34,
            "n_slots": 96, "threshold": 0.1, "fov_deg": 82.0}
    return {
        "gaze-direct": {"mean_class_accuracy": 55.0, "overall_accuracy": 60.0, "n_clips": 32, "gaze": gaze,
                        "train_seconds": 41.2},
        # evaluate() stores the gaze report as a JSON string
        "gaze-gumbel": {"mean_class_accuracy": 51.125, "overall_accuracy": 57.5, "n_clips": 32,
                        "gaze": json.dumps({**gaze, "cell_accuracy": 25.0, "aae_deg": 10.25}), "train_seconds": 40.0},
        "i3d": {"mean_class_accuracy": 48.5, "overall_accuracy": 52.0, "n_clips": 32, "gaze": None,
                "train_seconds": 30.04},
    }


def _png_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return frame.width, frame.height


def test_format_table():
    text = format_table(_results())
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["model", "mean"] and len(lines) == 2 + len(MODELS)
    assert lines[2].split() == ["gaze-direct", "55.00", "60.00", "31.25", "8.50", "41.2", "32"]
    assert lines[3].split() == ["gaze-gumbel", "51.12", "57.50", "25.00", "10.25", "40.0", "32"]
    assert lines[4].split() == ["i3d", "48.50", "52.00", "–", "–", "30.0", "32"]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule align
    # optional columns nobody has are dropped
    bare = format_table({"i3d": {"mean_class_accuracy": 1.0, "overall_accuracy": 2.0}})
    assert "gaze" not in bare and "train" not in bare


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    logs = _logs()
    loss = plots.plot_learning_curves(logs, tmp_path / "loss.png", metric="loss")
    evals = plots.plot_eval_curves(logs, tmp_path / "eval.png")
    bars = plots.plot_accuracy_bars(_results(), tmp_path / "bars.png", size=(5.0, 3.0), dpi=80)
    empty = plots.plot_learning_curves({"x": []}, tmp_path / "empty.png")
    assert _png_size(loss) == _png_size(evals) == _png_size(empty) == (640, 400)
    assert _png_size(bars) == (400, 240)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.png", "empty.png", "eval.png", "loss.png"]


def test_series_filters_kind_and_sorts():
    records = [{"kind": "train", "step": 200, "loss": 1.0}, {"kind": "eval", "step": 100, "loss": 9.0},
               {"kind": "train", "step": 100, "loss": 2.0}, {"kind": "train", "step": 300, "loss": float("nan")},
               {"kind": "train", "step": 400}]
    assert plots.series(records, "loss", kind="train") == ([100.0, 200.0], [2.0, 1.0])


def test_write_report(tmp_path):
    overlay = save_png(tmp_path / "pictures" / "gaze direct.png", np.zeros((8, 8, 3), np.uint8))
    meta = {"command": ["gazeattn", "demo", "--out", "demo_out"], "config": {"steps": 1000, "clip": [24, 64, 64]},
            "seed": 0, "device": "cpu"}
    path = write_report(tmp_path / "out", _results(), _logs(), {"gaze-direct": overlay}, meta)
    assert path == tmp_path / "out" / "report.md"
    text = path.read_text(encoding="utf-8")
    assert "| gaze-direct | 55.00 | 60.00 | 31.25 | 8.50 | 41.2 | 32 |" in text
    assert "| gaze-gumbel | 51.12 | 57.50 | 25.00 | 10.25 | 40.0 | 32 |" in text
    assert "| i3d | 48.50 | 52.00 | – | – | 30.0 | 32 |" in text
    assert "![gaze-direct gaze](../pictures/gaze%20direct.png)" in text
    assert "gazeattn demo --out demo_out" in text and '"steps": 1000' in text and "**seed**: 0" in text
    if plots.have_matplotlib():
        for name in ("accuracy.png", "loss.png", "eval_accuracy.png"):
            assert f"(plots/{name})" in text
            assert _png_size(tmp_path / "out" / "plots" / name) == (640, 400)
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temp files left behind


def test_report_without_matplotlib(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert not plots.have_matplotlib()
    with pytest.raises(plots.PlotsUnavailable, match=r"gazeattn\[report\]"):
        plots.plot_accuracy_bars(_results(), tmp_path / "bars.png")
    path = write_report(tmp_path / "out", _results(), _logs(), {}, {"command": "gazeattn demo"})
    text = path.read_text(encoding="utf-8")
    assert "| gaze-direct | 55.00 | 60.00 |" in text
    assert "Figures were not drawn" in text and "pip install 'gazeattn[report]'" in text
    assert not (tmp_path / "out" / "plots").exists()
