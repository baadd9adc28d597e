"""The tiny training setup many tests share: a small synthetic EGTEA world and the flags that make `gazeattn
train` fast on it (48² crops, a 4-16-channel tiny backbone, batch 4, no DataLoader workers, no progress bar)."""

from __future__ import annotations

from pathlib import Path

from gazeattn.synth import SynthConfig, write_synthetic_egtea

TRAIN_FLAGS = ["--set", "clip.crop=48", "--set", "clip.short_side=56", "--set", "clip.train_short_side=56,64",
               "--set", "model.tiny_widths=4,8,8,12,16", "--set", "model.head_channels=4,4", "--batch", "4",
               "--no-progress"]
SMALL = [*TRAIN_FLAGS, "--workers", "0"]


def tiny_world(root: Path, *, seed: int, sessions: int = 2, clips_per_session: int = 4, max_frames: int = 30) -> Path:
    """A 64×48 synthetic world of ``sessions × clips_per_session`` clips of 24–``max_frames`` frames at ``root``."""
    write_synthetic_egtea(root, SynthConfig(sessions=sessions, clips_per_session=clips_per_session, seed=seed,
                                            width=64, height=48, min_frames=24, max_frames=max_frames))
    return root


def trained_weights(world: Path, out: Path, *flags: str, steps: int = 6, log_every: int = 3) -> dict:
    """Train gaze-direct on ``world`` for ``steps`` steps (one thread, :data:`SMALL`) into ``out`` and return the last
    checkpoint's weights (name -> tensor)."""
    from safetensors.torch import load_file

    from gazeattn.cli import main

    assert main(["train", "--data", str(world), "--model", "gaze-direct", "--out", str(out), "--steps", str(steps),
                 "--set", f"run.log_every={log_every}", "--set", "run.threads=1", *SMALL, *flags]) == 0
    latest = (out / "checkpoints" / "latest").read_text().strip()
    return load_file(str(out / "checkpoints" / latest / "model.safetensors"))


def same_weights(a: dict, b: dict) -> bool:
    """Whether two weight dicts hold the same names and bit-identical tensors."""
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
