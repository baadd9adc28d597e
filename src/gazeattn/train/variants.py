"""The model variants of `gazeattn train --model`: which estimator trains the gaze, which head uses it.

| variant         | gaze at train time                        | gaze at test time (default)   |
|-----------------|-------------------------------------------|-------------------------------|
| gaze-direct     | Gumbel-Max sample, direct optimization    | predicted: argmax of q        |
| gaze-gumbel     | relaxed Gumbel-Softmax sample (Li et al.) | predicted: q (expectation)    |
| gaze-st         | straight-through Gumbel-Softmax           | predicted: argmax             |
| gaze-reinforce  | REINFORCE with a leave-one-out baseline   | predicted: argmax             |
| gaze-local      | local expectation (unbiased)              | predicted: argmax             |
| gaze-oracle     | measured gaze (head trained by KL only)   | **measured** (needs gaze)     |
| gaze-aux        | head trained by KL only, no attention     | – (gaze supervision ablation) |
| i3d             | no gaze head                              | –                             |

The attention head is separate from the estimator: every gaze variant uses :data:`DEFAULT_GAZE_ATTENTION`
unless ``model.attention`` says otherwise (``min2021`` is the paper's, ``li2018`` Li et al.'s), so comparing
two estimators changes one thing. Every gaze variant gets the same KL(measured gaze ‖ q) term.
"""

from __future__ import annotations

from gazeattn.estimators import DirectOptimization, GumbelSoftmax, LocalExpectation, Reinforce
from gazeattn.models import ModelConfig
from gazeattn.train.config import TrainConfig
from gazeattn.train.schedules import eps_schedule, tau_schedule

# The project's head for every gaze variant; chosen from the study in the README ("Choosing the head").
DEFAULT_GAZE_ATTENTION = "glimpse"
NO_ATTENTION = ("gaze-aux", "i3d")


def default_attention(variant: str) -> str:
    return "none" if variant in NO_ATTENTION else DEFAULT_GAZE_ATTENTION


def default_test_gaze(variant: str) -> str:
    """How a variant's z is formed at test time by default: as it was formed in training, without the noise."""
    if variant == "gaze-gumbel":
        return "expectation"  # trained on relaxed maps softmax((θ + γ)/τ)
    if variant == "gaze-oracle":
        return "measured"
    return "argmax"


def model_config(config: TrainConfig, *, num_classes: int) -> ModelConfig:
    """The model a training config builds: ``[model]`` completed from the data (``num_classes``), the clip
    settings (input size and strides) and the variant (its default attention; gaze-aux's gaze head)."""
    variant, clip = config.run.model, config.clip_config()
    attention = config.model.attention or default_attention(variant)
    if variant in NO_ATTENTION and attention != "none":
        raise ValueError(f"the {variant} variant has no attention: leave model.attention empty")
    return ModelConfig.complete(config.model, attention=attention, num_classes=num_classes,
                                clip=(clip.frames, clip.crop, clip.crop), strides=clip.strides,
                                gaze_head=True if variant == "gaze-aux" else None)


def build_estimator(config: TrainConfig):
    """The estimator object of the variant, or None (oracle, aux, i3d: no gradient through a sample)."""
    e, variant = config.estimator, config.run.model
    chunk = e.chunk_size or None
    if variant == "gaze-direct":
        return DirectOptimization(eps_schedule=eps_schedule(config), mode=e.mode, chunk_size=chunk,
                                  relative=e.eps_relative)
    if variant == "gaze-gumbel":
        return GumbelSoftmax(tau_schedule=tau_schedule(config), hard=False)
    if variant == "gaze-st":
        return GumbelSoftmax(tau_schedule=tau_schedule(config), hard=True)
    if variant == "gaze-reinforce":
        return Reinforce(n_samples=e.samples, baseline="loo", chunk_size=chunk)
    if variant == "gaze-local":
        return LocalExpectation(chunk_size=chunk)
    return None
