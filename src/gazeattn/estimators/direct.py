"""Direct optimization (Lorberbom et al., NeurIPS 2019), coordinate-wise as in Min & Corso (WACV 2021).

Estimates ∇_θ E_{z∼q_θ}[L(z)] with q a product of T' softmaxes over the K cells of each slot.

With γ ~ Gumbel(0,1) and z* = argmax(θ + γ) (an exact sample of q), each slot t is perturbed while the others
are held at z*:

    L_t(k)        = L(z* with slot t set to k)                                (T'·K loss evaluations per clip)
    z_{±ε}[t]     = argmax_k (θ_t(k) + γ_t(k) ± ε·L_t(k))                     (the SAME γ as z*)
    one-sided:  ĝ_t = (onehot(z*_t) − onehot(z_{−ε}[t])) / ε
    central:    ĝ_t = (onehot(z_{+ε}[t]) − onehot(z_{−ε}[t])) / (2ε)

Bias: for one categorical E_γ[onehot(z_{−ε})] = softmax(θ − εL), so
E[ĝ] = (softmax(θ) − softmax(θ − εL))/ε, an O(ε) bias (O(ε²) for central); coordinate-wise,
E[ĝ_t] = E_{z_{−t}∼q}[(q_t − softmax(θ_t − εL(z_{−t},·)))/ε].
Consistent only as ε → 0, where the variance grows like 1/ε. Large ε gives a push of size 1/ε toward the
coordinate-wise argmin of L. Shifting L by a constant leaves ĝ unchanged sample by sample; (L, ε) → (aL, ε/a)
scales it by a.

Relative ε (``relative=True``): the perturbation scale follows the loss. Each slot t of each clip uses
ε_t = ε / s_t with s_t the standard deviation of its K candidate losses L_t(·) (ε itself where s_t = 0, when the
estimate is 0 anyway). By the identity (L, ε) → (aL, ε/a), the flips then depend on the loss only through its
shape, not its scale, and the estimate keeps the loss's scale: ĝ_t = s_t·(onehot(z*_t) − onehot(z_{−ε}[t]))/ε.
Given z*_{−t}, s_t is fixed (it does not depend on γ_t), so the bias formula above holds slot by slot with ε_t.

Class-wise form (soft labels): if ``loss_fn`` returns :class:`~gazeattn.estimators.losses.ClassLosses`, one
perturbed argmax is taken per class c with L_c, and ĝ = Σ_c w_c ĝ^(c) -- an estimate of ∇ E_q[Σ_c w_c L_c].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gazeattn.estimators.base import SampleEstimator
from gazeattn.estimators.candidates import CandidateScores, score_sample_candidates
from gazeattn.estimators.exact import DEFAULT_MAX_MAPS, joint_indices
from gazeattn.estimators.gumbel import (
    ARGMAX_DTYPE,
    flatten_cells,
    one_hot_maps,
    resolve_gumbel,
    unflatten_cells,
)
from gazeattn.estimators.losses import LossFn, split_loss_output
from gazeattn.estimators.schedules import Constant, Schedule

__all__ = [
    "DirectResult",
    "direct_from_scores",
    "direct_estimate",
    "direct_gradient",
    "direct_joint_gradient",
    "DirectOptimization",
]

MODES = ("one_sided", "central")


@dataclass(frozen=True)
class DirectResult:
    """``grad`` (like logits); ``z_star`` (B, T') flat indices; ``z_minus``/``z_plus`` (B, T') or (B, T', C)
    class-wise, ``z_plus`` None for one-sided; ``flip_rate`` (T',) = P(z_{−ε} ≠ z*) per slot over the batch
    (label-weighted class-wise); ``loss_evals`` candidate maps scored; ``scores`` the candidate losses."""

    grad: Tensor
    z_star: Tensor
    z_minus: Tensor
    z_plus: Tensor | None
    flip_rate: Tensor
    loss_evals: int
    scores: CandidateScores
    eps: Tensor | None = None


def _check(logits: Tensor, eps: float, mode: str) -> None:
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, T', H', W'), got {tuple(logits.shape)}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def relative_eps(losses: Tensor, eps: float) -> Tensor:
    """(B, T', 1) ε_t = ε / std_k L_t(k) per clip and slot (ε where the candidate losses are all equal)."""
    spread = losses.std(dim=-1, unbiased=False, keepdim=True)  # (B, T', 1)
    return torch.where(spread > 0, eps / spread.clamp_min(torch.finfo(spread.dtype).tiny), torch.full_like(spread, eps))


def direct_from_scores(
    logits: Tensor, gumbel: Tensor, scores: CandidateScores, eps: float, *, mode: str = "one_sided",
    relative: bool = False,
) -> DirectResult:
    """The direct estimate from already-scored candidates (pure; shares the scores with local expectation)."""
    _check(logits, eps, mode)
    grid = tuple(logits.shape[-2:])
    k_cells = grid[0] * grid[1]
    perturbed = flatten_cells(logits.detach().to(ARGMAX_DTYPE)) + flatten_cells(gumbel.detach().to(ARGMAX_DTYPE))
    z_star = scores.z_star  # (B, T')
    if not torch.equal(z_star, perturbed.argmax(-1)):
        raise ValueError("scores were computed around a z* that is not argmax(logits + gumbel): use the same noise")
    e = relative_eps(scores.losses, eps) if relative else torch.full_like(scores.losses[..., :1], eps)  # (B, T', 1)
    star_1h = torch.nn.functional.one_hot(z_star, k_cells).to(ARGMAX_DTYPE)  # (B, T', K)
    if scores.per_class is None:
        z_minus = (perturbed - e * scores.losses).argmax(-1)  # (B, T')
        minus_1h = torch.nn.functional.one_hot(z_minus, k_cells).to(ARGMAX_DTYPE)
        flipped = z_minus != z_star  # (B, T')
        if mode == "one_sided":
            z_plus, diff = None, (star_1h - minus_1h) / e
        else:
            z_plus = (perturbed + e * scores.losses).argmax(-1)
            diff = (torch.nn.functional.one_hot(z_plus, k_cells).to(ARGMAX_DTYPE) - minus_1h) / (2 * e)
            flipped = flipped | (z_plus != z_star)
        flip = flipped.to(ARGMAX_DTYPE).mean(0)  # (T',)
    else:
        lc = scores.per_class  # (B, T', K, C)
        w = scores.weights  # (B, C)
        ec = e.unsqueeze(-1)  # (B, T', 1, 1)
        z_minus = (perturbed.unsqueeze(-1) - ec * lc).argmax(2)  # (B, T', C)
        minus_1h = torch.nn.functional.one_hot(z_minus, k_cells).to(ARGMAX_DTYPE)  # (B, T', C, K)
        wk = w[:, None, :, None]  # (B, 1, C, 1)
        flipped = z_minus != z_star.unsqueeze(-1)  # (B, T', C)
        if mode == "one_sided":
            z_plus = None
            diff = ((star_1h.unsqueeze(2) - minus_1h) * wk).sum(2) / e  # (B, T', K)
        else:
            z_plus = (perturbed.unsqueeze(-1) + ec * lc).argmax(2)
            plus_1h = torch.nn.functional.one_hot(z_plus, k_cells).to(ARGMAX_DTYPE)
            diff = ((plus_1h - minus_1h) * wk).sum(2) / (2 * e)
            flipped = flipped | (z_plus != z_star.unsqueeze(-1))
        wsum = w.sum(-1).clamp_min(torch.finfo(ARGMAX_DTYPE).tiny)  # (B,)
        flip = ((flipped.to(ARGMAX_DTYPE) * w[:, None, :]).sum(-1) / wsum[:, None]).mean(0)  # (T',)
    grad = unflatten_cells(diff, grid).to(logits.dtype)
    return DirectResult(grad, z_star, z_minus, z_plus, flip, scores.evaluations, scores, e)


def direct_estimate(
    logits: Tensor,
    gumbel: Tensor | None,
    loss_fn: LossFn,
    eps: float,
    *,
    mode: str = "one_sided",
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    relative: bool = False,
) -> DirectResult:
    """Direct estimate with diagnostics. ``gumbel`` (like logits) or None to draw it from ``generator``."""
    _check(logits, eps, mode)
    gumbel, _, scores = score_sample_candidates(logits, gumbel, loss_fn, chunk_size=chunk_size, generator=generator)
    return direct_from_scores(logits, gumbel, scores, eps, mode=mode, relative=relative)


def direct_gradient(logits: Tensor, gumbel: Tensor | None, loss_fn: LossFn, eps: float, **options) -> Tensor:
    """Coordinate-wise direct-optimization estimate of ∇_logits E_q[L], shaped like ``logits`` (B, T', H', W').

    Biased by O(ε) (one-sided) or O(ε²) (central); see the module docstring for the equations. ``loss_fn`` maps
    (B, M, T', H', W') one-hot candidates to (B, M) losses (or :class:`ClassLosses`), must be deterministic and
    is called under ``torch.no_grad()`` on chunks of ``chunk_size`` candidates per clip. ``options``: those of
    :func:`direct_estimate` (``mode``, ``chunk_size``, ``generator``, ``relative``).
    """
    return direct_estimate(logits, gumbel, loss_fn, eps, **options).grad


@torch.no_grad()
def direct_joint_gradient(
    logits: Tensor,
    gumbel: Tensor | None,
    loss_fn: LossFn,
    eps: float,
    *,
    mode: str = "one_sided",
    max_maps: int = DEFAULT_MAX_MAPS,
    chunk_size: int = 8192,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Direct optimization with the exact JOINT perturbed argmax over all K^T' maps (tiny grids; for comparison).

    z_{±ε} = argmax_z Σ_t (θ_t + γ_t)(z_t) ± ε·L(z) over every joint map z (the same per-slot γ as z*), then
    ĝ = (onehot(z*) − onehot(z_{−ε}))/ε (central: (onehot(z_{+ε}) − onehot(z_{−ε}))/(2ε)). Biased for
    finite ε like the coordinate-wise form (and, with per-slot noise, not the full-perturbation estimator of Lorberbom
    et al.); K^T' loss evaluations per clip, refused above ``max_maps``. ``loss_fn`` as for
    :func:`direct_gradient`, called on (B, M_chunk, T', H', W') chunks of all maps; class losses use their total.
    """
    _check(logits, eps, mode)
    gumbel = resolve_gumbel(logits, gumbel, generator)
    b, t_slots = logits.shape[:2]
    grid = tuple(logits.shape[-2:])
    k_cells = grid[0] * grid[1]
    n_maps = k_cells**t_slots
    if n_maps > max_maps:
        raise ValueError(f"joint argmax needs K^T' = {n_maps} maps per clip, above max_maps={max_maps}")
    perturbed = flatten_cells(logits.to(ARGMAX_DTYPE)) + flatten_cells(gumbel.to(ARGMAX_DTYPE))  # (B, T', K)
    signs = (-1.0,) if mode == "one_sided" else (-1.0, 1.0)
    best = {s: torch.full((b,), -torch.inf, dtype=ARGMAX_DTYPE, device=logits.device) for s in signs}
    best_idx = {s: torch.zeros(b, t_slots, dtype=torch.long, device=logits.device) for s in signs}
    for start in range(0, n_maps, chunk_size):
        idx = joint_indices(t_slots, k_cells, start, min(n_maps, start + chunk_size), device=logits.device)  # (M, T')
        z = one_hot_maps(idx, grid, dtype=torch.float32).unsqueeze(0).expand(b, *idx.shape, *grid)
        loss, _, _ = split_loss_output(loss_fn(z), b, idx.shape[0])
        score = sum(perturbed[:, t, idx[:, t]] for t in range(t_slots))  # (B, M)
        for s in signs:
            val, arg = (score + s * eps * loss.to(ARGMAX_DTYPE)).max(1)
            better = val > best[s]
            best[s] = torch.where(better, val, best[s])
            best_idx[s] = torch.where(better[:, None], idx[arg], best_idx[s])

    def one_hot(i: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(i, k_cells).to(ARGMAX_DTYPE)

    if mode == "one_sided":
        diff = (one_hot(perturbed.argmax(-1)) - one_hot(best_idx[-1.0])) / eps
    else:
        diff = (one_hot(best_idx[1.0]) - one_hot(best_idx[-1.0])) / (2 * eps)
    return unflatten_cells(diff, grid).to(logits.dtype)


@dataclass(frozen=True)
class DirectOptimization(SampleEstimator):
    """Trainer-facing direct optimization: ε from ``eps_schedule(step)`` (relative to the candidate losses'
    spread if ``relative``); see :func:`direct_gradient`.

    ``surrogate`` draws γ, takes z* = argmax(θ + γ) as the sample for the forward pass (``out.z``, detached
    one-hot) and returns a zero-valued surrogate whose gradient is the direct estimate (batch-``reduction``).
    """

    eps_schedule: Schedule = Constant(1.0)
    mode: str = "one_sided"
    chunk_size: int | None = None
    reduction: str = "mean"
    relative: bool = False

    def estimate(self, logits: Tensor, loss_fn: LossFn, step: int,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor, dict]:
        eps = float(self.eps_schedule(step))
        res = direct_estimate(
            logits, None, loss_fn, eps, mode=self.mode, chunk_size=self.chunk_size, generator=generator,
            relative=self.relative,
        )
        stats = {
            "eps": eps,
            "flip_rate": float(res.flip_rate.mean()),
            "flip_rate_per_slot": [float(f) for f in res.flip_rate],
            "loss_evals": res.loss_evals,
            "grad_norm": float(res.grad.double().norm()),
            "eps_effective": float(res.eps.mean()),
            "loss_spread": float(res.scores.losses.std(dim=-1, unbiased=False).mean()),
        }
        return res.grad, res.z_star, stats
