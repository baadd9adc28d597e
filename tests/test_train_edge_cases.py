"""Edge cases of a run: a step whose clips were all skipped still gets its checkpoint, log record and evaluation;
the gaze head is copied from the backbone once; a garbage ``latest`` is shown escaped and short; a gaze-aux model
has no attention map in `predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gazeattn.cli import main
from gazeattn.models import GazeAttentionModel, ModelConfig, build_model, save_model
from gazeattn.runs.checkpoints import checkpoint_root, list_checkpoints, load_latest, save_checkpoint
from videotools import numbered_frames, write_mp4
from tinyworld import SMALL, tiny_world



@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("review") / "egtea", seed=6)


def _config(world: Path, *sets: str):
    from gazeattn.cli.train import build_parser, config_from_args

    flags = [x for s in sets for x in ("--set", s)]
    return config_from_args(build_parser().parse_args(["--data", str(world), "--out", "unused", "--steps", "4",
                                                       "--on-bad-clip", "skip", *flags, *SMALL]))


# -- --on-bad-clip skip: a step without a readable clip keeps its bookkeeping -----------------------------------

def test_a_step_whose_clips_were_all_skipped_still_checkpoints_logs_and_evaluates(world, tmp_path, monkeypatch):
    """Steps 2 and 4 (of 4) lose every clip: the checkpoint due at step 2 and the final one are written,
    TrainResult.checkpoint names step 4, the log has a record at every step, the evaluation due at step 2 runs."""
    from gazeattn.train import engine

    real, calls = engine.collate_clips, []

    def collate(batch):
        calls.append(len(batch))
        return None if len(calls) in (2, 4) else real(batch)  # as if every clip of the batch failed to decode

    monkeypatch.setattr(engine, "collate_clips", collate)
    out = tmp_path / "run"
    result = engine.train(_config(world, "run.checkpoint_every=2", "run.log_every=1", "run.eval_every=2"), out,
                          progress=False)
    assert len(calls) == 4
    assert result.step == 4 and result.checkpoint == checkpoint_root(out) / "step_0000004"
    assert [p.name for p in list_checkpoints(out)] == ["step_0000002", "step_0000004"]
    assert (checkpoint_root(out) / "latest").read_text().strip() == "step_0000004"
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    train = {r["step"]: r for r in records if r["kind"] == "train"}
    assert sorted(train) == [1, 2, 3, 4]
    assert "loss" in train[1] and "loss" not in train[2] and train[2]["steps_without_clips"] == 1
    assert [r["step"] for r in records if r["kind"] == "eval"] == [2]
    assert json.loads((out / "skipped.json").read_text())["steps_without_clips"] == 2


# -- pretrained weights: the gaze head is initialised from the backbone once ------------------------------------

def test_pretrained_weights_copy_the_gaze_head_from_the_backbone_once(world, monkeypatch, capsys):
    import gazeattn.models.weights.piergiaj as weights
    from gazeattn.train import engine

    model = build_model(ModelConfig(backbone="i3d", streams="rgb", num_classes=5, gaze_head_init="backbone"))
    torch.manual_seed(1)
    source = {k: torch.randn_like(v) if v.is_floating_point() else v
              for k, v in model.backbone.model_rgb.state_dict().items()}
    monkeypatch.setattr(weights, "read_i3d_weights", lambda path: dict(source))
    copies = []
    real = GazeAttentionModel.init_gaze_head_from_backbone

    def counted(self):
        copies.append(1)
        return real(self)

    monkeypatch.setattr(GazeAttentionModel, "init_gaze_head_from_backbone", counted)
    config = _config(world, "model.pretrained=rgb_imagenet.pt", "model.gaze_head_init=backbone")
    engine._load_pretrained(model, config, print)
    assert len(copies) == 1
    assert torch.equal(model.gaze_head.Mixed_5c.b0.conv3d.weight, source["Mixed_5c.b0.conv3d.weight"])


# -- a garbage `latest` pointer ----------------------------------------------------------------------------------

def test_a_garbage_latest_pointer_is_shown_escaped_and_short(tmp_path, caplog):
    config = ModelConfig(backbone="tiny", num_classes=3, clip=(8, 32, 32), strides=(8, 16, 16))
    run = tmp_path / "run"
    save_checkpoint(run, model=build_model(config), state={"step": 1}, meta={}, step=1)
    (checkpoint_root(run) / "latest").write_bytes(b"\x1b[2J\x1b]0;owned\x07" + b"A" * 100_000 + b"\n")
    assert load_latest(run).path.name == "step_0000001"
    message = next(r.getMessage() for r in caplog.records if "not a checkpoint folder" in r.getMessage())
    shown = message.split(" names ", 1)[1].split(", which is not", 1)[0]
    assert shown.startswith("'\\x1b[2J\\x1b]0;owned\\x07AAA") and shown.endswith("...") and len(shown) <= 60
    assert "\x1b" not in message and "\x07" not in message and len(message) < 400


# -- predict on a gaze-aux model (a gaze head, no attention) -----------------------------------------------------

def test_predict_on_a_gaze_aux_model_reports_no_attention_map(tmp_path, capsys):
    from gazeattn.inference import load_predictor
    from gazeattn.report.overlays import no_attention_panel, panel_pair

    config = ModelConfig(backbone="tiny", streams="rgb", clip=(24, 64, 64), strides=(8, 16, 16), num_classes=5,
                         attention="none", gaze_head=True)
    folder = tmp_path / "aux"
    folder.mkdir()
    torch.manual_seed(0)
    save_model(build_model(config), folder / "model.safetensors")
    (folder / "meta.json").write_text(json.dumps({"class_names": list("abcde"),
                                                  "clip": {"frames": 24, "crop": 64, "short_side": 72}}))
    video = write_mp4(tmp_path / "clip.mp4", numbered_frames(30, height=72, width=96))
    pred = load_predictor(folder).predict(video)
    assert pred.gaze is not None and pred.attention is None  # q is reported; z is not an attention map
    crop = 64
    np.testing.assert_array_equal(panel_pair(pred, 0, 0)[:, crop + 4:], no_attention_panel(pred.frames[0, 0]))

    overlay = tmp_path / "aux.png"
    assert main(["predict", str(video), "--checkpoint", str(folder), "--json", "--overlay", str(overlay)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["attention_map"] is False and out["grid"] == [3, 4, 4] and out["overlay"] == str(overlay)
    assert main(["predict", str(video), "--checkpoint", str(folder)]) == 0
    assert "no attention map" in capsys.readouterr().out
