"""The test-time forward: clips → backbone → predicted gaze → z → class logits, in one place.

:func:`forward_clips` is the only test-time forward: evaluation (:mod:`gazeattn.train.evaluate`, with the
study's ablations classified from its backbone features by :func:`classify_with_gaze`), ``predict``
(:mod:`gazeattn.inference.predictor`), its overlays, and ``bench speed`` all call it.

Test-time gaze (``test_gaze``), how the gaze head's logits become the z the classifier sees:

- ``argmax``: z = one-hot of the argmax of q per slot (deterministic; the default of the hard-sample variants);
- ``expectation``: z = q itself, the relaxed map (the default of gaze-gumbel, which trains on relaxed maps);
- ``sample``: one Gumbel-Max sample, seeded per clip window: the reference's stochastic protocol;
- ``sample-mean``: the class probabilities averaged over ``samples`` seeded Gumbel-Max samples, an estimate of
  E_q[p(y | x, z)] (the logits returned are the log of that mean);
- ``measured``: the measured gaze (uniform on slots without a fixation): the oracle's z, or an upper bound.

Ablations that ask whether the decision uses the gaze (:data:`ABLATIONS`): ``shuffled`` (each window gets the
predicted argmax z of a window of *another* clip, handled by the evaluation, which sees many clips) and
``uniform`` (z = 1/K everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from gazeattn.estimators import gumbel_argmax, one_hot_maps, sample_gumbel

TEST_GAZE = ("argmax", "expectation", "sample", "sample-mean", "measured")
DETERMINISTIC = ("argmax", "expectation")  # the modes that need nothing but the video (what predict offers)
ABLATIONS = ("shuffled", "uniform")
DEFAULT_SAMPLES = 8


def _seeded_noise(shape: tuple[int, ...], seeds: list[int], salt: int = 0) -> Tensor:
    """(B, *shape) float64 Gumbel noise, one generator per clip window (reproducible across batchings)."""
    return torch.stack([sample_gumbel(shape, torch.Generator().manual_seed(s + salt), dtype=torch.float64)
                        for s in seeds])


def predicted_gaze_map(gaze_logits: Tensor, mode: str, *, seeds: list[int] | None = None) -> Tensor:
    """z (B, T', H', W') from gaze logits (B, T', H', W') for ``argmax``, ``expectation`` or ``sample``."""
    grid = tuple(gaze_logits.shape[-2:])
    if mode == "argmax":
        return one_hot_maps(gaze_logits.flatten(2).argmax(-1), grid, dtype=gaze_logits.dtype)
    if mode == "expectation":
        return F.softmax(gaze_logits.flatten(2), dim=-1).view_as(gaze_logits)  # (B, T', K) -> (B, T', H', W')
    if mode == "sample":
        if seeds is None or len(seeds) != gaze_logits.shape[0]:
            raise ValueError("sample mode needs one seed per clip window")
        idx = gumbel_argmax(gaze_logits.double().cpu(), _seeded_noise(tuple(gaze_logits.shape[1:]), seeds))
        return one_hot_maps(idx, grid, dtype=gaze_logits.dtype).to(gaze_logits.device)
    raise ValueError(f"a gaze map needs argmax, expectation or sample, got {mode!r}")


def uniform_gaze_map(like: Tensor) -> Tensor:
    """z = 1/K in every cell of every slot, shaped like ``like`` (B, T', H', W')."""
    k = like.shape[-1] * like.shape[-2]
    return torch.full_like(like, 1.0 / k)


@dataclass
class ClipForward:
    """What the test-time forward of a batch of clip windows gives.

    ``logits`` (B, C) class logits under the test gaze; ``gaze_logits`` (B, T', H', W') or None (no gaze head);
    ``z`` (B, T', H', W') the map the classifier saw (None without attention; for ``sample-mean`` the first
    sample); ``attention`` (B, T', H', W') the head's map of z, or None; ``x5`` the backbone features, so other
    test-time gazes can be classified without running the backbone again (:func:`classify_with_gaze`).
    """

    logits: Tensor
    gaze_logits: Tensor | None
    z: Tensor | None
    attention: Tensor | None
    x5: Tensor


@torch.no_grad()
def classify_with_gaze(model, x5: Tensor, gaze_logits: Tensor | None, test_gaze: str, *,
                       seeds: list[int] | None = None, measured: Tensor | None = None,
                       samples: int = DEFAULT_SAMPLES, z: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """(class logits (B, C), z) for one test-time gaze on features x5 (B, C5, T', H', W'). The model must be in
    eval mode. ``z`` given: classify that map (the ``shuffled`` ablation). Models without attention ignore gaze."""
    if not model.config.attends:
        return model.classify(None, x5).float(), None
    if z is None:
        if test_gaze == "measured":
            if measured is None:
                raise ValueError("test gaze 'measured' needs the measured gaze map")
            z = measured.to(x5.device, x5.dtype)
        elif test_gaze == "uniform":
            z = uniform_gaze_map(x5[:, 0])
        elif test_gaze == "sample-mean":
            if gaze_logits is None or seeds is None:
                raise ValueError("test gaze 'sample-mean' needs gaze logits and one seed per clip window")
            grid = tuple(gaze_logits.shape[-2:])
            noise = _seeded_noise((samples, *gaze_logits.shape[1:]), seeds)  # (B, S, T', H', W')
            logits_s = gaze_logits.double().cpu().unsqueeze(1).expand_as(noise)  # (B, S, T', H', W')
            idx = gumbel_argmax(logits_s, noise)  # (B, S, T')
            zs = one_hot_maps(idx, grid, dtype=torch.float32).to(x5.device)  # (B, S, T', H', W')
            probs = F.softmax(model.candidate_logits(zs, x5.float()), -1).mean(1)  # (B, C)
            return probs.clamp_min(1e-30).log(), zs[:, 0]
        else:
            if gaze_logits is None:
                raise ValueError(f"test gaze {test_gaze!r} needs a gaze head")
            z = predicted_gaze_map(gaze_logits.float(), test_gaze, seeds=seeds).to(x5.dtype)
    return model.classify(z, x5).float(), z


@torch.no_grad()
def forward_clips(model, rgb: Tensor | None, flow: Tensor | None = None, *, test_gaze: str = "argmax",
                  seeds: list[int] | None = None, measured: Tensor | None = None,
                  samples: int = DEFAULT_SAMPLES) -> ClipForward:
    """The one test-time forward: backbone, gaze head, test-time z, classifier (model in eval mode).

    ``rgb`` (B, 3, T, H, W) / ``flow`` (B, 2, T, H, W) as the model's streams need; ``seeds`` one per window for
    the sampling modes; ``measured`` (B, T', H', W') for ``measured``.
    """
    if model.config.streams == "flow":
        rgb = None
    x4, x5 = model.backbone(rgb, flow)
    gaze_logits = model.gaze_logits(x4).float() if model.gaze_head is not None else None
    logits, z = classify_with_gaze(model, x5, gaze_logits, test_gaze, seeds=seeds, measured=measured,
                                   samples=samples)
    attention = model.attention_map(z.to(x5.dtype)).float() if z is not None else None
    return ClipForward(logits, gaze_logits, z, attention, x5)
