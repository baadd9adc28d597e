"""The README's Python example runs: its code block is docs/examples/predict_clip.py, and that code, run in a
folder holding ``clip.mp4`` and a run folder ``runs/direct`` of a freshly trained tiny gaze-direct model, prints
the top-5 actions and the gaze shape and writes the overlay. So the front page's example cannot rot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from gazeattn.cli import main as gazeattn_main
from tinyworld import SMALL, tiny_world

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "predict_clip.py"


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```$", text, re.M | re.S)]


def test_the_readme_shows_the_example_file_verbatim():
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert EXAMPLE.read_text(encoding="utf-8") in blocks
    assert len(EXAMPLE.read_text(encoding="utf-8").splitlines()) <= 12  # a front-page example stays short


def test_the_readme_example_runs_on_a_trained_checkpoint(tmp_path, monkeypatch, capsys):
    world = tiny_world(tmp_path / "world", seed=7)
    monkeypatch.chdir(tmp_path)
    assert gazeattn_main(["train", "--data", str(world), "--out", "runs/direct", "--model", "gaze-direct",
                          "--steps", "2", *SMALL]) == 0
    clip = sorted((world / "cropped_clips").rglob("*.mp4"))[0]
    shutil.copy(clip, tmp_path / "clip.mp4")
    classes = [line.rsplit(maxsplit=1)[0] for line in
               (world / "action_annotation" / "action_idx.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    capsys.readouterr()

    (code,) = [b for b in python_blocks((ROOT / "README.md").read_text(encoding="utf-8")) if "load_predictor" in b]
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})  # noqa: S102 -- the README's own code

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6, lines
    ranked = [line.rsplit(maxsplit=1) for line in lines[:5]]
    probabilities = [float(p) for _, p in ranked]
    assert all(name.strip() in classes for name, _ in ranked)
    assert probabilities == sorted(probabilities, reverse=True) and np.all(np.isfinite(probabilities))
    assert 0 < sum(probabilities) <= 1.001
    assert lines[5].startswith("gaze q per window and slot: (")
    shape = tuple(int(n) for n in re.findall(r"\d+", lines[5].split(":", 1)[1]))
    assert len(shape) == 4 and min(shape) >= 1, shape  # (windows, T', H', W')
    gif = tmp_path / "clip_gaze.gif"
    assert gif.is_file() and gif.stat().st_size > 0
