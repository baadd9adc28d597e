"""The training objective: a separate object that takes the model and a batch and returns loss terms.

    loss = w_ce · CE(y | x, z) + w_kl · KL(measured gaze ‖ q(z|x)) + w_s · surrogate

- KL is the forward KL per temporal slot, averaged over the slots with a measured target (``gaze_mask``);
  with a one-hot target it is the cross-entropy of the fixation cell (the reference's term).
- z: the estimator's sample (one-hot, or relaxed for Gumbel-Softmax); the measured gaze for gaze-oracle;
  absent for gaze-aux and i3d.
- The estimator's candidate losses are CE(y | x, z) of each candidate map, scored by
  ``model.candidate_losses`` on a detached x5, without autograd and with the attention head in eval mode
  (dropout off: the candidates must be comparable). The surrogate's value is 0; its gradient is the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from gazeattn.train.config import LossConfig


def gaze_kl(gaze_logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean over valid slots of KL(target_t ‖ softmax(logits_t)); (B,T',H',W') logits and targets, (B,T') mask."""
    logq = F.log_softmax(gaze_logits.flatten(2).float(), dim=-1)  # (B, T', K)
    p = target.flatten(2).float()
    plogp = torch.where(p > 0, p * torch.log(p.clamp_min(1e-30)), torch.zeros_like(p))
    kl = (plogp - p * logq).sum(-1)  # (B, T')
    m = mask.float()
    return (kl * m).sum() / m.sum().clamp_min(1.0)


def measured_gaze_map(batch: dict[str, Tensor]) -> Tensor:
    """The oracle's z: the measured target distribution where there is one, uniform elsewhere."""
    target = batch["gaze_target"].float()
    mask = batch["gaze_mask"].bool()
    uniform = torch.full_like(target, 1.0 / target[0, 0].numel())
    return torch.where(mask[..., None, None], target, uniform)


class _EvalAttention:
    """Context: the attention head in eval mode (dropout off) for candidate scoring; restores the mode."""

    def __init__(self, model):
        self.module = model.attention

    def __enter__(self):
        self.was_training = self.module.training
        self.module.eval()

    def __exit__(self, *exc):
        self.module.train(self.was_training)


def _candidate_loss_fn(model, x5: Tensor, labels: Tensor):
    """loss_fn(z) for the estimators: CE of candidate maps (B, M, T', H', W') -> (B, M), x5 computed once."""

    def loss_fn(cands: Tensor) -> Tensor:
        with torch.no_grad(), _EvalAttention(model):
            return model.candidate_losses(cands.to(x5.dtype), x5, labels).float()

    return loss_fn


@dataclass
class GazeObjective:
    variant: str
    estimator: Any  # an estimator object from gazeattn.estimators, or None
    weights: LossConfig

    def __call__(self, model, batch: dict[str, Tensor], step: int, generator: torch.Generator | None) -> dict[str, Any]:
        rgb, flow = batch.get("rgb"), batch.get("flow")
        if model.config.streams == "flow":
            rgb = None
        labels = batch["label"]
        x4, x5 = model.backbone(rgb, flow)
        terms: dict[str, Any] = {"stats": {}}
        zero = x5.new_zeros(())
        kl = surrogate = zero
        z = None
        if model.gaze_head is not None:
            logits = model.gaze_logits(x4)  # (B, T', H', W')
            kl = gaze_kl(logits, batch["gaze_target"], batch["gaze_mask"])
            terms["gaze_logits"] = logits
            if self.variant == "gaze-oracle":
                z = measured_gaze_map(batch).to(x5.dtype)
            elif self.estimator is not None:
                loss_fn = _candidate_loss_fn(model, x5.detach(), labels) if self.estimator.needs_loss_fn else None
                out = self.estimator.surrogate(logits.float(), loss_fn, step, generator)
                z = out.z.to(x5.dtype)
                surrogate = out.surrogate
                terms["stats"] = {k: v for k, v in out.stats.items() if isinstance(v, (int, float))}
        class_logits = model.classify(z if model.config.attention != "none" else None, x5)
        ce = F.cross_entropy(class_logits.float(), labels)
        w = self.weights
        terms.update(
            loss=w.ce * ce + w.kl * kl + w.surrogate * surrogate,
            ce=ce, kl=kl, class_logits=class_logits,
            correct=(class_logits.argmax(-1) == labels).sum(),
        )
        return terms
