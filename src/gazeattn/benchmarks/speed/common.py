"""What the three parts of ``gazeattn bench speed`` share: the input shapes, the class count, device sync and
the number format of the tables."""

from __future__ import annotations

import dataclasses

import torch

from gazeattn.train.config import MODELS, TrainConfig, preset

SHAPES = ("cpu", "reference")
NUM_CLASSES = 106


def shape_config(shape: str, variant: str, batch: int | None = None) -> TrainConfig:
    """The preset ``shape`` with ``run.variant = variant``, random init (no Kinetics file: weights do not change the
    cost of a step) and ``run.batch = batch or 8`` (8 at both shapes: the issue's reference shape, not the
    reference preset's 4)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    if variant not in MODELS:
        raise ValueError(f"variant must be one of {MODELS}, got {variant!r}")
    config = preset(shape)
    run = dataclasses.replace(config.run, variant=variant, batch=batch or 8)
    return dataclasses.replace(config, run=run, model=dataclasses.replace(config.model, pretrained=""))


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA kernels run asynchronously), so a timer sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fmt(x: float | None, spec: str) -> str:
    """``x`` formatted with ``spec``, ``–`` for None (a number that was not measured)."""
    return "–" if x is None else format(x, spec)
