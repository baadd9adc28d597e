"""Self-verifying weights: every .safetensors we write carries the SHA-256 of its tensors in its header, and every
loader (predict, eval, resume, weight import) recomputes it, so a damaged file alone is refused naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gazeattn.cli import main
from gazeattn.models import ModelConfig, build_model, save_model
from gazeattn.models.weights import (
    DIGEST_KEY,
    MODEL_FORMAT,
    WeightsError,
    load_model,
    load_stream_weights,
    read_i3d_weights,
    save_i3d_weights,
    tensor_digest,
)
from gazeattn.runs.checkpoints import CheckpointError, load_checkpoint, load_latest, save_checkpoint, sha256_file
from videotools import numbered_frames, write_mp4

CONFIG = ModelConfig(backbone="tiny", streams="rgb", clip=(24, 64, 64), strides=(8, 16, 16), num_classes=5,
                     tiny_widths=(4, 8, 8, 12, 16), head_channels=(4, 4))
CLIP = {"frames": 24, "crop": 64, "short_side": 72}


def _flip_middle(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = bytes(b ^ 0xFF for b in data[mid:mid + n])
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("integrity") / "run"
    torch.manual_seed(0)
    model = build_model(CONFIG)
    save_checkpoint(run, model=model, state={"step": 1}, meta={"class_names": list("abcde"), "clip": CLIP}, step=1)
    return run


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("v") / "clip.mp4", numbered_frames(30, height=72, width=96))


def _model_file(run: Path) -> Path:
    return run / "checkpoints" / "step_0000001" / "model.safetensors"


def test_the_header_holds_the_sha256_of_the_tensors(run):
    path = _model_file(run)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert meta[DIGEST_KEY] == tensor_digest(tensors) and len(meta[DIGEST_KEY]) == 64
    renamed = dict(tensors)  # names, dtypes and shapes are part of the sum, not only the bytes
    key = sorted(tensors)[0]
    renamed[key + "_x"] = renamed.pop(key)
    assert tensor_digest(renamed) != tensor_digest(tensors)
    assert tensor_digest({"x": torch.zeros(2, 3)}) != tensor_digest({"x": torch.zeros(3, 2)})
    assert tensor_digest({"x": torch.zeros(2)}) != tensor_digest({"x": torch.zeros(1, dtype=torch.float64)})


def test_a_damaged_bare_weights_file_is_refused_by_predict(run, video, tmp_path, capsys):
    """64 bytes flipped in the middle of a copied model.safetensors, loaded on its own."""
    copy = tmp_path / "copy.safetensors"
    shutil.copyfile(_model_file(run), copy)
    assert main(["predict", str(video), "--checkpoint", str(copy), "--json"]) == 0  # intact: loads (with notes)
    capsys.readouterr()
    _flip_middle(copy)
    assert main(["predict", str(video), "--checkpoint", str(copy), "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.strip() == (f"gazeattn predict: error: {copy}: damaged: the SHA-256 of its tensors differs from the "
                           f"{DIGEST_KEY} in its header (the file was changed or corrupted after it was written)")


def test_every_loader_verifies_the_embedded_sum(run, tmp_path, caplog):
    """With meta.json's sum updated to the damaged file, only the embedded sum can catch it: eval and resume
    (load_checkpoint / load_latest) and load_model refuse it."""
    damaged = tmp_path / "run"
    shutil.copytree(run, damaged)
    step = damaged / "checkpoints" / "step_0000001"
    _flip_middle(step / "model.safetensors")
    meta = json.loads((step / "meta.json").read_text())
    meta["sha256"]["model.safetensors"] = sha256_file(step / "model.safetensors")
    (step / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="damaged"):
        load_model(step / "model.safetensors")
    with pytest.raises(CheckpointError, match="damaged") as err:
        load_checkpoint(step)
    assert err.value.path == str(step / "model.safetensors")
    assert load_latest(damaged) is None  # resume: no usable checkpoint, with the reason logged
    assert "damaged" in caplog.text


def test_weight_import_verifies_converted_i3d_files(tmp_path):
    sd = {"Conv3d_1a_7x7.conv3d.weight": torch.randn(4, 3, 1, 1, 1), "x.bn.bias": torch.randn(400)}
    path = save_i3d_weights(sd, tmp_path / "k400.safetensors", source="test")
    assert read_i3d_weights(path).keys() == sd.keys()
    _flip_middle(path, n=16)
    with pytest.raises(WeightsError, match="damaged") as err:
        read_i3d_weights(path)
    assert err.value.path == str(path)
    with pytest.raises(WeightsError, match="damaged"):
        load_stream_weights(build_model(CONFIG), path)  # the file is read (and refused) before the model is used


def test_files_without_the_sum_load_with_a_warning_unless_meta_json_verified_them(tmp_path, caplog):
    """Older files: loaded, with one warning saying they could not be verified; inside a checkpoint folder the
    meta.json sums already verified the file, so no warning."""
    model = build_model(CONFIG)
    old = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(old),
              metadata={"format": MODEL_FORMAT, "gazeattn.config": CONFIG.to_json()})
    loaded = load_model(old)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    warnings = [r.getMessage() for r in caplog.records if "loaded unverified" in r.getMessage()]
    assert warnings == [f"{old}: has no {DIGEST_KEY} (written by an older gazeattn): loaded unverified"]
    caplog.clear()
    load_model(old, checked_by_meta=True)
    assert "unverified" not in caplog.text


def test_weights_written_by_gazeattn_are_verified_on_reload(tmp_path):
    model = build_model(CONFIG)
    path = save_model(model, tmp_path / "m.safetensors")
    again = load_model(path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[key].numpy(), value.numpy())


def test_an_older_cached_kinetics_file_gets_its_sum_when_next_used(tmp_path, caplog):
    from gazeattn.models.weights import I3D_FORMAT, kinetics_weights

    cached = tmp_path / "k400.safetensors"
    sd = {"Conv3d_1a_7x7.conv3d.weight": torch.randn(4, 3, 1, 1, 1)}
    save_file(sd, str(cached), metadata={"format": I3D_FORMAT, "in_channels": "3", "source": "old"})
    assert kinetics_weights(cached, download=False) == cached
    assert sum("loaded unverified" in r.getMessage() for r in caplog.records) == 1
    with safe_open(str(cached), framework="pt") as f:
        assert f.metadata()[DIGEST_KEY] == tensor_digest(sd) and f.metadata()["source"] == "old"
    caplog.clear()
    assert torch.equal(read_i3d_weights(cached)["Conv3d_1a_7x7.conv3d.weight"], sd["Conv3d_1a_7x7.conv3d.weight"])
    assert "unverified" not in caplog.text
