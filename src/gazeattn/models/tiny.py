"""A tiny 3D-CNN stream with I3D's interface, for CPU tests and the demo.

Same two endpoints as I3D -- ``x4`` after the last down-sampling max-pool (``MaxPool3d_5a``) and ``x5`` after two
stride-1 units (``Mixed_5b``, ``Mixed_5c``) -- and "same" padding, so T' = ceil(T / 8) and
H' = ceil(H / s), W' = ceil(W / s) with total strides (8, s, s), s ∈ {8, 16, 32}. Each unit is a plain
conv3d + BN + ReLU (:class:`~gazeattn.models.i3d.Unit3D`), not an Inception module.

    Conv3d_1a (k 3×5×5, s 2) → Conv3d_2a (k 3, s 1×2×2) → Conv3d_3a (k 3, s 2) → Conv3d_4a (k 3, s 1×r×r)
    → MaxPool3d_5a (k 2, s 2×p×p) = x4 → Mixed_5b (k 3) → Mixed_5c (k 3) = x5
"""

from __future__ import annotations

from torch import Tensor, nn

from gazeattn.models.i3d import MaxPool3dSame, Unit3D

__all__ = ["TinyBackbone", "TINY_SPATIAL_STRIDES"]

TINY_SPATIAL_STRIDES = (8, 16, 32)


class TinyBackbone(nn.Module):
    """``forward(x (B, C_in, T, H, W)) -> (x4 (B, widths[3], T', H', W'), x5 (B, widths[4], T', H', W'))``.

    ``widths``: channels of (Conv3d_1a, Conv3d_2a, Conv3d_3a, Conv3d_4a = x4, Mixed_5c = x5); ``spatial_stride``
    the total spatial stride s (8, 16 or 32); the temporal stride is always 8.
    """

    def __init__(
        self, in_channels: int = 3, *, widths: tuple[int, ...] = (8, 16, 24, 32, 48), spatial_stride: int = 32
    ):
        super().__init__()
        if len(widths) != 5 or min(widths) < 1:
            raise ValueError(f"tiny backbone widths must be 5 positive channel counts, got {widths}")
        if spatial_stride not in TINY_SPATIAL_STRIDES:
            raise ValueError(
                f"tiny backbone spatial stride must be one of {TINY_SPATIAL_STRIDES}, got {spatial_stride}")
        self.in_channels, self.widths = in_channels, tuple(widths)
        self.strides = (8, spatial_stride, spatial_stride)
        self.x4_channels, self.x5_channels = widths[3], widths[4]
        r = 2 if spatial_stride == 32 else 1
        p = 1 if spatial_stride == 8 else 2
        self.Conv3d_1a = Unit3D(in_channels, widths[0], (3, 5, 5), 2)
        self.Conv3d_2a = Unit3D(widths[0], widths[1], 3, (1, 2, 2))
        self.Conv3d_3a = Unit3D(widths[1], widths[2], 3, 2)
        self.Conv3d_4a = Unit3D(widths[2], widths[3], 3, (1, r, r))
        self.MaxPool3d_5a = MaxPool3dSame(2, (2, p, p))
        stage5 = self.make_stage5()
        self.Mixed_5b = stage5["Mixed_5b"]
        self.Mixed_5c = stage5["Mixed_5c"]

    def make_stage5(self) -> dict[str, nn.Module]:
        """Fresh stride-1 units x4 → x5 (the gaze head builds its own copy)."""
        w = self.widths
        return {"Mixed_5b": Unit3D(w[3], w[3], 3), "Mixed_5c": Unit3D(w[3], w[4], 3)}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # x: (B, C_in, T, H, W), e.g. (B, 3, 24, 80, 80) with s = 16
        x = self.Conv3d_1a(x)  # (B, w0, T/2, H/2, W/2)
        x = self.Conv3d_2a(x)  # (B, w1, T/2, H/4, W/4)
        x = self.Conv3d_3a(x)  # (B, w2, T/4, H/8, W/8)
        x = self.Conv3d_4a(x)  # (B, w3, T/4, H/(8r), W/(8r))
        x4 = self.MaxPool3d_5a(x)  # (B, w3, T', H', W')
        x5 = self.Mixed_5c(self.Mixed_5b(x4))  # (B, w4, T', H', W')
        return x4, x5
