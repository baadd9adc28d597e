"""The gaze head q(z | x): logits π over the T'×H'×W' grid, from x4.

    x4 (B, C4, T', H', W') → its own Mixed_5b → Mixed_5c                    (B, C5, T', H', W')
       → g1 conv (1,3,3) pad (0,1,1), bias → b1 BN → ReLU                  (B, 256, T', H', W')
       → g2 conv (1,3,3) pad (0,1,1), bias → b2 BN → ReLU                  (B, 64, T', H', W')
       → g3 conv 1×1×1, bias → squeeze channel                             (B, T', H', W')

Names match the reference's ``*_gaze.pt`` (``Mixed_5b.*``, ``Mixed_5c.*``, ``g1``, ``b1``, ``g2``, ``b2``, ``g3``);
BN eps 1e-3, momentum 0.01 as the reference. q is a product of T' independent softmaxes over the H'·W' cells of
each slot: the softmax (and sampling) live outside, in :mod:`gazeattn.estimators`.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from gazeattn.models.i3d import BN_EPS, BN_MOMENTUM

__all__ = ["GazeHead"]


class GazeHead(nn.Module):
    """``forward(x4) -> logits (B, T', H', W')``. ``stage5``: fresh {"Mixed_5b", "Mixed_5c"} modules (from the
    backbone's ``make_stage5()``); ``x5_channels``: channels out of Mixed_5c; ``widths``: (g1, g2) channels."""

    def __init__(self, stage5: dict[str, nn.Module], x5_channels: int, widths: tuple[int, int] = (256, 64)):
        super().__init__()
        self.Mixed_5b = stage5["Mixed_5b"]
        self.Mixed_5c = stage5["Mixed_5c"]
        self.g1 = nn.Conv3d(x5_channels, widths[0], kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=True)
        self.b1 = nn.BatchNorm3d(widths[0], eps=BN_EPS, momentum=BN_MOMENTUM)
        self.g2 = nn.Conv3d(widths[0], widths[1], kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=True)
        self.b2 = nn.BatchNorm3d(widths[1], eps=BN_EPS, momentum=BN_MOMENTUM)
        self.g3 = nn.Conv3d(widths[1], 1, kernel_size=1, bias=True)

    def forward(self, x4: Tensor) -> Tensor:
        h = self.Mixed_5c(self.Mixed_5b(x4))  # (B, C5, T', H', W')
        h = F.relu(self.b1(self.g1(h)))  # (B, 256, T', H', W')
        h = F.relu(self.b2(self.g2(h)))  # (B, 64, T', H', W')
        return self.g3(h).squeeze(1)  # (B, 1, T', H', W') -> (B, T', H', W')
