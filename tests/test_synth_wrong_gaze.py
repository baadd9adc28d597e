"""Wrong gaze in the synthetic worlds (gaze that runs ahead of the hand, tracker drift on a share of fixations)
and the score of predicted and measured gaze against the truly attended cell (``gaze_truth`` of evaluation)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gazeattn.cli import synth as synth_cli
from gazeattn.data.begaze import EVENT_FIXATION, read_begaze_samples
from gazeattn.data.clipnames import parse_clip_name
from gazeattn.data.dataset import ClipConfig, EgteaClips, collate_clips
from gazeattn.data.layout import EgteaLayout
from gazeattn.data.transforms import CropFlip
from gazeattn.data.truth import TRUTH_NAME, ClipTruth, read_truth
from gazeattn.metrics.gaze import gaze_truth_report
from gazeattn.models import GazeAttentionModel, ModelConfig
from gazeattn.study.metrics import run_metrics
from gazeattn.synth import WORLDS, SynthConfig, synth_world, write_synthetic_egtea
from gazeattn.train.evaluate import evaluate, truth_cells_of
from gazeattn.utils.errors import DataError

# exact gaze (no noise, always on the target, every clip with gaze): what the knobs do is all that moves it
EXACT = dict(sessions=2, clips_per_session=3, width=64, height=48, min_frames=24, max_frames=48, seed=5,
             no_gaze_clip_fraction=0.0, test_fraction=0.5, gaze_noise=0.0, gaze_on_target=1.0)
# the CPU preset's geometry at test size: the whole frame squashed to a square, a 5×5 grid
CLIP = ClipConfig(frames=24, crop=40, short_side=40, train_short_side=(40, 40), strides=(8, 8, 8), resize="square")


def fixations(root: Path) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """Per clip: (its truth, clip frames of its fixation samples, their (x, y) less the calibration offset)."""
    truth = json.loads((root / TRUTH_NAME).read_text())
    out = []
    for session, info in truth["sessions"].items():
        s = read_begaze_samples(root / "gaze_data" / f"{session}.txt")
        for name, clip in truth["clips"].items():
            if clip["session"] != session:
                continue
            c = parse_clip_name(name)
            m = (s.frame >= c.start_frame) & (s.frame < c.end_frame) & (s.event == EVENT_FIXATION)
            xy = np.stack([s.x_px[m] / 1280.0, s.y_px[m] / 960.0], axis=1) - info["calibration_offset"]
            out.append(({**clip, "session_truth": info}, s.frame[m] - c.start_frame, xy))
    return out


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wrong_gaze")
    knobs = {"exact": {}, "drift": dict(gaze_offset=0.4, gaze_offset_share=1.0), "lead": dict(gaze_lead=0.5)}
    for name, extra in knobs.items():
        write_synthetic_egtea(root / name, SynthConfig(**EXACT, **extra))
    return {name: root / name for name in knobs}


# ------------------------------------------------------------------------------------------------- the knobs
@pytest.mark.parametrize("knob, value", [("gaze_lead", 1.0), ("gaze_lead", -0.1), ("gaze_offset", 1.5),
                                         ("gaze_offset", float("nan")), ("gaze_offset_share", 1.01),
                                         ("gaze_offset_share", -0.5), ("gaze_lead", "half")])
def test_bad_knobs_are_refused_when_the_config_is_made(knob, value):
    with pytest.raises(ValueError, match=knob):
        SynthConfig(**{knob: value})


def test_defaults_and_the_named_world():
    d = SynthConfig()
    assert (d.gaze_lead, d.gaze_offset, d.gaze_offset_share) == (0.0, 0.0, 0.0)
    w = synth_world("subtle-wronggaze")
    assert w == replace(synth_world("subtle"), gaze_on_target=0.8, gaze_lead=0.15, gaze_offset=0.4,
                        gaze_offset_share=0.1)
    assert WORLDS["subtle-wronggaze"]["gaze_offset"] / 0.2 >= 2  # two cells of the CPU preset's 5×5 grid


def test_an_offset_without_a_share_leaves_every_draw_as_it_was(worlds, tmp_path):
    write_synthetic_egtea(tmp_path / "w", SynthConfig(**EXACT, gaze_offset=0.4))
    for f in (worlds["exact"] / "gaze_data").iterdir():
        assert (tmp_path / "w" / "gaze_data" / f.name).read_bytes() == f.read_bytes()


def test_drift_displaces_every_fixation_by_the_sessions_offset(worlds):
    exact_d, drift_d = [], []
    for (clip, _, xy), (_, _, xy0) in zip(fixations(worlds["drift"]), fixations(worlds["exact"])):
        drift = np.array(clip["session_truth"]["tracker_drift"])
        assert np.isclose(np.abs(drift).max(), 0.4, atol=1e-4)  # 2 cells along at least one axis
        target = np.array(clip["target"]["centre"])
        exact_d.append(np.linalg.norm(xy0 - target[_frames(fixations(worlds["exact"]), clip)], axis=1))
        drift_d.append(np.linalg.norm(xy - drift - target[_frames(fixations(worlds["drift"]), clip)], axis=1))
    exact_d, drift_d = np.concatenate(exact_d), np.concatenate(drift_d)
    assert np.median(drift_d) < 1e-3 and np.mean(drift_d < 1e-3) > 0.8  # gaze = target + drift (+ calibration)
    assert np.median(exact_d) < 1e-3  # the same world without drift is on the target
    sessions = json.loads((worlds["drift"] / TRUTH_NAME).read_text())["sessions"].values()
    assert len({tuple(s["tracker_drift"]) for s in sessions}) == len(sessions)  # drawn per session


def _frames(per_clip, clip) -> np.ndarray:
    return next(f for c, f, _ in per_clip if c["target"] == clip["target"])


def test_gaze_that_runs_ahead_fixates_the_next_object(worlds):
    on_target, on_next = [], []
    for clip, frames, xy in fixations(worlds["lead"]):
        lead = clip["gaze_lead"]
        a0, a1 = clip["action_frames"]
        assert lead["from_frame"] == a1 - round(0.5 * (a1 - a0)) and lead["object"] == 1
        target = np.array(clip["target"]["centre"])[frames]
        other = np.array(clip["objects"][lead["object"]]["centre"])[frames]
        ahead = frames >= lead["from_frame"]
        on_next.append(np.linalg.norm(xy[ahead] - other[ahead], axis=1) < 1e-3)
        on_target.append(np.linalg.norm(xy[~ahead] - target[~ahead], axis=1) < 1e-3)
    assert np.mean(np.concatenate(on_next)) > 0.85 and np.mean(np.concatenate(on_target)) > 0.85
    assert "gaze_lead" not in next(iter(json.loads((worlds["exact"] / TRUTH_NAME).read_text())["clips"].values()))


def test_cli_flags_and_one_line_errors(tmp_path, capsys):
    args = synth_cli.build_parser().parse_args([str(tmp_path / "w"), "--world", "subtle", "--gaze-lead", "0.3",
                                                "--gaze-offset", "0.4", "--gaze-offset-share", "0.25"])
    config = synth_cli.config_from_args(args)
    assert (config.gaze_lead, config.gaze_offset, config.gaze_offset_share, config.hand) == (0.3, 0.4, 0.25, "small")
    assert synth_cli.main([str(tmp_path / "bad"), "--gaze-lead", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazeattn synth: error: gaze_lead must be in [0, 1)") and "\n" not in err
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------------------------------------ the truth
def test_truth_cells_follow_the_target_through_the_crop():
    truth = ClipTruth(np.tile([[0.1, 0.3]], (30, 1)), (4, 20))
    plan = CropFlip(40, 40, 0, 0, 40, 40)
    assert truth.slot_cells(0, 24, plan, (8, 8, 8)).tolist() == [5, 5, 5]  # row 1, column 0 of 5×5
    assert truth.slot_cells(0, 24, replace(plan, flip=True), (8, 8, 8)).tolist() == [9, 9, 9]  # mirrored
    late = ClipTruth(truth.target_xy, (8, 16))
    assert late.slot_cells(0, 24, plan, (8, 8, 8)).tolist() == [-1, 5, -1]  # only slots of the action
    assert truth.slot_cells(24, 24, plan, (8, 8, 8)).tolist() == [-1, -1, -1]  # past the action (padded)


def test_reading_the_truth(tmp_path, worlds):
    assert read_truth(tmp_path) is None
    truth = read_truth(worlds["exact"])
    layout = EgteaLayout(worlds["exact"])
    names = {e.clip.name for e in layout.read_split(1, "train") + layout.read_split(1, "test")}
    assert set(truth) == names and all(t.target_xy.shape[1] == 2 for t in truth.values())
    (tmp_path / TRUTH_NAME).write_text('{"clips": {"x": {"target": {}}}}')
    with pytest.raises(DataError, match=TRUTH_NAME):
        read_truth(tmp_path)


def _truth_and_measured(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    layout = EgteaLayout(root)
    ds = EgteaClips(layout, layout.read_split(1, "test"), CLIP, train=False)
    b = collate_clips([ds[i] for i in range(len(ds))])
    return truth_cells_of(layout, ds, CLIP)(b), b["gaze_cell"]


def test_the_score_is_100_on_the_truth_and_0_off_it(worlds):
    truth, measured = _truth_and_measured(worlds["exact"])
    assert (truth >= 0).sum() >= 6
    onehot = torch.nn.functional.one_hot(truth.clamp(min=0), 25).float().reshape(*truth.shape, 5, 5)
    wrong = torch.roll(onehot.flatten(2), 7, dims=2).reshape_as(onehot)
    assert gaze_truth_report(truth, measured, onehot * 9.0).predicted_cell_accuracy == 100.0
    assert gaze_truth_report(truth, measured, wrong).predicted_cell_accuracy == 0.0
    report = gaze_truth_report(truth, measured)
    assert report.predicted_cell_accuracy is None and report.n_slots == int((truth >= 0).sum())


def test_the_measured_score_drops_with_drift_and_lead(worlds):
    scores = {}
    for name, root in worlds.items():
        truth, measured = _truth_and_measured(root)
        scores[name] = gaze_truth_report(truth, measured).measured_cell_accuracy
    # exact gaze misses only where the calibration offset (<= 0.04) carries a target near a cell border across it
    assert scores["exact"] >= 60.0
    assert scores["drift"] <= 20.0 and scores["lead"] <= scores["exact"] - 15.0, scores


def test_evaluation_reports_gaze_truth_only_on_a_world_with_truth(worlds, tmp_path):
    layout = EgteaLayout(worlds["drift"])
    test = layout.read_split(1, "test")
    torch.manual_seed(0)
    model = GazeAttentionModel(ModelConfig(backbone="tiny", streams="rgb", num_classes=layout.n_actions(test),
                                           attention="min2021", clip=(24, 40, 40), strides=(8, 8, 8),
                                           tiny_widths=(4, 8, 8, 12, 16), head_channels=(4, 4)))
    result = evaluate(model, layout, test, CLIP, variant="gaze-direct", batch=4)
    truth = result["gaze_truth"]
    assert truth["n_slots"] >= 6 and 0.0 <= truth["predicted_cell_accuracy"] <= 100.0
    assert truth["measured_cell_accuracy"] <= 20.0
    flat = run_metrics(json.loads(json.dumps(result)))
    assert flat["gaze_truth.measured_cell_accuracy"] == truth["measured_cell_accuracy"]
    assert flat["gaze_truth.predicted_cell_accuracy"] == truth["predicted_cell_accuracy"]
    (worlds["drift"] / TRUTH_NAME).rename(tmp_path / TRUTH_NAME)
    try:
        assert evaluate(model, layout, test, CLIP, variant="gaze-direct", batch=4)["gaze_truth"] is None
    finally:
        (tmp_path / TRUTH_NAME).rename(worlds["drift"] / TRUTH_NAME)


def test_the_eval_command_prints_and_saves_gaze_truth(worlds, tmp_path, capsys):
    from gazeattn.cli import main
    from tinyworld import SMALL

    out = tmp_path / "run"
    assert main(["train", "--data", str(worlds["lead"]), "--out", str(out), "--steps", "2", *SMALL, "--batch", "2"]) == 0
    capsys.readouterr()
    saved = tmp_path / "eval.json"
    assert main(["eval", "--run", str(out), "--out", str(saved)]) == 0
    printed = capsys.readouterr().out
    assert "gaze against the truly attended cell (synthetic truth): predicted_cell_accuracy" in printed
    truth = json.loads(saved.read_text())["gaze_truth"]
    assert set(truth) == {"predicted_cell_accuracy", "measured_cell_accuracy", "n_slots", "n_measured_slots"}
    assert truth["n_slots"] > 0


def test_training_never_reads_the_truth(worlds, tmp_path):
    import shutil

    from gazeattn.cli import main
    from tinyworld import SMALL

    world = shutil.copytree(worlds["exact"], tmp_path / "world")
    (world / TRUTH_NAME).write_text("not the truth")  # evaluation would refuse it (test_reading_the_truth)
    assert main(["train", "--data", str(world), "--out", str(tmp_path / "run"), "--steps", "2", *SMALL,
                 "--batch", "2"]) == 0
