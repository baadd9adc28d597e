"""p(y | x, z): turning a gaze map z (B, T', H', W') into attention over x5 and classifying.

Three heads with one interface -- ``forward(z, x5) -> logits (B, C)`` and
``pooled_candidates(z (B, M, T', H', W'), x5) -> features (B, M, C5)`` followed by ``logits_from_pooled`` --
all ending in the same classifier: dropout then ``fc_f``, a 1×1×1 conv with bias (the reference's name) applied
to the pooled (B, C5, 1, 1, 1) features and flattened to (B, C).

* :class:`MinAttention` (Min & Corso, WACV 2021): a = sigmoid(FC(flatten z)) with FC over the N = T'·H'·W'
  cells in (T', H', W') row-major order, one map broadcast over the channels;
  f = GAP(x5 ⊙ a) + GAP(x5)  (the second term: a residual).
* :class:`LiAttention` (Li, Liu & Rehg, ECCV 2018, the Gumbel-Softmax baseline): z itself (relaxed, each slot's
  H'×W' map summing to 1) weights a spatial pooling of x5, averaged over the T' slots:
  f = (1/T') Σ_t Σ_{h,w} z[t, h, w] · x5[:, t, h, w]. No FC, no residual.
* :class:`NoGazeHead` (plain I3D): f = GAP(x5); z is ignored (may be None).

Oracle gaze: feed the measured gaze as z, i.e. the dataset's ``gaze_target`` (B, T', H', W') (one-hot per slot
for the ``first``/``majority`` target policies) -- ``model.classify(batch["gaze_target"], x5)``.

Every head is pure: dropout follows the module's mode (the caller puts the model in eval mode, or otherwise
disables dropout, when candidate losses must be deterministic).

Batched candidates: since every head's pooled feature is linear in x5 given the weights w(cell) of each cell,
    f_m = Σ_cells w_m(cell) · x5[:, cell] (+ GAP(x5)),
M candidate maps cost one (B, M, N) @ (B, N, C5) matmul on x5 flattened once -- x5 is never copied per candidate.
For Min & Corso w_m = sigmoid(FC(z_m)) / N, for Li et al. w_m = z_m / T'.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["AttentionHead", "MinAttention", "LiAttention", "NoGazeHead", "check_grid"]


def check_grid(z: Tensor | None, x5: Tensor, grid: tuple[int, int, int] | None, what: str) -> None:
    """Raise a clear error when z's grid, x5's grid and the head's configured grid disagree."""
    x_grid = tuple(x5.shape[2:])
    if x5.dim() != 5:
        raise ValueError(f"x5 must be (B, C, T', H', W'), got {tuple(x5.shape)}")
    if grid is not None and x_grid != tuple(grid):
        raise ValueError(
            f"x5's grid {x_grid} does not match the {what} grid {tuple(grid)} the model was built for; "
            "build the model with ModelConfig(clip=(frames, height, width)) matching the input clips")
    if z is not None and tuple(z.shape[-3:]) != x_grid:
        raise ValueError(f"z's grid {tuple(z.shape[-3:])} (z {tuple(z.shape)}) does not match x5's grid {x_grid}")
    if z is not None and z.shape[0] != x5.shape[0]:
        raise ValueError(f"z has batch {z.shape[0]} but x5 has batch {x5.shape[0]}")


class AttentionHead(nn.Module):
    """Shared classifier: ``logits = fc_f(dropout(f))``, fc_f a 1×1×1 conv (C5 → num_classes) with bias."""

    residual = True
    grid: tuple[int, int, int] | None = None

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_f = nn.Conv3d(channels, num_classes, kernel_size=1, bias=True)

    def cell_weights(self, z: Tensor) -> Tensor:
        """(..., T', H', W') → (..., N): the weight of each cell of x5 in the pooled feature."""
        raise NotImplementedError

    def pooled(self, z: Tensor | None, x5: Tensor) -> Tensor:
        """(B, C5, 1, 1, 1) pooled features, computed the reference's way (x5 ⊙ map, then average)."""
        raise NotImplementedError

    def forward(self, z: Tensor | None, x5: Tensor) -> Tensor:
        f = self.dropout(self.pooled(z, x5))  # (B, C5, 1, 1, 1)
        return self.fc_f(f).flatten(1)  # (B, num_classes, 1, 1, 1) -> (B, num_classes)

    def pooled_candidates(self, z: Tensor, x5: Tensor) -> Tensor:
        """z (B, M, T', H', W') → pooled features (B, M, C5) by one batched matmul (x5 flattened once)."""
        check_grid(z, x5, self.grid, "attention")
        if z.dim() != 5:
            raise ValueError(f"candidate maps must be (B, M, T', H', W'), got {tuple(z.shape)}")
        x5_flat = x5.flatten(2)  # (B, C5, N), a view
        w = self.cell_weights(z.to(x5.dtype)).flatten(2)  # (B, M, N)
        f = torch.matmul(w, x5_flat.transpose(1, 2))  # (B, M, N) @ (B, N, C5) -> (B, M, C5)
        if self.residual:
            f = f + x5_flat.mean(-1).unsqueeze(1)  # + GAP(x5) (B, 1, C5)
        return f

    def logits_from_pooled(self, f: Tensor) -> Tensor:
        """(B, M, C5) pooled features → (B, M, num_classes): dropout + fc_f as a linear map."""
        w = self.fc_f.weight.flatten(1)  # (num_classes, C5, 1, 1, 1) -> (num_classes, C5)
        return F.linear(self.dropout(f), w, self.fc_f.bias)


class MinAttention(AttentionHead):
    """Min & Corso's attention. ``grid``: (T', H', W') the FC is sized for (N = T'·H'·W' → N).

    Keys: ``fc.weight`` (N, N), ``fc.bias`` (N,), ``fc_f.weight`` (C, C5, 1, 1, 1), ``fc_f.bias`` (C,).
    """

    def __init__(self, grid: tuple[int, int, int], channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__(channels, num_classes, dropout)
        self.grid = tuple(grid)  # type: ignore[assignment]
        n = grid[0] * grid[1] * grid[2]
        self.fc = nn.Linear(n, n, bias=True)

    def attention_map(self, z: Tensor) -> Tensor:
        """a = sigmoid(FC(flatten z)): (..., T', H', W') → (..., T', H', W'), cells in row-major order."""
        if tuple(z.shape[-3:]) != self.grid:
            raise ValueError(f"z's grid {tuple(z.shape[-3:])} does not match the attention FC's grid {self.grid}")
        return torch.sigmoid(self.fc(z.flatten(-3))).unflatten(-1, self.grid)

    def cell_weights(self, z: Tensor) -> Tensor:
        n = self.grid[0] * self.grid[1] * self.grid[2]
        return self.attention_map(z) / n  # GAP(x5 ⊙ a) = (1/N) Σ a(cell) x5[:, cell]

    def pooled(self, z: Tensor | None, x5: Tensor) -> Tensor:
        if z is None:
            raise ValueError("the min2021 attention needs a gaze map z (B, T', H', W')")
        check_grid(z, x5, self.grid, "attention FC")
        a = self.attention_map(z.to(x5.dtype)).unsqueeze(1)  # (B, 1, T', H', W'), broadcast over C5
        residual = x5.mean(dim=(2, 3, 4), keepdim=True)  # GAP(x5) (B, C5, 1, 1, 1)
        return (x5 * a).mean(dim=(2, 3, 4), keepdim=True) + residual  # (B, C5, 1, 1, 1)


class LiAttention(AttentionHead):
    """Li et al.'s gaze-weighted pooling (no residual, no FC). Keys: ``fc_f.*`` only."""

    residual = False

    def cell_weights(self, z: Tensor) -> Tensor:
        return z / z.shape[-3]  # each slot's map sums to 1; average the T' slots

    def pooled(self, z: Tensor | None, x5: Tensor) -> Tensor:
        if z is None:
            raise ValueError("the li2018 attention needs a gaze map z (B, T', H', W')")
        check_grid(z, x5, None, "attention")
        w = self.cell_weights(z.to(x5.dtype)).unsqueeze(1)  # (B, 1, T', H', W')
        return (x5 * w).sum(dim=(2, 3, 4), keepdim=True)  # (B, C5, 1, 1, 1)


class NoGazeHead(AttentionHead):
    """Plain I3D classifier on GAP(x5); z is ignored. Keys: ``fc_f.*`` only."""

    def cell_weights(self, z: Tensor) -> Tensor:
        return torch.zeros_like(z)

    def pooled(self, z: Tensor | None, x5: Tensor) -> Tensor:
        check_grid(z, x5, None, "attention")
        return x5.mean(dim=(2, 3, 4), keepdim=True)  # (B, C5, 1, 1, 1)

    def pooled_candidates(self, z: Tensor, x5: Tensor) -> Tensor:
        check_grid(z, x5, None, "attention")
        b, m = z.shape[:2]
        return x5.flatten(2).mean(-1).unsqueeze(1).expand(b, m, -1)  # GAP(x5) for every candidate (B, M, C5)
