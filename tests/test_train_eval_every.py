"""Evaluating during training (``run.eval_every``, on the validation clips or both parts) never changes the
weights: the evaluation's draws from the global RNG (a DataLoader's base seed) are undone before training goes on,
so dropout sees the same stream as in a run that never evaluated."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL, tiny_world  # noqa: E402

from gazeattn.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("eval_every") / "world", seed=3, sessions=3, clips_per_session=6)


def _weights(world: Path, out: Path, *flags: str) -> dict[str, torch.Tensor]:
    assert main(["train", "--data", str(world), "--out", str(out), "--model", "gaze-direct", "--preset", "cpu",
                 "--steps", "6", "--seed", "5", "--set", "data.validation_fraction=0.3", *SMALL, *flags]) == 0
    return load_file(str(out / "checkpoints" / "step_0000006" / "model.safetensors"))


@pytest.mark.parametrize("on", ["validation", "both"])
def test_evaluating_every_three_steps_leaves_the_weights_bit_identical(world, tmp_path, on):
    plain = _weights(world, tmp_path / "plain")
    evaluated = _weights(world, tmp_path / "evaluated", "--set", "run.eval_every=3", "--set", f"run.eval_on={on}")
    assert plain.keys() == evaluated.keys() and all(torch.equal(plain[k], evaluated[k]) for k in plain)
    records = [json.loads(line) for line in (tmp_path / "evaluated" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "eval"], "the run did evaluate during training"
