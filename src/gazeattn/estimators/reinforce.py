"""REINFORCE (score function) with an optional leave-one-out baseline, for the product of T' categoricals.

Estimates ∇_θ E_{z∼q_θ}[L(z)] from S joint samples z_1..z_S ∼ q per clip (Gumbel-Max):

    ĝ = (1/S) Σ_s (L(z_s) − b_s) ∇_θ log q(z_s),     ∇_{θ_t} log q(z) = onehot(z_t) − q_t
    baseline "loo":  b_s = (1/(S−1)) Σ_{s'≠s} L(z_{s'})   (needs S ≥ 2)
    baseline "none": b_s = 0

Both unbiased (b_s is independent of z_s). With the leave-one-out baseline the estimate is invariant to
shifting L by a constant; without it the variance grows with the square of the shift. S evaluations per clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gazeattn.estimators.base import SampleEstimator
from gazeattn.estimators.gumbel import ARGMAX_DTYPE, gumbel_argmax, one_hot_maps, sample_gumbel, slot_softmax
from gazeattn.estimators.losses import LossFn, split_loss_output

__all__ = ["ReinforceResult", "reinforce_estimate", "reinforce_gradient", "Reinforce"]

BASELINES = ("loo", "none")


@dataclass(frozen=True)
class ReinforceResult:
    """``grad`` like logits; ``samples`` (B, S, T') flat indices; ``losses`` (B, S); ``loss_evals`` = B·S."""

    grad: Tensor
    samples: Tensor
    losses: Tensor
    loss_evals: int


@torch.no_grad()
def reinforce_estimate(
    logits: Tensor,
    loss_fn: LossFn,
    n_samples: int,
    *,
    generator: torch.Generator | None = None,
    gumbel: Tensor | None = None,
    baseline: str = "loo",
    chunk_size: int | None = None,
) -> ReinforceResult:
    """REINFORCE with diagnostics. ``gumbel``: (S, B, T', H', W') noise, or None to draw it from ``generator``.
    ``loss_fn`` sees (B, S_chunk, T', H', W') one-hot samples (``chunk_size`` samples per clip per call)."""
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, T', H', W'), got {tuple(logits.shape)}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    s = int(n_samples)
    if s < 1 or (baseline == "loo" and s < 2):
        raise ValueError(f"n_samples must be >= 1 (>= 2 with the leave-one-out baseline), got {n_samples}")
    b = logits.shape[0]
    grid = tuple(logits.shape[-2:])
    k_cells = grid[0] * grid[1]
    if gumbel is None:
        gumbel = sample_gumbel((s, *logits.shape), generator, dtype=ARGMAX_DTYPE, device=logits.device)
    if tuple(gumbel.shape) != (s, *logits.shape):
        raise ValueError(f"gumbel must be (S, B, T', H', W') = {(s, *logits.shape)}, got {tuple(gumbel.shape)}")
    samples = gumbel_argmax(logits.unsqueeze(0).expand_as(gumbel), gumbel).transpose(0, 1)  # (S,B,T')->(B,S,T')
    step = s if chunk_size is None else int(chunk_size)
    losses = []
    for start in range(0, s, step):
        z = one_hot_maps(samples[:, start : start + step], grid, dtype=torch.float32)  # (B, S_c, T', H', W')
        total, _, _ = split_loss_output(loss_fn(z), b, z.shape[1])
        losses.append(total.detach().to(ARGMAX_DTYPE))
    lz = torch.cat(losses, dim=1)  # (B, S)
    if baseline == "loo":
        adv = lz - (lz.sum(1, keepdim=True) - lz) / (s - 1)
    else:
        adv = lz
    q = slot_softmax(logits)  # (B, T', K)
    score = torch.nn.functional.one_hot(samples, k_cells).to(ARGMAX_DTYPE) - q.unsqueeze(1)  # (B, S, T', K)
    g = (adv[:, :, None, None] * score).mean(1)  # (B, T', K)
    return ReinforceResult(g.unflatten(-1, grid).to(logits.dtype), samples, lz, b * s)


def reinforce_gradient(logits: Tensor, loss_fn: LossFn, n_samples: int, **options) -> Tensor:
    """Unbiased REINFORCE estimate of ∇_logits E_q[L] over ``n_samples`` joint samples, shaped like logits.
    ``options``: those of :func:`reinforce_estimate` (``generator``, ``gumbel``, ``baseline``, ``chunk_size``)."""
    return reinforce_estimate(logits, loss_fn, n_samples, **options).grad


@dataclass(frozen=True)
class Reinforce(SampleEstimator):
    """Trainer-facing REINFORCE(-LOO); ``out.z`` is the first of the S samples (detached one-hot)."""

    n_samples: int = 8
    baseline: str = "loo"
    chunk_size: int | None = None
    reduction: str = "mean"

    def estimate(self, logits: Tensor, loss_fn: LossFn, step: int,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor, dict]:
        res = reinforce_estimate(
            logits, loss_fn, self.n_samples, generator=generator, baseline=self.baseline, chunk_size=self.chunk_size
        )
        stats = {"loss_evals": res.loss_evals, "grad_norm": float(res.grad.double().norm())}
        return res.grad, res.samples[:, 0], stats
