"""Inception-I3D (Carreira & Zisserman, CVPR 2017) up to Mixed_5c, in plain torch.

Module and parameter names follow the piergiaj/pytorch-i3d layout used by the Min & Corso reference, so state
dicts map 1:1 (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_4b.b1b.bn.running_var``, ...; see
``shared/reference/keys/piergiaj_i3d_rgb.tsv``). Every conv is conv3d (no bias) + BN(eps 1e-3, momentum 0.01)
+ ReLU, with TensorFlow "same" padding computed from the input size per axis:

    pad_total = max(k − s, 0) if n % s == 0 else max(k − n % s, 0);  front = pad_total // 2, back = the rest

Max-pools pad the same way, with zeros (as the reference; their inputs are ReLU outputs, so ≥ 0 anyway).
Output size per axis is ceil(n / s); total strides 8 (time) and 32 (space): 24×224² → x4 (832, 3, 7, 7) and
x5 (1024, 3, 7, 7).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazeattn.data.targets import I3D_STRIDES

__all__ = ["same_padding", "Unit3D", "MaxPool3dSame", "InceptionModule", "InceptionI3d", "I3D_MIXED"]

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# Output channels per module [b0, b1a, b1b, b2a, b2b, b3b] (MODEL.md).
I3D_MIXED: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _triple(v: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def same_padding(size: tuple[int, ...], kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> tuple[int, ...]:
    """TF "same" padding for a (T, H, W) input, in ``F.pad`` order (w_front, w_back, h_front, h_back, t_f, t_b)."""
    pads: list[int] = []
    for n, k, s in zip(size, kernel, stride):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads.append(total // 2)
        pads.append(total - total // 2)
    t_f, t_b, h_f, h_b, w_f, w_b = pads
    return (w_f, w_b, h_f, h_b, t_f, t_b)


class Unit3D(nn.Module):
    """conv3d ("same" padding) → optional BN → optional ReLU.

    Keys: ``conv3d.weight`` [``conv3d.bias``], ``bn.*``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int, int] = 1,
        stride: int | tuple[int, int, int] = 1,
        *,
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ):
        super().__init__()
        self.kernel, self.stride, self.relu = _triple(kernel), _triple(stride), relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W) -> (B, C', ceil(T/s), ceil(H/s), ceil(W/s))
        x = F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """Max-pool with TF "same" padding (zero-padded, as the reference). No parameters, no state."""

    def __init__(self, kernel: int | tuple[int, int, int], stride: int | tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = _triple(kernel), _triple(stride)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches concatenated in this order:
    b0 1×1; b1a 1×1 → b1b 3³; b2a 1×1 → b2b 3³; max-pool 3³ → b3b 1×1."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = widths
        self.b0 = Unit3D(in_channels, c0, 1)
        self.b1a = Unit3D(in_channels, c1a, 1)
        self.b1b = Unit3D(c1a, c1b, 3)
        self.b2a = Unit3D(in_channels, c2a, 1)
        self.b2b = Unit3D(c2a, c2b, 3)
        self.b3a = MaxPool3dSame(3, 1)
        self.b3b = Unit3D(in_channels, c3b, 1)
        self.out_channels = c0 + c1b + c2b + c3b

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, T, H, W) -> (B, C_out, T, H, W)
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """One I3D stream: ``forward(x (B, C_in, T, H, W)) -> (x4, x5)`` = (MaxPool3d_5a_2x2, Mixed_5c) endpoints.

    ``in_channels``: 3 (RGB) or 2 (flow u/v). ``num_classes``: when given, a ``logits`` 1×1×1 conv with bias
    (piergiaj's ``logits.conv3d.*``) used only by :meth:`predict` (e.g. to check converted Kinetics weights);
    the gaze model never builds it.
    """

    x4_channels = 832
    x5_channels = 1024
    strides = I3D_STRIDES

    def __init__(self, in_channels: int = 3, *, num_classes: int | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, 1)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, I3D_MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionModule(256, I3D_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame(3, 2)
        self.Mixed_4b = InceptionModule(480, I3D_MIXED["Mixed_4b"])
        self.Mixed_4c = InceptionModule(512, I3D_MIXED["Mixed_4c"])
        self.Mixed_4d = InceptionModule(512, I3D_MIXED["Mixed_4d"])
        self.Mixed_4e = InceptionModule(512, I3D_MIXED["Mixed_4e"])
        self.Mixed_4f = InceptionModule(528, I3D_MIXED["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = MaxPool3dSame(2, 2)
        stage5 = self.make_stage5()
        self.Mixed_5b = stage5["Mixed_5b"]
        self.Mixed_5c = stage5["Mixed_5c"]
        self.logits = None
        if num_classes is not None:
            self.logits = Unit3D(1024, num_classes, 1, batch_norm=False, relu=False, bias=True)

    @staticmethod
    def make_stage5() -> dict[str, nn.Module]:
        """Fresh Mixed_5b (832 → 832) and Mixed_5c (832 → 1024): the gaze head builds its own copy."""
        return {name: InceptionModule(832, I3D_MIXED[name]) for name in ("Mixed_5b", "Mixed_5c")}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # x: (B, C_in, T, H, W), e.g. (B, 3, 24, 224, 224)
        x = self.Conv3d_1a_7x7(x)  # (B, 64, 12, 112, 112)
        x = self.MaxPool3d_2a_3x3(x)  # (B, 64, 12, 56, 56)
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))  # (B, 192, 12, 56, 56)
        x = self.MaxPool3d_3a_3x3(x)  # (B, 192, 12, 28, 28)
        x = self.Mixed_3c(self.Mixed_3b(x))  # (B, 480, 12, 28, 28)
        x = self.MaxPool3d_4a_3x3(x)  # (B, 480, 6, 14, 14)
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)  # ... (B, 832, 6, 14, 14)
        x4 = self.MaxPool3d_5a_2x2(x)  # (B, 832, 3, 7, 7)
        x5 = self.Mixed_5c(self.Mixed_5b(x4))  # (B, 1024, 3, 7, 7)
        return x4, x5

    def predict(self, x: Tensor) -> Tensor:
        """Action logits (B, num_classes): the ``logits`` conv on GAP(Mixed_5c), no dropout.

        (DeepMind's head averages 2×7 windows of Mixed_5c before the same linear layer; the GAP here weights
        the time slots equally. Only used to sanity-check converted weights.)
        """
        if self.logits is None:
            raise RuntimeError("this I3D was built without logits (num_classes=None)")
        _, x5 = self(x)
        pooled = x5.mean(dim=(2, 3, 4), keepdim=True)  # (B, 1024, 1, 1, 1)
        return self.logits(pooled).flatten(1)  # (B, num_classes)
