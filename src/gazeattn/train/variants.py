"""The model variants of `gazeattn train --model`: which model is built and which estimator trains its gaze.

| variant         | attention | gaze at train time                       | gaze at test time            |
|-----------------|-----------|------------------------------------------|------------------------------|
| gaze-direct     | min2021   | Gumbel-Max sample, direct optimization   | predicted (argmax of q)      |
| gaze-gumbel     | li2018    | relaxed Gumbel-Softmax sample (Li et al.) | predicted                    |
| gaze-st         | min2021   | straight-through Gumbel-Softmax          | predicted                    |
| gaze-reinforce  | min2021   | REINFORCE with a leave-one-out baseline  | predicted                    |
| gaze-local      | min2021   | local expectation (unbiased)             | predicted                    |
| gaze-oracle     | min2021   | measured gaze (head trained by KL only)  | **measured** (needs gaze)    |
| gaze-aux        | none      | head trained by KL only, no attention    | – (gaze supervision ablation)|
| i3d             | none      | no gaze head                             | –                            |

Every gaze variant gets the same KL(measured gaze ‖ q) term, so estimators are compared like for like.
``model.attention`` in the config overrides the attention of a variant (e.g. gaze-gumbel with min2021 attention
isolates the estimator from the attention form).
"""

from __future__ import annotations

from gazeattn.estimators import (
    Constant,
    DirectOptimization,
    ExponentialDecay,
    GumbelSoftmax,
    LocalExpectation,
    Reinforce,
    reference_eps_schedule,
)
from gazeattn.models import ModelConfig
from gazeattn.train.config import TrainConfig

DEFAULT_ATTENTION = {"gaze-gumbel": "li2018", "gaze-aux": "none", "i3d": "none"}


def model_config(config: TrainConfig, *, num_classes: int) -> ModelConfig:
    m, variant = config.model, config.run.model
    attention = m.attention or DEFAULT_ATTENTION.get(variant, "min2021")
    if variant == "i3d" and attention != "none":
        raise ValueError("the i3d variant has no gaze: leave model.attention empty")
    clip = config.clip_config()
    fields = dict(backbone=m.backbone, streams=m.streams, num_classes=num_classes, dropout=m.dropout,
                  attention=attention, clip=(clip.frames, clip.crop, clip.crop), strides=clip.strides,
                  gaze_head_init=m.gaze_head_init)
    if m.backbone == "tiny":
        fields["tiny_widths"] = tuple(m.tiny_widths)
    if m.head_channels:
        fields["head_channels"] = tuple(m.head_channels)
    if variant == "gaze-aux":
        fields["gaze_head"] = True
    return ModelConfig(**fields)


def eps_schedule(config: TrainConfig):
    e = config.estimator
    if e.eps_schedule == "reference":
        return reference_eps_schedule()
    if e.eps_schedule == "constant":
        return Constant(e.eps)
    return ExponentialDecay(start=e.eps, rate=e.eps_rate, floor=e.eps_floor, every=e.eps_every)


def tau_schedule(config: TrainConfig):
    e = config.estimator
    if e.tau_rate == 0:
        return Constant(e.tau)
    return ExponentialDecay(start=e.tau, rate=e.tau_rate, floor=e.tau_floor, every=100)


def build_estimator(config: TrainConfig):
    """The estimator object of the variant, or None (oracle, aux, i3d: no gradient through a sample)."""
    e, variant = config.estimator, config.run.model
    chunk = e.chunk_size or None
    if variant == "gaze-direct":
        return DirectOptimization(eps_schedule=eps_schedule(config), mode=e.mode, chunk_size=chunk)
    if variant == "gaze-gumbel":
        return GumbelSoftmax(tau_schedule=tau_schedule(config), hard=False)
    if variant == "gaze-st":
        return GumbelSoftmax(tau_schedule=tau_schedule(config), hard=True)
    if variant == "gaze-reinforce":
        return Reinforce(n_samples=e.samples, baseline="loo", chunk_size=chunk)
    if variant == "gaze-local":
        return LocalExpectation(chunk_size=chunk)
    return None
