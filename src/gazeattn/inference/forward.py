"""The test-time forward: clips → backbone → predicted gaze → z → class logits, in one place.

:func:`forward_clips` is the only test-time forward: evaluation (:mod:`gazeattn.train.evaluate`, with the
study's ablations classified from its backbone features by :func:`classify_with_gaze`), ``predict``
(:mod:`gazeattn.inference.predictor`), its overlays, and ``bench speed`` all call it.

The test-time gaze modes (``test_gaze``: argmax, expectation, sample, sample-mean, measured) and the ablations
(shuffled, uniform) form z in :mod:`gazeattn.inference.test_gaze`; this module runs the model around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from gazeattn.inference.test_gaze import DEFAULT_SAMPLES, sampled_gaze_maps, single_gaze_map


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
    if z is None and test_gaze == "sample-mean":
        if gaze_logits is None or seeds is None:
            raise ValueError("test gaze 'sample-mean' needs gaze logits and one seed per clip window")
        zs = sampled_gaze_maps(gaze_logits, seeds, samples).to(x5.device)  # (B, S, T', H', W')
        probs = F.softmax(model.candidate_logits(zs, x5.float()), -1).mean(1)  # (B, C)
        return probs.clamp_min(1e-30).log(), zs[:, 0]
    if z is None:
        z = single_gaze_map(test_gaze, gaze_logits, x5[:, 0], seeds=seeds, measured=measured)
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
