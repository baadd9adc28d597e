"""`gazeattn predict`: the test protocol on a bare video, deterministic gaze, overlays, and clear errors.

A tiny RGB model (24×64² clips, strides (8, 16, 16) → a 3×4×4 gaze grid, 5 classes) is saved with the project's
save function plus a meta.json, and run in-process on small mp4s written to a temporary folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from gazeattn.cli import main as gazeattn_main
from gazeattn.cli.predict import main as predict_main
from gazeattn.data.transforms import center_crop, to_unit_range
from gazeattn.data.video import read_video_frames
from gazeattn.utils.errors import DataError
from gazeattn.models import ModelConfig, build_model, save_model
from gazeattn.inference import load_predictor, predicted_gaze_map
from gazeattn.report.overlays import PANEL_PX, panel_pair
from videotools import frame_numbers, numbered_frames, write_mp4

CLASSES = ["open fridge", "take cup", "pour milk", "close fridge", "wash hands"]
CLIP = {"frames": 24, "crop": 64, "short_side": 72}
CONFIG = ModelConfig(backbone="tiny", streams="rgb", clip=(24, 64, 64), strides=(8, 16, 16), num_classes=5)
PANEL = (64, 2 * 64 + 4)  # overlay frame: two 64² panels and a 4-pixel gutter


def _checkpoint(folder: Path, config: ModelConfig = CONFIG, *, meta: dict | None = None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():  # sharpen the untrained gaze head so q is not nearly uniform
        for p in model.gaze_head.parameters() if model.gaze_head is not None else []:
            p.mul_(3.0)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, folder / "model.safetensors")
    if meta is not None:
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), meta={"class_names": CLASSES, "clip": CLIP})


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """50 numbered frames at 96×72 with a bright square drifting right (two full 24-frame windows)."""
    frames = numbered_frames(50, height=72, width=96).copy()
    for i in range(50):
        frames[i, 20:36, 10 + i:26 + i] = 255
    return write_mp4(tmp_path_factory.mktemp("video") / "clip.mp4", frames)


def _run_json(capsys, *args: str) -> dict:
    rc = gazeattn_main(["predict", *map(str, args), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    return json.loads(out)


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_predict_json_and_animated_overlay(ckpt, video, tmp_path, capsys, suffix):
    overlay = tmp_path / f"o{suffix}"
    out = _run_json(capsys, video, "--checkpoint", ckpt, "--overlay", overlay)
    assert out["video"] == str(video)
    probs = np.array(out["probabilities"])
    assert probs.shape == (5,) and np.all(probs > 0)
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    top = out["top"]
    assert len(top) == 5
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-9)
    for t in top:
        assert t["name"] == CLASSES[t["label"]] and t["probability"] == probs[t["label"]]
    assert [w["start"] for w in out["windows"]] == [0, 24]  # floor(50 / 24) windows from frame 0
    assert [len(w["gaze"]) for w in out["windows"]] == [3, 3]  # T' = 24 / 8 slots
    assert out["grid"] == [3, 4, 4] and out["test_gaze"] == "argmax" and out["overlay"] == str(overlay)
    frames = _decode(overlay)
    assert len(frames) == 2 * 24
    assert frames[0].shape[0] > PANEL_PX and frames[0].shape[1] > 2 * PANEL_PX  # enlarged panels, words
    assert not list(tmp_path.glob(".*"))  # the atomic write left no temp file


def test_png_contact_sheet_and_table(ckpt, video, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert gazeattn_main(["predict", str(video), "--checkpoint", str(ckpt), "--top", "3", "--overlay", str(sheet)]) == 0
    text = capsys.readouterr().out
    assert "2 window(s) of 24 frames" in text and "last 2 frame(s) not in a full window" in text
    ranked = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in ranked] == ["1", "2", "3"]
    (image,) = _decode(sheet)
    # 2 windows × (gaze, attention) rows × 3 columns (slots) of enlarged panels, below the words
    assert image.shape[0] > 2 * 2 * PANEL_PX and image.shape[1] > 3 * PANEL_PX


def test_protocol_matches_a_direct_forward_pass(ckpt, video):
    """Windows from frame 0, short side 72, centre 64² crop, [-1, 1], logits averaged, then softmax."""
    predictor = load_predictor(ckpt)
    pred = predictor.predict(video, top=5)
    assert pred.starts == (0, 24)
    for w, start in enumerate(pred.starts):
        assert frame_numbers(pred.frames[w][:, 40:]) == list(range(start, start + 24))  # below the square
    model = predictor.model
    crops = []
    for start in (0, 24):
        frames = read_video_frames(video, start, 24, short_side=72)  # (24, 72, 96, 3)
        crops.append(to_unit_range(center_crop(96, 72, 64).frames(frames)))
    rgb = torch.from_numpy(np.stack(crops)).permute(0, 4, 1, 2, 3)  # (W, T, H, W, C) -> (W, C, T, H, W)
    with torch.no_grad():
        x4, x5 = model.backbone(rgb, None)
        g = model.gaze_logits(x4)
        z = predicted_gaze_map(g, "argmax")
        logits = model.classify(z, x5).double()
    np.testing.assert_allclose(pred.window_logits, logits.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.probabilities, torch.softmax(logits.mean(0), -1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(pred.gaze, torch.softmax(g.flatten(2), -1).view_as(g).numpy(), rtol=1e-5, atol=1e-7)


def test_test_time_gaze_modes(ckpt, video):
    argmax = load_predictor(ckpt, test_gaze="argmax").predict(video)
    expect = load_predictor(ckpt, test_gaze="expectation").predict(video)
    z = argmax.gaze_z.reshape(2, 3, -1)  # (W, T', K)
    assert set(np.unique(z)) == {0.0, 1.0} and np.all(z.sum(-1) == 1)
    assert np.array_equal(z.argmax(-1), argmax.gaze_cells())
    np.testing.assert_allclose(expect.gaze_z, expect.gaze, rtol=1e-6)  # z = q
    np.testing.assert_allclose(expect.gaze.reshape(2, 3, -1).sum(-1), 1.0, rtol=1e-6)
    assert expect.probabilities.sum() == pytest.approx(1.0)
    assert not np.allclose(argmax.attention, expect.attention)  # the classifier saw different maps


def test_deterministic(ckpt, video, capsys):
    first = _run_json(capsys, video, "--checkpoint", ckpt)
    second = _run_json(capsys, video, "--checkpoint", ckpt)
    assert first == second
    a, b = load_predictor(ckpt).predict(video), load_predictor(ckpt).predict(video)
    assert np.array_equal(a.probabilities, b.probabilities) and np.array_equal(a.attention, b.attention)


def test_overlay_outlines_the_argmax_cell(ckpt, video):
    pred = load_predictor(ckpt).predict(video)
    frames = np.stack([panel_pair(pred, w, i) for w in range(2) for i in range(24)])  # (48, 64, 132, 3)
    assert frames.shape == (48, *PANEL, 3)
    cell = int(pred.gaze_cells()[1, 2])  # window 1, slot 2 = frames 40..47 of the window sequence
    r, c = divmod(cell, 4)
    y0, x0 = r * 16, c * 16  # 64 px / 4 cells
    for image in frames[24 + 16: 24 + 24]:
        assert tuple(image[y0, x0 + 8]) == (0, 255, 0)  # gaze panel
        assert tuple(image[y0, 68 + x0 + 8]) == (0, 255, 0)  # attention panel, after 64 px + 4 px gutter


def test_short_video_is_padded_to_one_window(ckpt, tmp_path):
    short = write_mp4(tmp_path / "short.mp4", numbered_frames(10, height=72, width=96))
    pred = load_predictor(ckpt).predict(short, top=2)
    assert pred.starts == (0,) and len(pred.top) == 2
    assert frame_numbers(pred.frames[0]) == list(range(10)) + [9] * 14


@pytest.mark.parametrize("suffix", [".gif", ".mp4", ".png"])
def test_overlay_of_a_video_shorter_than_a_window(ckpt, tmp_path, capsys, suffix):
    """10 frames padded to one 24-frame window: every overlay frame the same size (the padded ones say so)."""
    short = write_mp4(tmp_path / "short.mp4", numbered_frames(10, height=72, width=96))
    overlay = tmp_path / f"o{suffix}"
    out = _run_json(capsys, short, "--checkpoint", ckpt, "--overlay", overlay)
    assert out["overlay"] == str(overlay) and [w["start"] for w in out["windows"]] == [0]
    frames = _decode(overlay)
    assert len(frames) == (1 if suffix == ".png" else 24)
    assert len({f.shape for f in frames}) == 1


def test_missing_meta_falls_back_with_a_warning(tmp_path, video, capsys):
    ck = _checkpoint(tmp_path / "bare")
    with pytest.warns(UserWarning) as caught:
        predictor = load_predictor(ck / "model.safetensors")
    messages = " | ".join(str(w.message) for w in caught)
    assert "no clip config" in messages and "'class 0' .. 'class 4'" in messages
    assert predictor.clip.frames == 24 and predictor.clip.crop == 64 and predictor.clip.short_side == 73
    assert gazeattn_main(["predict", str(video), "--checkpoint", str(ck / "model.safetensors")]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "class 4" in captured.out


def test_model_without_gaze_head(tmp_path, video, capsys):
    ck = _checkpoint(tmp_path / "plain", CONFIG.replace(attention="none"), meta={"class_names": CLASSES, "clip": CLIP})
    overlay = tmp_path / "o.gif"
    out = _run_json(capsys, video, "--checkpoint", ck, "--overlay", overlay)
    assert sum(out["probabilities"]) == pytest.approx(1.0) and out["grid"] is None and out["overlay"] is None
    assert "gaze" not in out["windows"][0]
    assert not overlay.exists()


def test_two_stream_model_needs_flow(tmp_path, video, capsys):
    meta = {"class_names": CLASSES, "clip": CLIP}
    ck = _checkpoint(tmp_path / "two", CONFIG.replace(streams="two_stream"), meta=meta)
    with pytest.raises(DataError, match=r"optical-flow.*gazeattn prepare"):
        predict_main([str(video), "--checkpoint", str(ck)])
    assert gazeattn_main(["predict", str(video), "--checkpoint", str(ck)]) == 1
    assert "two_stream" in capsys.readouterr().err


def test_bad_inputs_name_the_file(ckpt, video, tmp_path, capsys):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(DataError) as err:
        predict_main([str(missing), "--checkpoint", str(ckpt)])
    assert err.value.path == str(missing)

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    with pytest.raises(DataError) as err:
        predict_main([str(corrupt), "--checkpoint", str(ckpt)])
    assert err.value.path == str(corrupt)

    no_ckpt = tmp_path / "no_ckpt"
    with pytest.raises(DataError) as err:
        predict_main([str(video), "--checkpoint", str(no_ckpt)])
    assert err.value.path == str(no_ckpt)
    assert gazeattn_main(["predict", str(video), "--checkpoint", str(no_ckpt)]) == 1
    assert str(no_ckpt) in capsys.readouterr().err

    bad_meta = _checkpoint(tmp_path / "bad_meta", meta={"class_names": CLASSES[:3], "clip": CLIP})
    with pytest.raises(DataError) as err:
        load_predictor(bad_meta)
    assert err.value.path == str(bad_meta / "meta.json") and "5" in err.value.reason


def test_run_folder_and_clip_mismatch(ckpt, video, tmp_path):
    from gazeattn.models.weights import load_model
    from gazeattn.runs.checkpoints import save_checkpoint

    run = tmp_path / "run"  # a run folder as training writes it
    source = load_model(_checkpoint(tmp_path / "src") / "model.safetensors")
    step = save_checkpoint(run, model=source, state={"step": 10}, meta={"class_names": CLASSES, "clip": CLIP}, step=10)
    predictor = load_predictor(run)
    assert predictor.source == step / "model.safetensors"
    expected = load_predictor(ckpt).predict(video).probabilities
    np.testing.assert_array_equal(predictor.predict(video).probabilities, expected)  # same seed, same weights

    wrong = _checkpoint(tmp_path / "wrong", meta={"class_names": CLASSES, "clip": {**CLIP, "crop": 48}})
    with pytest.raises(DataError, match=r"sized for \(24, 64, 64\)") as err:
        load_predictor(wrong)
    assert err.value.path == str(wrong / "meta.json")
    unknown = _checkpoint(tmp_path / "unknown", meta={"class_names": CLASSES, "clip": {**CLIP, "fps": 24}})
    with pytest.raises(DataError, match="unknown clip config keys"):
        load_predictor(unknown)
