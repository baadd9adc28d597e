"""The optimizer, built from :class:`~gazeattn.train.config.OptimConfig` (its learning rate at each step:
:func:`gazeattn.train.schedules.learning_rate`).

- ``sgd``: SGD with momentum and weight decay (the reference's: lr 0.032, momentum 0.9, wd 4e-5);
- ``adamw``: AdamW (decoupled weight decay), which trains the tiny from-scratch CPU backbone in far fewer steps.
"""

from __future__ import annotations

import torch

from gazeattn.train.config import OptimConfig


def build_optimizer(params, o: OptimConfig) -> torch.optim.Optimizer:
    if o.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, betas=(0.9, 0.999), foreach=True)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
