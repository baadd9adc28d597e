"""The study's training curves: the mean over seeds at the steps every seed logged, and the table's accuracy at
half and at the end of training (trailing mean of 5 records), from each run's log.jsonl."""

from __future__ import annotations

import json
import math

import pytest

from gazeattn.study.training_curves import cell_curves, curve_table, mean_curve, read_train_log


def _log(path, accs, every=20, extra=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"kind": "train", "step": every * (i + 1), "acc": a, "loss": 1 - a}) for i, a in enumerate(accs)]
    path.write_text("\n".join([*lines, *extra]) + "\n")


def test_the_mean_is_taken_at_the_steps_every_seed_logged():
    steps, values = mean_curve([([20, 40, 60], [0.1, 0.2, 0.3]), ([20, 40], [0.3, 0.4])])
    assert steps == [20, 40] and values == pytest.approx([0.2, 0.3])
    assert mean_curve([]) == ([], [])


def test_curves_come_from_each_finished_run_of_the_world(tmp_path):
    _log(tmp_path / "runs/w/a/s0/log.jsonl", [0.1] * 10, extra=['{"kind": "eval", "step": 200, "acc": 9}', "not json"])
    _log(tmp_path / "runs/w/a/s1/log.jsonl", [0.3] * 10)
    _log(tmp_path / "runs/v/a/s0/log.jsonl", [0.9] * 10)  # another world
    records = [{"world": "w", "cell": "a", "run_dir": "runs/w/a/s0"}, {"world": "w", "cell": "a", "run_dir": "runs/w/a/s1"},
               {"world": "v", "cell": "a", "run_dir": "runs/v/a/s0"},
               {"world": "w", "cell": "b", "run_dir": "runs/w/b/s0"}]  # no log: no curve
    curves = cell_curves(records, tmp_path, "w")
    assert list(curves) == ["a"] and len(curves["a"]) == 2
    assert curves["a"][0] == ([20.0 * i for i in range(1, 11)], [0.1] * 10)  # train records only
    assert read_train_log(tmp_path / "missing.jsonl") == []


def test_the_table_gives_half_end_and_the_rise_over_the_second_half():
    steps = [20.0 * i for i in range(1, 11)]  # 20..200: half = step 100 (the 5th record)
    rising = (steps, [0.1 * i for i in range(1, 11)])
    flat = (steps, [0.5] * 10)
    table = curve_table({"rising": [rising], "flat": [flat, flat]})
    assert table[0].startswith("| cell | seeds | steps |")
    rise = table[2].split(" | ")
    # at half: mean of records 1-5 (0.1..0.5) = 0.3; at the end: mean of 6-10 = 0.8
    assert rise[:3] == ["| `rising`", "1", "200"] and float(rise[3]) == pytest.approx(30.0)
    assert float(rise[4]) == pytest.approx(80.0) and rise[5] == "+50.0 |"
    assert table[3].split(" | ")[1:] == ["2", "200", "50.0", "50.0", "+0.0 |"]
    assert not math.isnan(float(rise[3]))


def test_the_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from gazeattn.study.training_curves import plot_training_curves

    path = plot_training_curves("w", {f"c{i}": [([20, 40], [0.1, 0.2 + i / 100])] for i in range(12)},
                                tmp_path / "plots" / "w-training.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
