"""The full model of Min & Corso (WACV 2021), as a pure ``nn.Module``: no losses, no sampling, no training logic.

    rgb (B, 3, T, H, W), flow (B, 2, T, H, W)
      └─ backbone (two streams, summed) ──→ x4 (B, C4, T', H', W'), x5 (B, C5, T', H', W')
    x4 ─ gaze_head ─→ gaze logits π (B, T', H', W')          (q(z|x): a softmax per slot, applied outside)
    z (B, T', H', W') one-hot or relaxed, x5 ─ attention ─→ class logits (B, C)       (p(y|x, z))

Sub-modules ``backbone``, ``gaze_head`` and ``attention`` hold exactly the reference's three checkpoint files
(``*_base.pt``, ``*_gaze.pt``, ``*_attn.pt``) after stripping ``module.``; see :mod:`gazeattn.models.weights`.

Usage (a training step lives outside; the estimators own z):

    x4, x5 = model.backbone(rgb, flow)              # flow=None in RGB-only mode, rgb=None in flow-only mode
    logits = model.gaze_logits(x4)                  # (B, T', H', W')
    z = gumbel_argmax(logits, gumbel) as one-hot    # or the measured gaze (oracle), or a relaxed sample
    class_logits = model.classify(z, x5)            # (B, C)
    losses = model.candidate_losses(cands, x5, y)   # (B, M) for cands (B, M, T', H', W'), no x5 copies
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gazeattn.models.attention import AttentionHead, build_attention
from gazeattn.models.config import ModelConfig
from gazeattn.models.gaze_head import GazeHead
from gazeattn.models.i3d import InceptionI3d
from gazeattn.models.tiny import TinyBackbone
from gazeattn.models.two_stream import TwoStreamBackbone

__all__ = ["GazeAttentionModel", "ModelOutput", "build_model", "DEFAULT_CANDIDATE_CHUNK"]

# Candidate maps scored per matmul in candidate_losses: (B, chunk, N) weights + (B, chunk, C5) features.
DEFAULT_CANDIDATE_CHUNK = 256


class ModelOutput(NamedTuple):
    x4: Tensor  # (B, C4, T', H', W')
    x5: Tensor  # (B, C5, T', H', W')
    gaze_logits: Tensor | None  # (B, T', H', W'); None without a gaze head


def _stream_factory(config: ModelConfig):
    if config.backbone == "i3d":
        return lambda in_channels: InceptionI3d(in_channels)
    return lambda in_channels: TinyBackbone(in_channels, widths=config.tiny_widths, spatial_stride=config.strides[1])


class GazeAttentionModel(nn.Module):
    """Backbone + gaze head q(z|x) + attention classifier p(y|x,z), built from a :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.backbone = TwoStreamBackbone(_stream_factory(config), config.streams)
        c5 = self.backbone.x5_channels
        self.gaze_head: GazeHead | None = None
        if config.has_gaze_head:
            self.gaze_head = GazeHead(self.backbone.first_stream.make_stage5(), c5, config.resolved_head_channels)
        self.attention: AttentionHead = build_attention(
            config.attention, grid=config.grid, channels=c5, num_classes=config.num_classes, dropout=config.dropout)

    # -- the pieces -------------------------------------------------------------------------------------------
    def features(self, rgb: Tensor | None, flow: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(x4, x5) = ``self.backbone(rgb, flow)``."""
        return self.backbone(rgb, flow)

    def gaze_logits(self, x4: Tensor) -> Tensor:
        """π (B, T', H', W') from x4 (B, C4, T', H', W')."""
        if self.gaze_head is None:
            raise RuntimeError("this model has no gaze head (config.has_gaze_head is False)")
        return self.gaze_head(x4)

    def classify(self, z: Tensor | None, x5: Tensor) -> Tensor:
        """Class logits (B, C) for gaze maps z (B, T', H', W') (one-hot, relaxed or measured) and x5.

        Runs the reference's computation (x5 ⊙ a, average, + GAP(x5), dropout, fc_f); z may be None for
        a head that does not use z (attention "none").
        """
        return self.attention(z, x5)

    def attention_map(self, z: Tensor) -> Tensor:
        """The head's attention map for z, shaped like z: cell weights in units of global average pooling (for
        min2021 exactly a = sigmoid(FC(flatten z))); for pictures and diagnostics."""
        if not self.config.attends:
            raise RuntimeError(f"this model has no attention (attention={self.config.attention!r}): z does not "
                               "weight its features")
        return self.attention.attention_map(z)

    def forward(self, rgb: Tensor | None, flow: Tensor | None = None) -> ModelOutput:
        """Backbone and gaze head in one call: ``ModelOutput(x4, x5, gaze_logits)``. Classification needs z,
        which the caller draws from the gaze logits (see :mod:`gazeattn.estimators`) -- then ``classify``."""
        x4, x5 = self.backbone(rgb, flow)
        return ModelOutput(x4, x5, None if self.gaze_head is None else self.gaze_head(x4))

    # -- many candidate maps per clip -------------------------------------------------------------------------
    def candidate_logits(self, z: Tensor, x5: Tensor, *, chunk_size: int | None = DEFAULT_CANDIDATE_CHUNK,
                         dropout: bool = False) -> Tensor:
        """Class logits (B, M, C) of M candidate maps per clip, z (B, M, T', H', W'), without copying x5.

        Equal (up to float rounding) to ``classify(z[:, m], x5)`` in eval mode for each m. No dropout unless
        ``dropout`` (then, in train mode, each candidate draws its own mask): candidate losses must be
        deterministic for direct optimization, so the estimators score with the default. Pure: no state changes.
        """
        if z.dim() != 5:
            raise ValueError(f"candidate maps must be (B, M, T', H', W'), got {tuple(z.shape)}")
        m = z.shape[1]
        step = m if chunk_size is None else int(chunk_size)
        if step < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        out = []
        for start in range(0, m, step):
            f = self.attention.pooled_candidates(z[:, start:start + step], x5)  # (B, m, C5)
            out.append(self.attention.logits_from_pooled(f, dropout=dropout))  # (B, m, C)
        return torch.cat(out, dim=1)  # (B, M, C)

    def candidate_losses(
        self, z: Tensor, x5: Tensor, labels: Tensor, *, chunk_size: int | None = DEFAULT_CANDIDATE_CHUNK,
        dropout: bool = False,
    ) -> Tensor:
        """Cross-entropy losses (B, M) of M candidate maps per clip: z (B, M, T', H', W'), x5 (B, C5, T', H', W').

        ``labels``: class indices (B,) or soft labels (B, C) (rows of weights, CE = −Σ_c y_c log p_c).
        Computed chunk by chunk over M (``chunk_size`` maps per matmul; None: all at once); see
        :meth:`candidate_logits` for dropout.
        """
        logp = F.log_softmax(self.candidate_logits(z, x5, chunk_size=chunk_size, dropout=dropout), dim=-1)  # (B, M, C)
        if labels.dim() == 1:
            if labels.shape[0] != z.shape[0]:
                raise ValueError(f"labels {tuple(labels.shape)} must have batch {z.shape[0]}")
            idx = labels.long().view(-1, 1, 1).expand(-1, logp.shape[1], 1)  # (B, M, 1)
            return -logp.gather(-1, idx).squeeze(-1)  # (B, M)
        if labels.shape != (z.shape[0], logp.shape[-1]):
            raise ValueError(f"soft labels must be (B, C) = {(z.shape[0], logp.shape[-1])}, got {tuple(labels.shape)}")
        return -(logp * labels.to(logp.dtype).unsqueeze(1)).sum(-1)  # (B, M)

    def candidate_class_losses(
        self, z: Tensor, x5: Tensor, *, chunk_size: int | None = DEFAULT_CANDIDATE_CHUNK
    ) -> Tensor:
        """Per-class losses −log p(c | x, z_m), (B, M, C): with soft labels w, the estimators' ``ClassLosses``."""
        return -F.log_softmax(self.candidate_logits(z, x5, chunk_size=chunk_size), dim=-1)

    # -- initialisation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def init_gaze_head_from_backbone(self) -> None:
        """Copy the backbone's Mixed_5b/5c (the RGB stream's in two-stream mode) into the gaze head.

        The reference instead starts the gaze head from random init (``gaze_head_init="random"``). Weight
        loaders call this after loading backbone weights when ``config.gaze_head_init == "backbone"``.
        """
        if self.gaze_head is None:
            return
        src = self.backbone.first_stream
        self.gaze_head.Mixed_5b.load_state_dict(src.Mixed_5b.state_dict())
        self.gaze_head.Mixed_5c.load_state_dict(src.Mixed_5c.state_dict())


def build_model(config: ModelConfig | None = None, **overrides) -> GazeAttentionModel:
    """``GazeAttentionModel(ModelConfig(**overrides))`` (or ``config.replace(**overrides)``)."""
    config = ModelConfig() if config is None else config
    return GazeAttentionModel(config.replace(**overrides) if overrides else config)
