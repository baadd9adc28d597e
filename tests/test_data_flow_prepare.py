"""`gazeattn prepare`: frame folders, flow encoding, resumability, and the OpenCV-missing message."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gazeattn.cli import main
from gazeattn.data.flow import PrepareConfig, prepare_clip, quantize_flow
from gazeattn.data.video import read_folder_frames
from videotools import frame_numbers, numbered_frames, write_mp4

CLIP = "OP01-R01-PastaSalad-1000-2000-F000024-F000034"


@pytest.fixture
def root(tmp_path):
    write_mp4(tmp_path / "egtea" / "cropped_clips" / "OP01-R01-PastaSalad" / f"{CLIP}.mp4", numbered_frames(10))
    return tmp_path / "egtea"


def test_quantize_flow_maps_the_bound_to_the_byte_range():
    flow = np.array([[[-20.0, 20.0], [0.0, 35.0], [-99.0, 10.0]]], np.float32)  # (1, 3, 2)
    u, v = quantize_flow(flow, 20.0)
    assert u.tolist() == [[0, 128, 0]] and v.tolist() == [[255, 255, 191]]
    assert np.allclose(u.astype(float) * 2 / 255 - 1, np.clip(flow[..., 0], -20, 20) / 20, atol=1 / 255)


def test_frames_only_is_resumable_and_atomic(root, tmp_path, capsys):
    out = tmp_path / "frames"
    stale = out / "images_rgb" / f".{CLIP}.tmp"
    stale.mkdir(parents=True)
    (stale / "junk.jpg").write_bytes(b"x")  # left over from an interrupted run
    assert main(["prepare", str(root), "--out", str(out), "--flow", "none", "--size", "32x24"]) == 0
    folder = out / "images_rgb" / CLIP
    frames = read_folder_frames(folder, 0, 20)
    assert frames.shape == (10, 24, 32, 3)
    assert frame_numbers(frames) == list(range(10))
    assert not stale.exists() and sorted(p.name for p in (out / "images_rgb").iterdir()) == [CLIP]
    capsys.readouterr()
    assert main(["prepare", str(root), "--out", str(out), "--flow", "none", "--size", "32x24"]) == 0
    assert "1 already done, 0 to prepare" in capsys.readouterr().out


def test_flow_folders_hold_n_minus_one_quantized_fields(root, tmp_path):
    video = next((root / "cropped_clips").glob("*/*.mp4"))
    out = tmp_path / "frames"

    def constant_flow(a, b):
        assert a.shape == b.shape == (24, 32) and a.dtype == np.uint8
        return np.broadcast_to(np.array([5.0, -10.0], np.float32), (24, 32, 2)).copy()

    assert prepare_clip(video, out, PrepareConfig(size=(32, 24), flow="tvl1"), flow_fn=constant_flow) == "done"
    u = read_folder_frames(out / "images_flow" / CLIP / "u", 0, 20, gray=True)
    v = read_folder_frames(out / "images_flow" / CLIP / "v", 0, 20, gray=True)
    assert u.shape == v.shape == (9, 24, 32)
    assert np.abs(u.astype(int) - 159).max() <= 2 and np.abs(v.astype(int) - 64).max() <= 2  # 5 px, −10 px
    assert (out / "images_rgb" / CLIP).is_dir()
    assert prepare_clip(video, out, PrepareConfig(size=(32, 24)), flow_fn=constant_flow) == "skipped"


def test_missing_opencv_names_the_package(root, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    assert main(["prepare", str(root), "--out", str(tmp_path / "f")]) == 2
    assert "pip install opencv-contrib-python-headless" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
