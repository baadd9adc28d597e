"""Gumbel noise, Gumbel-Max sampling and one-hot helpers for the gaze latent.

Gaze convention: logits and samples are ``(B, T', H', W')`` -- one categorical over the K = H'·W' cells of
each temporal slot. Internally the cells are flattened to ``(B, T', K)``; a sample is stored as flat cell
indices ``(B, T')`` (``k = h·W' + w``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "ARGMAX_DTYPE",
    "sample_gumbel",
    "flatten_cells",
    "unflatten_cells",
    "gumbel_argmax",
    "one_hot_maps",
    "slot_softmax",
    "resolve_gumbel",
]

# Argmaxes of perturbed logits are always taken in float64: bf16/fp16 create ties between Gumbel gaps.
ARGMAX_DTYPE = torch.float64


def sample_gumbel(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """I.i.d. standard Gumbel(0, 1) noise ``-log(-log U)``, ``U ~ Uniform(0, 1)``.

    The uniforms are drawn on the generator's device (CPU when no generator is given) in float64 and then moved
    to ``device``/``dtype``, so the same generator seed gives the same noise whatever the target device.
    """
    gen_device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(tuple(shape), generator=generator, dtype=torch.float64, device=gen_device)
    tiny = torch.finfo(torch.float64).tiny
    u = u.clamp(min=tiny, max=1.0 - torch.finfo(torch.float64).eps)
    g = -torch.log(-torch.log(u))
    return g.to(device=device if device is not None else gen_device, dtype=dtype)


def flatten_cells(x: Tensor) -> Tensor:
    """``(..., T', H', W') -> (..., T', K)`` with ``K = H'·W'`` (row-major cells)."""
    return x.flatten(-2)


def unflatten_cells(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """``(..., T', K) -> (..., T', H', W')``."""
    return x.unflatten(-1, tuple(grid))


def gumbel_argmax(logits: Tensor, gumbel: Tensor) -> Tensor:
    """Gumbel-Max sample: flat cell index ``argmax_k(logits_t(k) + gumbel_t(k))`` per slot, shape ``(..., T')``.

    Computed in float64 (never in the logits' own low precision).
    """
    if logits.shape != gumbel.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and gumbel {tuple(gumbel.shape)} must have the same shape")
    scores = flatten_cells(logits.detach().to(ARGMAX_DTYPE)) + flatten_cells(gumbel.detach().to(ARGMAX_DTYPE))
    return scores.argmax(-1)


def one_hot_maps(index: Tensor, grid: tuple[int, int], *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Flat cell indices ``(..., T')`` -> one-hot gaze maps ``(..., T', H', W')``."""
    k = grid[0] * grid[1]
    return unflatten_cells(torch.nn.functional.one_hot(index, k).to(dtype), grid)


def slot_softmax(logits: Tensor, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """q = softmax over the cells of each slot: ``(B, T', H', W') -> (B, T', K)`` in ``dtype``."""
    return torch.softmax(flatten_cells(logits.detach().to(dtype)), dim=-1)


def resolve_gumbel(logits: Tensor, gumbel: Tensor | None, generator: torch.Generator | None) -> Tensor:
    """``gumbel`` checked against the logits' shape, or fresh noise (float64) from ``generator`` when None."""
    if gumbel is None:
        return sample_gumbel(logits.shape, generator, dtype=ARGMAX_DTYPE, device=logits.device)
    if gumbel.shape != logits.shape:
        raise ValueError(f"gumbel {tuple(gumbel.shape)} must be shaped like logits {tuple(logits.shape)}")
    return gumbel
