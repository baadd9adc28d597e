"""`gazeattn eval` reads the split files a run was trained with (its ``data.split_dir``), as the study does, unless
``--split-dir`` names others; with ``--data`` (another dataset) that dataset's own files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL, tiny_world  # noqa: E402

from gazeattn.cli import main  # noqa: E402
from gazeattn.study.runner import evaluate_run  # noqa: E402


@pytest.fixture(scope="module")
def run_with_split_dir(tmp_path_factory):
    """A tiny run trained with data.split_dir: a folder whose test split keeps only the first two test clips."""
    root = tmp_path_factory.mktemp("splitdir")
    world = tiny_world(root / "world", seed=7, sessions=3, clips_per_session=6)
    own = world / "action_annotation"
    splits = root / "splits"
    splits.mkdir()
    shutil.copy(own / "train_split1.txt", splits / "train_split1.txt")
    test_lines = (own / "test_split1.txt").read_text().splitlines()
    assert len(test_lines) > 2
    (splits / "test_split1.txt").write_text("\n".join(test_lines[:2]) + "\n")
    run = root / "run"
    assert main(["train", "--data", str(world), "--out", str(run), "--model", "gaze-direct", "--preset", "cpu",
                 "--steps", "2", "--set", f"data.split_dir={splits}", *SMALL]) == 0
    return world, run, len(test_lines)


def _eval(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "eval.json"
    assert main(["eval", *args, "--workers", "0", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_eval_reads_the_run_s_split_dir_like_the_study(run_with_split_dir, tmp_path):
    world, run, n_own = run_with_split_dir
    result = _eval(tmp_path, "--run", str(run))
    assert result["n_clips"] == 2
    study = evaluate_run(run)
    assert study["n_clips"] == 2
    assert study["mean_class_accuracy"] == result["mean_class_accuracy"]
    assert study["confusion"] == result["confusion"]


def test_split_dir_and_another_dataset_read_other_split_files(run_with_split_dir, tmp_path):
    world, run, n_own = run_with_split_dir
    assert _eval(tmp_path, "--run", str(run), "--split-dir", str(world / "action_annotation"))["n_clips"] == n_own
    copy = tmp_path / "copy"
    shutil.copytree(world, copy)
    assert _eval(tmp_path, "--run", str(run), "--data", str(copy))["n_clips"] == n_own
