"""p(y | x, z): turning a gaze map z (B, T', H', W') into attention over x5 and classifying.

Five heads with one interface -- ``forward(z, x5) -> logits (B, C)`` and
``pooled_candidates(z (B, M, T', H', W'), x5) -> features (B, M, F)`` followed by ``logits_from_pooled`` --
all ending in the same classifier: dropout then ``fc_f``, a 1×1×1 conv with bias (the reference's name) applied
to the pooled (B, F, 1, 1, 1) features and flattened to (B, C).

* :class:`MinAttention` (``min2021``, Min & Corso, WACV 2021): a = sigmoid(FC(flatten z)) with FC over the
  N = T'·H'·W' cells in (T', H', W') row-major order, one map broadcast over the channels;
  f = GAP(x5 ⊙ a) + GAP(x5)  (the second term: a residual). Kept exactly, for reproduction. Its map depends on
  z only through a dense FC that starts near 0.5 everywhere, so it barely changes with z (measured: mean
  |a(z₁) − a(z₂)| ≈ 0.02 between gaze samples, also in the released reference checkpoint).
* :class:`LiAttention` (``li2018``, Li, Liu & Rehg, ECCV 2018, the Gumbel-Softmax baseline): z itself (relaxed,
  each slot's H'×W' map summing to 1) weights a spatial pooling of x5, averaged over the T' slots:
  f = (1/T') Σ_t Σ_{h,w} z[t, h, w] · x5[:, t, h, w]. No FC, no residual.
* :class:`GlimpseAttention` (``glimpse``, ours): the features at the gaze cells *next to* the global pooling,
  f = [GAP(x5) ; (1/T') Σ_t Σ_{h,w} z[t, h, w] · x5[:, t, h, w]]  (2·C5 features). The classifier sees what is
  looked at separately from the whole scene, so it can bind "what is looked at" to the action, and still has
  the scene when the gaze is wrong.
* :class:`SpreadAttention` (``spread``, ours): the sampled cell spread by a learned 3×3 kernel k (non-negative,
  summing to 1) into a spatial map with a learned gain g, with the paper's residual:
  a = g · (N/T') · (k ⊛ z) per slot, f = GAP(x5 ⊙ a) + GAP(x5). The map moves with z by construction.
* :class:`GlobalPoolingHead` (``none``, plain I3D): f = GAP(x5); z is ignored (may be None).

The heads are registered in :data:`ATTENTIONS` (name → :class:`HeadSpec`: the class, whether it needs the grid,
whether it uses z, one line for the docs), the one list that ``ModelConfig``'s check, :func:`build_attention`
and ``--set model.attention=NAME`` read. A new head is a subclass and one :func:`register_attention` call. The
registered heads (:func:`attention_table`; tests/test_train_registries.py checks this copy):

| attention | class | needs the grid | uses z | pooled feature |
|---|---|---|---|---|
| `min2021` | `MinAttention` | yes | yes | a = sigmoid(FC(flatten z)), f = GAP(x5 ⊙ a) + GAP(x5) (Min & Corso) |
| `li2018` | `LiAttention` | no | yes | z as pooling weights, f = (1/T') Σ z ⊙ x5 (Li et al.) |
| `glimpse` | `GlimpseAttention` | no | yes | f = [GAP(x5) ; (1/T') Σ z ⊙ x5] (ours) |
| `spread` | `SpreadAttention` | no | yes | z spread by a learned 3×3 kernel and gain, with the residual (ours) |
| `none` | `GlobalPoolingHead` | no | no | f = GAP(x5), z ignored (plain I3D) |

``attention_map(z)`` of every head is the weight of each cell in the z-dependent part of the pooled feature,
in units of global average pooling (N · weight, so 1 everywhere = GAP): comparable across heads, it is what the
training log's ``attn_z_sensitivity`` (mean |a(z₁) − a(z₂)| between two gaze samples) measures.

Oracle gaze: feed the measured gaze as z, i.e. the dataset's ``gaze_target`` (B, T', H', W') (one-hot per slot
for the ``first``/``majority`` target policies) -- ``model.classify(batch["gaze_target"], x5)``.

Every head is pure: dropout follows the module's mode in ``forward``; the batched candidate path takes it as an
argument (``dropout=False`` scores candidates deterministically, whatever the mode).

Batched candidates: since every head's pooled feature is linear in x5 given the weights w(cell) of each cell,
    f_m = Σ_cells w_m(cell) · x5[:, cell] (+ GAP(x5), added or concatenated),
M candidate maps cost one (B, M, N) @ (B, N, C5) matmul on x5 flattened once -- x5 is never copied per candidate.
For Min & Corso w_m = sigmoid(FC(z_m)) / N, for Li et al. and glimpse w_m = z_m / T', for spread
w_m = g (k ⊛ z_m) / T'.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gazeattn.utils.registry import Registry

__all__ = [
    "AttentionHead", "MinAttention", "LiAttention", "GlimpseAttention", "SpreadAttention", "GlobalPoolingHead",
    "HeadSpec", "ATTENTIONS", "register_attention", "attention_table", "check_grid", "build_attention",
]


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
    """Shared classifier: ``logits = fc_f(dropout(f))``, fc_f a 1×1×1 conv (F → num_classes) with bias.

    Subclasses define ``cell_weights(z)`` (the weight of each cell of x5 in the z-dependent pooled part) and how
    that part meets GAP(x5): ``combine`` is "add" (residual), "concat" (side by side) or "none".
    """

    combine = "add"
    feature_factor = 1  # F = feature_factor · C5
    grid: tuple[int, int, int] | None = None

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_f = nn.Conv3d(channels * self.feature_factor, num_classes, kernel_size=1, bias=True)

    def cell_weights(self, z: Tensor) -> Tensor:
        """(..., T', H', W') → (..., T', H', W'): the weight of each cell of x5 in the z-dependent pooled part."""
        raise NotImplementedError

    def attention_map(self, z: Tensor) -> Tensor:
        """N · cell_weights(z), (..., T', H', W'): cell weights in units of global average pooling."""
        n = z.shape[-3] * z.shape[-2] * z.shape[-1]
        return self.cell_weights(z) * n

    def _check(self, z: Tensor | None, x5: Tensor) -> None:
        if z is None:
            raise ValueError(f"the {type(self).__name__} head needs a gaze map z (B, T', H', W')")
        check_grid(z, x5, self.grid, "attention")

    def pooled(self, z: Tensor | None, x5: Tensor) -> Tensor:
        """(B, F, 1, 1, 1) pooled features: Σ_cells w(cell) x5[:, cell] combined with GAP(x5)."""
        self._check(z, x5)
        w = self.cell_weights(z.to(x5.dtype)).unsqueeze(1)  # (B, 1, T', H', W'), broadcast over C5
        part = (x5 * w).sum(dim=(2, 3, 4), keepdim=True)  # (B, C5, 1, 1, 1)
        gap = x5.mean(dim=(2, 3, 4), keepdim=True)  # GAP(x5) (B, C5, 1, 1, 1)
        return self._combine(gap, part, dim=1)

    def _combine(self, gap: Tensor, part: Tensor, dim: int) -> Tensor:
        if self.combine == "add":
            return part + gap
        if self.combine == "concat":
            return torch.cat([gap.expand_as(part), part], dim=dim)
        return part

    def forward(self, z: Tensor | None, x5: Tensor) -> Tensor:
        f = self.dropout(self.pooled(z, x5))  # (B, F, 1, 1, 1)
        return self.fc_f(f).flatten(1)  # (B, num_classes, 1, 1, 1) -> (B, num_classes)

    def pooled_candidates(self, z: Tensor, x5: Tensor) -> Tensor:
        """z (B, M, T', H', W') → pooled features (B, M, F) by one batched matmul (x5 flattened once)."""
        check_grid(z, x5, self.grid, "attention")
        if z.dim() != 5:
            raise ValueError(f"candidate maps must be (B, M, T', H', W'), got {tuple(z.shape)}")
        x5_flat = x5.flatten(2)  # (B, C5, N), a view
        w = self.cell_weights(z.to(x5.dtype)).flatten(2)  # (B, M, N)
        part = torch.matmul(w, x5_flat.transpose(1, 2))  # (B, M, N) @ (B, N, C5) -> (B, M, C5)
        gap = x5_flat.mean(-1).unsqueeze(1)  # GAP(x5) (B, 1, C5)
        return self._combine(gap, part, dim=-1)

    def logits_from_pooled(self, f: Tensor, *, dropout: bool = False) -> Tensor:
        """(B, M, F) pooled features → (B, M, num_classes): fc_f as a linear map; dropout only if ``dropout``
        (and the module is in train mode) -- candidate losses are scored with ``dropout=False``."""
        w = self.fc_f.weight.flatten(1)  # (num_classes, F, 1, 1, 1) -> (num_classes, F)
        return F.linear(self.dropout(f) if dropout else f, w, self.fc_f.bias)


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
        """The reference's computation, to the letter: mean(x5 ⊙ a) + mean(x5)."""
        if z is None:
            raise ValueError("the min2021 attention needs a gaze map z (B, T', H', W')")
        check_grid(z, x5, self.grid, "attention FC")
        a = self.attention_map(z.to(x5.dtype)).unsqueeze(1)  # (B, 1, T', H', W'), broadcast over C5
        residual = x5.mean(dim=(2, 3, 4), keepdim=True)  # GAP(x5) (B, C5, 1, 1, 1)
        return (x5 * a).mean(dim=(2, 3, 4), keepdim=True) + residual  # (B, C5, 1, 1, 1)


class LiAttention(AttentionHead):
    """Li et al.'s gaze-weighted pooling (no residual, no FC). Keys: ``fc_f.*`` only."""

    combine = "none"

    def cell_weights(self, z: Tensor) -> Tensor:
        return z / z.shape[-3]  # each slot's map sums to 1; average the T' slots


class GlimpseAttention(AttentionHead):
    """Features at the gaze cells beside GAP(x5): f = [GAP(x5) ; (1/T') Σ z ⊙ x5], 2·C5 features.

    Keys: ``fc_f.weight`` (C, 2·C5, 1, 1, 1) -- the first C5 input channels read GAP(x5) --, ``fc_f.bias``.
    """

    combine = "concat"
    feature_factor = 2

    def cell_weights(self, z: Tensor) -> Tensor:
        return z / z.shape[-3]  # each slot's map sums to 1; average the T' slots


class SpreadAttention(AttentionHead):
    """The gaze cell spread by a learned 3×3 kernel with a learned gain, plus the paper's residual.

    a = g · (N/T') · (k ⊛ z) per slot (k = softmax of 9 learned logits: non-negative, sums to 1, starts peaked at
    the centre; g = exp(log_gain), starts at 1: the looked-at neighbourhood weighs as much as the whole clip);
    f = GAP(x5 ⊙ a) + GAP(x5). Keys: ``kernel_logits`` (3, 3), ``log_gain`` (), ``fc_f.*``.
    """

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__(channels, num_classes, dropout)
        init = torch.full((3, 3), -2.0)
        init[1, 1] = 0.0
        self.kernel_logits = nn.Parameter(init)
        self.log_gain = nn.Parameter(torch.zeros(()))

    def kernel(self) -> Tensor:
        """(3, 3) non-negative, sums to 1."""
        return torch.softmax(self.kernel_logits.flatten(), 0).view(3, 3)

    def cell_weights(self, z: Tensor) -> Tensor:
        lead, (t, h, w) = z.shape[:-3], z.shape[-3:]
        maps = z.reshape(-1, 1, h, w)  # (B·M·T', 1, H', W'): every slot's map on its own
        k = self.kernel().to(z.dtype).view(1, 1, 3, 3)
        spread = F.conv2d(maps, k, padding=1)  # (B·M·T', 1, H', W'), zero padding: mass may leave the frame
        return (self.log_gain.exp() / t) * spread.view(*lead, t, h, w)


class GlobalPoolingHead(AttentionHead):
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


@dataclass(frozen=True)
class HeadSpec:
    """One registered head: ``head`` its class; ``needs_grid``: its constructor takes the (T', H', W') grid first
    (a layer sized for the cells); ``attends``: its pooled feature depends on z (False: z is ignored, the model
    needs no gaze head for it); ``summary``: one line for the docs table."""

    name: str
    head: type[AttentionHead]
    needs_grid: bool = False
    attends: bool = True
    summary: str = ""

    def build(self, *, grid: tuple[int, int, int], channels: int, num_classes: int, dropout: float
              ) -> AttentionHead:
        if self.needs_grid:
            return self.head(grid, channels, num_classes, dropout)
        return self.head(channels, num_classes, dropout)


ATTENTIONS: Registry[HeadSpec] = Registry("attention")


def register_attention(name: str, head: type[AttentionHead], *, needs_grid: bool = False, attends: bool = True,
                       summary: str = "") -> HeadSpec:
    """Make ``head`` the attention called ``name`` (``model.attention = name``): the one step that adds a head."""
    if not (isinstance(head, type) and issubclass(head, AttentionHead)):
        raise TypeError(f"attention {name!r}: {head!r} is not an AttentionHead subclass")
    return ATTENTIONS.add(name, HeadSpec(name, head, needs_grid=needs_grid, attends=attends, summary=summary))


register_attention("min2021", MinAttention, needs_grid=True,
                   summary="a = sigmoid(FC(flatten z)), f = GAP(x5 ⊙ a) + GAP(x5) (Min & Corso)")
register_attention("li2018", LiAttention, summary="z as pooling weights, f = (1/T') Σ z ⊙ x5 (Li et al.)")
register_attention("glimpse", GlimpseAttention, summary="f = [GAP(x5) ; (1/T') Σ z ⊙ x5] (ours)")
register_attention("spread", SpreadAttention,
                   summary="z spread by a learned 3×3 kernel and gain, with the residual (ours)")
register_attention("none", GlobalPoolingHead, attends=False, summary="f = GAP(x5), z ignored (plain I3D)")


def attention_table() -> str:
    """The registered heads as a Markdown table (name, class, grid, uses z, what it pools)."""
    rows = ["| attention | class | needs the grid | uses z | pooled feature |", "|---|---|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.head.__name__}` | {'yes' if s.needs_grid else 'no'} | "
             f"{'yes' if s.attends else 'no'} | {s.summary} |" for s in ATTENTIONS.values()]
    return "\n".join(rows)


def build_attention(name: str, *, grid: tuple[int, int, int], channels: int, num_classes: int,
                    dropout: float) -> AttentionHead:
    """The head registered as ``name`` (one of :data:`ATTENTIONS`)."""
    return ATTENTIONS[name].build(grid=grid, channels=channels, num_classes=num_classes, dropout=dropout)
