"""The T'·K coordinate-wise candidates around a sample z*, and their losses.

Candidate ``m = t·K + k`` of clip ``b`` is "z*_b with slot t moved to cell k" (so the T' candidates with
``k = z*_t`` all equal z* itself). Candidates are built chunk by chunk from the flat indices of z*, in the
same row ``b`` as the clip they belong to, so they can never be paired with another clip's features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gazeattn.estimators.gumbel import ARGMAX_DTYPE, gumbel_argmax, resolve_gumbel
from gazeattn.estimators.losses import LossFn, split_loss_output

__all__ = ["CandidateScores", "coordinate_candidates", "score_coordinate_candidates", "score_sample_candidates"]


@dataclass(frozen=True)
class CandidateScores:
    """Losses of the coordinate-wise candidates of each clip.

    ``losses``: (B, T', K) total loss ``L_t(k) = L(z* with slot t set to k)``; ``per_class``: (B, T', K, C) or
    None; ``weights``: (B, C) or None; ``z_star``: (B, T') flat indices; ``evaluations``: candidate maps scored
    (B·T'·K).
    """

    losses: Tensor
    per_class: Tensor | None
    weights: Tensor | None
    z_star: Tensor
    evaluations: int


def coordinate_candidates(
    z_index: Tensor,
    grid: tuple[int, int],
    *,
    start: int = 0,
    stop: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Candidates ``start..stop-1`` (of T'·K) for each clip: ``(B, M, T', H', W')`` one-hot maps.

    ``z_index`` is (B, T') flat cell indices of z*.
    """
    b, t_slots = z_index.shape
    k_cells = grid[0] * grid[1]
    stop = t_slots * k_cells if stop is None else stop
    ms = torch.arange(start, stop, device=z_index.device)  # (M,)
    ts, ks = ms // k_cells, ms % k_cells
    base = torch.nn.functional.one_hot(z_index, k_cells).to(dtype)  # (B, T', K)
    cand = base.unsqueeze(1).repeat(1, ms.numel(), 1, 1)  # (B, M, T', K)
    j = torch.arange(ms.numel(), device=z_index.device)
    cand[:, j, ts, :] = 0
    cand[:, j, ts, ks] = 1
    return cand.unflatten(-1, tuple(grid))  # (B, M, T', H', W')


@torch.no_grad()
def score_coordinate_candidates(
    z_index: Tensor,
    grid: tuple[int, int],
    loss_fn: LossFn,
    *,
    chunk_size: int | None = None,
    map_dtype: torch.dtype = torch.float32,
) -> CandidateScores:
    """Evaluate ``loss_fn`` on all T'·K candidates of every clip, without autograd, ``chunk_size`` maps per
    clip per call (``loss_fn`` sees (B, M_chunk, T', H', W')); None scores all T'·K in one call."""
    b, t_slots = z_index.shape
    k_cells = grid[0] * grid[1]
    n = t_slots * k_cells
    step = n if chunk_size is None else int(chunk_size)
    if step < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    totals, classes, weights = [], [], None
    for start in range(0, n, step):
        stop = min(n, start + step)
        z = coordinate_candidates(z_index, grid, start=start, stop=stop, dtype=map_dtype)
        total, per_class, w = split_loss_output(loss_fn(z), b, stop - start)
        totals.append(total.detach().to(ARGMAX_DTYPE))
        if per_class is not None:
            classes.append(per_class.detach().to(ARGMAX_DTYPE))
            weights = w.detach().to(ARGMAX_DTYPE) if weights is None else weights
    losses = torch.cat(totals, dim=1).view(b, t_slots, k_cells)  # (B, T'·K) -> (B, T', K)
    per_class = torch.cat(classes, dim=1).view(b, t_slots, k_cells, -1) if classes else None  # (B, T', K, C)
    return CandidateScores(losses, per_class, weights, z_index, evaluations=b * n)


def score_sample_candidates(logits: Tensor, gumbel: Tensor | None, loss_fn: LossFn, *, chunk_size: int | None = None,
                            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, CandidateScores]:
    """(γ, z*, scores): the Gumbel noise (``gumbel``, or drawn from ``generator`` when None), the sample
    z* = argmax(logits + γ) (B, T') and the losses of its coordinate candidates (:func:`score_coordinate_candidates`):
    what the direct and the local-expectation estimators start from."""
    gumbel = resolve_gumbel(logits, gumbel, generator)
    z_star = gumbel_argmax(logits, gumbel)
    return gumbel, z_star, score_coordinate_candidates(z_star, tuple(logits.shape[-2:]), loss_fn,
                                                       chunk_size=chunk_size)
