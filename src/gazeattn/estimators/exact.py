"""Exact enumeration of the product of T' categoricals: the oracle for tests and benchmarks.

E_q[L] = Σ_z q(z) L(z) over all K^T' joint maps, and its gradient

    ∂E_q[L]/∂θ_t(k) = Σ_z q(z) L(z) (1[z_t = k] − q_t(k)) = A_t(k) − q_t(k)·E_q[L],
    A_t(k) = Σ_{z: z_t=k} q(z) L(z)

accumulated chunk by chunk (no autograd). Exact, no bias or variance; K^T' loss evaluations per clip, refused
above ``max_maps``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from gazeattn.estimators.gumbel import ARGMAX_DTYPE, one_hot_maps
from gazeattn.estimators.losses import LossFn, split_loss_output

__all__ = [
    "DEFAULT_MAX_MAPS",
    "joint_indices",
    "exact_moments",
    "exact_expected_loss",
    "exact_gradient",
]

# Large enough for the 3×7×7 gaze grid (49³ = 117,649 maps).
DEFAULT_MAX_MAPS = 131_072


def joint_indices(t_slots: int, k_cells: int, start: int, stop: int, *, device=None) -> Tensor:
    """Joint maps ``start..stop-1`` in mixed radix K (slot 0 most significant): flat cell indices (M, T')."""
    n = torch.arange(start, stop, device=device)
    digits = []
    for _ in range(t_slots):
        digits.append(n % k_cells)
        n = n // k_cells
    return torch.stack(digits[::-1], dim=-1)


@torch.no_grad()
def exact_moments(
    logits: Tensor,
    loss_fn: LossFn | Callable[[Tensor], Tensor],
    *,
    max_maps: int = DEFAULT_MAX_MAPS,
    chunk_size: int = 8192,
    map_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(E_q[L] (B,), ∇_logits E_q[L] like logits)``, both float64, by enumerating all K^T' maps.

    ``loss_fn`` gets one-hot maps (B, M, T', H', W') (the same M maps for every clip), or with ``map_indices=True``
    the flat cell indices (M, T') of the maps (for heads that score one-hot maps by gathering columns); it returns
    (B, M) losses (or ClassLosses, summed with their weights).
    """
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, T', H', W'), got {tuple(logits.shape)}")
    b, t_slots = logits.shape[:2]
    grid = tuple(logits.shape[-2:])
    k_cells = grid[0] * grid[1]
    n_maps = k_cells**t_slots
    if n_maps > max_maps:
        raise ValueError(
            f"exact enumeration needs K^T' = {k_cells}^{t_slots} = {n_maps} maps per clip, above max_maps={max_maps}; "
            "use a smaller grid or raise max_maps"
        )
    logq = torch.log_softmax(logits.detach().to(ARGMAX_DTYPE).flatten(-2), dim=-1)  # (B, T', K)
    expected = torch.zeros(b, dtype=ARGMAX_DTYPE, device=logits.device)
    acc = torch.zeros(b, t_slots, k_cells, dtype=ARGMAX_DTYPE, device=logits.device)  # A_t(k)
    for start in range(0, n_maps, chunk_size):
        idx = joint_indices(t_slots, k_cells, start, min(n_maps, start + chunk_size), device=logits.device)  # (M, T')
        m = idx.shape[0]
        if map_indices:
            out = loss_fn(idx)
        else:
            z = one_hot_maps(idx, grid, dtype=torch.float32).unsqueeze(0).expand(b, *idx.shape, *grid)
            out = loss_fn(z)
        loss, _, _ = split_loss_output(out, b, m)
        # log q(z) = Σ_t log q_t(z_t): (B, M)
        logp = sum(logq[:, t, idx[:, t]] for t in range(t_slots))
        pl = logp.exp() * loss.to(ARGMAX_DTYPE)  # (B, M)
        expected += pl.sum(1)
        for t in range(t_slots):
            acc[:, t].index_add_(1, idx[:, t], pl)
    grad = acc - logq.exp() * expected[:, None, None]
    return expected, grad.unflatten(-1, grid)


def exact_expected_loss(logits: Tensor, loss_fn, **kwargs) -> Tensor:
    """Exact E_q[L] per clip (B,), float64; see :func:`exact_moments` for the options."""
    return exact_moments(logits, loss_fn, **kwargs)[0]


def exact_gradient(logits: Tensor, loss_fn, **kwargs) -> Tensor:
    """Exact ∇_logits E_q[L] (float64, shaped like logits); see :func:`exact_moments` for the options."""
    return exact_moments(logits, loss_fn, **kwargs)[1]

