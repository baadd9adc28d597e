"""Local expectation gradients (Titsias & Lázaro-Gredilla, NeurIPS 2015) for the product of T' categoricals.

Estimates ∇_θ E_{z∼q_θ}[L(z)] from one sample z* ∼ q and the same T'·K candidate losses as coordinate-wise
direct optimization, L_t(k) = L(z* with slot t set to k):

    ĝ_t = q_t ⊙ (L_t − q_t·L_t)          (q_t = softmax(θ_t), exact gradient of Σ_k q_t(k) L_t(k))

Unbiased: ∇_{θ_t} E_q[L] = E_{z_{−t}∼q}[∇_{θ_t} Σ_k q_t(k) L(z_{−t}, k)] and z*_{−t} ∼ q. It is the
ε → 0 limit of coordinate-wise direct optimization with γ_t integrated out; no loss evaluations beyond direct's, and
invariant to shifting L by a constant. With class losses it uses the total Σ_c w_c L_c.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gazeattn.estimators.base import SampleEstimator
from gazeattn.estimators.candidates import CandidateScores, score_sample_candidates
from gazeattn.estimators.gumbel import slot_softmax, unflatten_cells
from gazeattn.estimators.losses import LossFn

__all__ = ["local_expectation_from_scores", "local_expectation_gradient", "LocalExpectation"]


def local_expectation_from_scores(logits: Tensor, scores: CandidateScores) -> Tensor:
    """``q_t ⊙ (L_t − q_t·L_t)`` from scored candidates, shaped like ``logits`` (pure)."""
    q = slot_softmax(logits)  # (B, T', K) float64
    lt = scores.losses  # (B, T', K)
    g = q * (lt - (q * lt).sum(-1, keepdim=True))
    return unflatten_cells(g, tuple(logits.shape[-2:])).to(logits.dtype)


def local_expectation_gradient(
    logits: Tensor,
    gumbel: Tensor | None,
    loss_fn: LossFn,
    *,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Unbiased local-expectation estimate of ∇_logits E_q[L], shaped like ``logits``.

    z* = argmax(logits + gumbel) (``gumbel`` None: drawn from ``generator``); ``loss_fn`` as for
    :func:`~gazeattn.estimators.direct.direct_gradient` (T'·K evaluations per clip, no autograd, chunked).
    """
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, T', H', W'), got {tuple(logits.shape)}")
    _, _, scores = score_sample_candidates(logits, gumbel, loss_fn, chunk_size=chunk_size, generator=generator)
    return local_expectation_from_scores(logits, scores)


@dataclass(frozen=True)
class LocalExpectation(SampleEstimator):
    """Trainer-facing local expectation (unbiased); ``out.z`` is the Gumbel-Max sample z* (detached one-hot)."""

    chunk_size: int | None = None
    reduction: str = "mean"

    def estimate(self, logits: Tensor, loss_fn: LossFn, step: int,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor, dict]:
        _, z_star, scores = score_sample_candidates(logits, None, loss_fn, chunk_size=self.chunk_size,
                                                    generator=generator)
        grad = local_expectation_from_scores(logits, scores)
        return grad, z_star, {"loss_evals": scores.evaluations, "grad_norm": float(grad.double().norm())}
