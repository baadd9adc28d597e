"""Reports: learning curves (matplotlib extra) and the demo's report.md from fabricated logs and pictures."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import pytest

from gazeattn.report import plots
from gazeattn.report.demo import write_demo_report
from gazeattn.report.images import save_png

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


def _png_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return frame.width, frame.height


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")  # a third-party extra (gazeattn[report]; `make test` installs it)
    logs = _logs()
    loss = plots.plot_learning_curves(logs, tmp_path / "loss.png", metric="loss")
    small = plots.plot_learning_curves(logs, tmp_path / "acc.png", metric="acc", size=(5.0, 3.0), dpi=80)
    empty = plots.plot_learning_curves({"x": []}, tmp_path / "empty.png")
    assert _png_size(loss) == _png_size(empty) == (640, 400)
    assert _png_size(small) == (400, 240)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.png", "empty.png", "loss.png"]


def test_series_filters_kind_and_sorts():
    records = [{"kind": "train", "step": 200, "loss": 1.0}, {"kind": "eval", "step": 100, "loss": 9.0},
               {"kind": "train", "step": 100, "loss": 2.0}, {"kind": "train", "step": 300, "loss": float("nan")},
               {"kind": "train", "step": 400}]
    assert plots.series(records, "loss", kind="train") == ([100.0, 200.0], [2.0, 1.0])


STUDY_MD = """# study: a title the demo page drops

## Results

| cell | mean class acc (%) |
|:---|---:|
| direct | 55.0 ± 2.1 |

![accuracy](plots/accuracy.png)
"""


def _demo_report(out: Path) -> str:
    picture = save_png(out / "overlays" / "direct.png", np.zeros((8, 8, 3), np.uint8))
    command = ["gazeattn", "demo", "--out", str(out)]
    path = write_demo_report(out, STUDY_MD, _logs(), {"direct (seed 0) on clip A": picture}, command)
    assert path == out / "report.md"
    return path.read_text(encoding="utf-8")


def test_demo_report_embeds_the_study_curves_and_pictures(tmp_path):
    text = _demo_report(tmp_path / "out")
    assert text.startswith("# gazeattn demo\n") and "a title the demo page drops" not in text
    assert "| direct | 55.0 ± 2.1 |" in text
    assert "![accuracy](study/plots/accuracy.png)" in text  # the study's figures, linked from the demo folder
    assert "### direct (seed 0) on clip A" in text and "(overlays/direct.png)" in text
    assert f"gazeattn demo --out {tmp_path / 'out'}" in text
    if plots.have_matplotlib():
        for metric in ("loss", "acc", "decision_z_sensitivity"):
            assert f"(plots/{metric}.png)" in text
        assert _png_size(tmp_path / "out" / "plots" / "loss.png") == (640, 400)
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temp files left behind


def test_report_without_matplotlib(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert not plots.have_matplotlib()
    with pytest.raises(plots.PlotsUnavailable, match=r"gazeattn\[report\]"):
        plots.plot_learning_curves(_logs(), tmp_path / "loss.png")
    text = _demo_report(tmp_path / "out")
    assert "| direct | 55.0 ± 2.1 |" in text and "### direct (seed 0) on clip A" in text
    assert "matplotlib is not installed" in text and "pip install 'gazeattn[report]'" in text
    assert not (tmp_path / "out" / "plots").exists()
