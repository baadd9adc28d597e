"""Test-time gaze: every way the z the classifier sees at test time is formed, in one place.

The modes (``test_gaze``), how the gaze head's logits (B, T', H', W') become z (B, T', H', W'):

- ``argmax``: z = one-hot of the argmax of q per slot (deterministic; the default of the hard-sample variants);
- ``expectation``: z = q itself, the relaxed map (the default of gaze-gumbel, which trains on relaxed maps);
- ``sample``: one Gumbel-Max sample, seeded per clip window: the reference's stochastic protocol;
- ``sample-mean``: ``samples`` seeded Gumbel-Max samples per window (:func:`sampled_gaze_maps`), whose class
  probabilities :func:`gazeattn.inference.forward.classify_with_gaze` averages, an estimate of E_q[p(y | x, z)];
- ``measured``: the measured gaze (uniform on slots without a fixation, :func:`measured_gaze_map`): the oracle's
  z, or an upper bound.

Ablations that ask whether the decision uses the gaze (:data:`ABLATIONS`): ``shuffled`` (each window gets the
z of a window of *another* clip, :class:`ShuffledGaze`, run by the evaluation, which sees many clips) and
``uniform`` (z = 1/K everywhere, :func:`uniform_gaze_map`; also what the training's gaze dropout substitutes).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gazeattn.estimators import gumbel_argmax, one_hot_maps, sample_gumbel

TEST_GAZE = ("argmax", "expectation", "sample", "sample-mean", "measured")
DETERMINISTIC = ("argmax", "expectation")  # the modes that need nothing but the video (what predict offers)
ABLATIONS = ("shuffled", "uniform")
COMPARED_WITH = (*ABLATIONS, "measured")  # what a run's primary mode is compared with (the study's ablation rows)
WITHOUT_GAZE_HEAD = COMPARED_WITH  # the modes a model without a gaze head can be evaluated with
EVALUATED = ("argmax", "expectation", "sample-mean", *COMPARED_WITH)  # every mode an evaluation reports
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


def sampled_gaze_maps(gaze_logits: Tensor, seeds: list[int], samples: int) -> Tensor:
    """(B, S, T', H', W') float32 one-hot Gumbel-Max samples of q, S = ``samples`` per clip window, seeded per
    window (the ``sample-mean`` mode's maps), on the logits' device."""
    grid = tuple(gaze_logits.shape[-2:])
    noise = _seeded_noise((samples, *gaze_logits.shape[1:]), seeds)  # (B, S, T', H', W')
    logits_s = gaze_logits.double().cpu().unsqueeze(1).expand_as(noise)  # (B, S, T', H', W')
    idx = gumbel_argmax(logits_s, noise)  # (B, S, T')
    return one_hot_maps(idx, grid, dtype=torch.float32).to(gaze_logits.device)


def uniform_gaze_map(like: Tensor) -> Tensor:
    """z = 1/K in every cell of every slot, shaped like ``like`` (B, T', H', W')."""
    k = like.shape[-1] * like.shape[-2]
    return torch.full_like(like, 1.0 / k)


def measured_gaze_map(batch: dict[str, Tensor]) -> Tensor:
    """The oracle's z (B, T', H', W'): the measured target distribution where there is one, uniform elsewhere."""
    target = batch["gaze_target"].float()
    mask = batch["gaze_mask"].bool()
    return torch.where(mask[..., None, None], target, uniform_gaze_map(target))


def single_gaze_map(mode: str, gaze_logits: Tensor | None, like: Tensor, *, seeds: list[int] | None = None,
                    measured: Tensor | None = None) -> Tensor:
    """z (B, T', H', W') of one map per window, for every mode but ``sample-mean`` and ``shuffled``: ``measured``
    (``measured`` given), ``uniform``, or predicted from ``gaze_logits`` (:func:`predicted_gaze_map`); on the
    device and in the dtype of ``like`` (B, T', H', W')."""
    if mode == "measured":
        if measured is None:
            raise ValueError("test gaze 'measured' needs the measured gaze map")
        return measured.to(like.device, like.dtype)
    if mode == "uniform":
        return uniform_gaze_map(like)
    if gaze_logits is None:
        raise ValueError(f"test gaze {mode!r} needs a gaze head")
    return predicted_gaze_map(gaze_logits.float(), mode, seeds=seeds).to(like.dtype)


class ShuffledGaze:
    """The ``shuffled`` ablation: z of another clip for every window, drawn from this batch and the previous one
    (seeded, deterministic)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.calls = 0
        self.pool_z: Tensor | None = None
        self.pool_clip: Tensor | None = None

    def __call__(self, z: Tensor, clips: Tensor) -> tuple[Tensor, int]:
        """(z', fallbacks): z' (B, T', H', W') from windows of other clips; uniform where none is at hand."""
        pool_z = z if self.pool_z is None else torch.cat([self.pool_z, z])
        pool_clip = clips if self.pool_clip is None else torch.cat([self.pool_clip, clips])
        gen = torch.Generator().manual_seed(self.seed * 7_919 + self.calls)
        out, fallbacks = torch.empty_like(z), 0
        for i, c in enumerate(clips.tolist()):
            others = torch.nonzero(pool_clip != c).flatten()
            if len(others):
                out[i] = pool_z[others[torch.randint(len(others), (1,), generator=gen)]]
            else:
                out[i] = uniform_gaze_map(z[i])
                fallbacks += 1
        self.pool_z, self.pool_clip, self.calls = z, clips, self.calls + 1
        return out, fallbacks
