"""Test-time gaze: how a trained gaze head's logits become the z the classifier sees (shared by eval and predict).

- ``argmax``: z = one-hot of the argmax of q per slot (deterministic; the default);
- ``expectation``: z = q itself (a relaxed map);
- ``sample``: a Gumbel-Max sample, one seed per clip window: the reference's stochastic protocol.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gazeattn.estimators import gumbel_argmax, one_hot_maps, sample_gumbel

TEST_GAZE = ("argmax", "expectation", "sample")


def predicted_gaze_map(gaze_logits: torch.Tensor, mode: str, *, seeds: list[int] | None = None) -> torch.Tensor:
    """z (B, T', H', W') from gaze logits (B, T', H', W') for the given protocol."""
    grid = tuple(gaze_logits.shape[-2:])
    if mode == "argmax":
        return one_hot_maps(gaze_logits.flatten(2).argmax(-1), grid, dtype=gaze_logits.dtype)
    if mode == "expectation":
        return F.softmax(gaze_logits.flatten(2), dim=-1).view_as(gaze_logits)  # (B, T', K) -> (B, T', H', W')
    if mode == "sample":
        if seeds is None or len(seeds) != gaze_logits.shape[0]:
            raise ValueError("sample mode needs one seed per clip window")
        noise = torch.stack([sample_gumbel(gaze_logits.shape[1:], torch.Generator().manual_seed(s),
                                           dtype=torch.float64) for s in seeds])
        idx = gumbel_argmax(gaze_logits.double().cpu(), noise)
        return one_hot_maps(idx, grid, dtype=gaze_logits.dtype).to(gaze_logits.device)
    raise ValueError(f"test gaze must be one of {TEST_GAZE}, got {mode!r}")
