"""The training loop's bookkeeping: a log record holds the means of its window's trained steps, counts the
steps without a readable clip, and the window starts over after every record."""

from __future__ import annotations

import json

import pytest
import torch

from gazeattn.train.bookkeeping import MetricsWindow, RunLog, report_skips


def _terms(loss: float, correct: int, stats: dict[str, float] | None = None) -> dict:
    return {"loss": torch.tensor(loss), "ce": torch.tensor(loss - 0.5), "kl": torch.tensor(0.5),
            "correct": torch.tensor(correct), "stats": stats or {}}


def test_a_record_holds_the_means_of_the_trained_steps_in_the_log_order():
    window = MetricsWindow()
    window.add_step(_terms(2.0, 3, {"eps": 10.0, "loss": 9.0}), torch.tensor(1.0), clips=4, data_wait=0.25)
    window.add_step_without_clips()
    window.add_step(_terms(1.0, 1, {"eps": 20.0, "loss": 7.0}), torch.tensor(3.0), clips=4, data_wait=0.75)
    assert window.accuracy == 0.5
    record = window.record(step=3, lr=0.1, world=2)
    assert list(record) == ["kind", "step", "lr", "world", "acc", "seconds", "data_wait_s", "loss", "ce", "kl",
                            "grad_norm", "eps", "est_loss", "steps_without_clips"]
    assert record["kind"] == "train" and (record["step"], record["lr"], record["world"]) == (3, 0.1, 2)
    assert record["acc"] == 0.5 and record["steps_without_clips"] == 1 and record["seconds"] >= 0
    # means per trained step (2 of the 3), the estimator's own "loss" statistic kept apart from the loss
    assert (record["data_wait_s"], record["loss"], record["ce"], record["kl"], record["grad_norm"]) == \
        (0.5, 1.5, 1.0, 0.5, 2.0)
    assert (record["eps"], record["est_loss"]) == (15.0, 8.0)


def test_a_window_of_only_steps_without_clips_has_no_loss_and_the_window_starts_over():
    window = MetricsWindow()
    window.add_step(_terms(2.0, 1), torch.tensor(1.0), clips=2, data_wait=0.0)
    window.record(step=1, lr=0.1, world=1)
    window.add_step_without_clips()
    window.add_step_without_clips()
    record = window.record(step=3, lr=0.1, world=1)
    assert list(record) == ["kind", "step", "lr", "world", "seconds", "steps_without_clips"]
    assert record["steps_without_clips"] == 2
    empty = window.record(step=4, lr=0.1, world=1)
    assert list(empty) == ["kind", "step", "lr", "world", "seconds"]


def test_the_run_log_appends_one_json_line_per_record_on_rank_0_only(tmp_path):
    said = []
    RunLog(tmp_path, enabled=True, tensorboard=False, say=said.append).write({"kind": "train", "step": 1},
                                                                            last_checkpoint=None)
    RunLog(tmp_path, enabled=False, tensorboard=False, say=said.append).write({"kind": "train", "step": 2},
                                                                             last_checkpoint=None)
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1] and said == []


class _Dataset:
    sessions_without_gaze = ["P01"]
    clips_beyond_gaze = [("P01-clip", 3, 24)]

    def __init__(self, skipped):
        self.skipped = skipped

    def all_skipped(self):
        return self.skipped


@pytest.mark.parametrize("skipped, steps, lines", [([], 0, 0), ([("a", "truncated")], 0, 2), ([], 2, 1)])
def test_the_skip_report_lists_the_clips_and_steps_left_out(tmp_path, skipped, steps, lines):
    said: list[str] = []
    report_skips(tmp_path, _Dataset(skipped), steps, write=True, say=said.append)
    report = json.loads((tmp_path / "skipped.json").read_text())
    assert report == {"clips": [{"clip": c, "reason": r} for c, r in skipped], "steps_without_clips": steps,
                      "sessions_without_gaze": ["P01"],
                      "clips_beyond_gaze": [{"clip": "P01-clip", "untracked_frames": 3, "frames": 24}]}
    assert len(said) == lines
    if lines:
        assert said[0].startswith(f"skipped {len(skipped)} unreadable clip(s); {steps} step(s) had no readable clip")
    report_skips(tmp_path / "other", _Dataset(skipped), steps, write=False, say=said.append)  # ranks other than 0
    assert not (tmp_path / "other").exists()
