import logging
import sys
from collections import namedtuple

import pytest

from gazeattn.train import shared_memory
from gazeattn.data.dataset import ClipConfig
from gazeattn.train.shared_memory import batch_bytes, batches_in_flight, shared_memory_warning

REFERENCE = ClipConfig(frames=24, crop=224, short_side=256, train_short_side=(256, 256), flow=True)
Usage = namedtuple("Usage", "total used free")


def test_batch_bytes_and_batches_in_flight():
    # 4 clips of 24×224², RGB + flow, float32
    assert batch_bytes(REFERENCE, 4) == 4 * 5 * 24 * 224 * 224 * 4
    rgb_only = ClipConfig(frames=24, crop=80, short_side=96, train_short_side=(96, 112))
    assert batch_bytes(rgb_only, 8) == 4 * 3 * 24 * 80 * 80 * 8
    assert batches_in_flight(0, 2) == 0  # no worker: nothing goes through shared memory
    assert batches_in_flight(2, 2) == 2 * 2 + 2 + 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/shm is Linux")
def test_warns_when_a_docker_sized_shm_cannot_hold_the_batches(tmp_path, monkeypatch):
    mb = 1024 * 1024
    monkeypatch.setattr(shared_memory.shutil, "disk_usage", lambda path: Usage(64 * mb, 0, 64 * mb))
    text = shared_memory_warning(REFERENCE, 4, workers=2, prefetch=2, path=tmp_path)
    assert text is not None
    assert f"{tmp_path} has 64 MB free" in text and "7 batches of about 92 MB" in text and "--shm-size" in text
    assert "2 processes × " in shared_memory_warning(REFERENCE, 4, 2, 2, processes=2, path=tmp_path)
    assert shared_memory_warning(REFERENCE, 4, workers=0, prefetch=2, path=tmp_path) is None
    monkeypatch.setattr(shared_memory.shutil, "disk_usage", lambda path: Usage(24000 * mb, 0, 24000 * mb))
    assert shared_memory_warning(REFERENCE, 4, workers=2, prefetch=2, path=tmp_path) is None
    assert shared_memory_warning(REFERENCE, 4, workers=2, prefetch=2, path=tmp_path / "missing") is None


def test_training_warns_before_the_first_step(tmp_path, monkeypatch, caplog):
    from gazeattn.train import engine

    seen = {}

    def fake(clip, batch, workers, prefetch, *, processes=1):
        seen.update(batch=batch, workers=workers, prefetch=prefetch, processes=processes)
        return "/dev/shm has 1 MB free, but ..."

    monkeypatch.setattr(engine, "shared_memory_warning", fake)
    from gazeattn.cli import main
    from gazeattn.synth import SynthConfig, write_synthetic_egtea

    world = tmp_path / "egtea"
    write_synthetic_egtea(world, SynthConfig(sessions=2, clips_per_session=4, seed=1, width=64, height=48,
                                             min_frames=24, max_frames=30))
    with caplog.at_level(logging.WARNING):
        assert main(["train", "--data", str(world), "--out", str(tmp_path / "run"), "--steps", "1", "--batch", "2",
                     "--workers", "0", "--set", "data.prefetch=3", "--set", "clip.crop=48",
                     "--set", "clip.short_side=56", "--set", "clip.train_short_side=56,64",
                     "--set", "model.tiny_widths=4,8,8,12,16", "--set", "model.head_channels=4,4",
                     "--no-progress"]) == 0
    assert seen == {"batch": 2, "workers": 0, "prefetch": 3, "processes": 1}
    assert "/dev/shm has 1 MB free" in caplog.text
