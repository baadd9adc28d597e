"""The optimizer and the learning-rate schedule: built from :class:`~gazeattn.train.config.OptimConfig`.

- ``sgd``: SGD with momentum and weight decay (the reference's: lr 0.032, momentum 0.9, wd 4e-5);
- ``adamw``: AdamW (decoupled weight decay), which trains the tiny from-scratch CPU backbone in far fewer steps.

The learning rate is a pure function of the global step (``step`` schedule: × ``gamma`` at each milestone;
``cosine``: half-cosine from ``lr`` to 0 over ``steps``), with an optional linear warm-up.
"""

from __future__ import annotations

import math

import torch

from gazeattn.train.config import OptimConfig, TrainConfig


def build_optimizer(params, o: OptimConfig) -> torch.optim.Optimizer:
    if o.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, betas=(0.9, 0.999), foreach=True)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate of ``step`` (0-based) of a run of ``config.run.steps`` steps."""
    o = config.optim
    if o.lr_schedule == "cosine":
        lr = o.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, config.run.steps) / max(1, config.run.steps)))
    else:
        lr = o.lr * (o.gamma ** sum(step >= m for m in o.milestones))
    if o.warmup_steps and step < o.warmup_steps:
        lr *= (step + 1) / o.warmup_steps
    return lr
