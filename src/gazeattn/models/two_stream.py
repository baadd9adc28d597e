"""RGB + flow backbone: two streams of the same architecture, fused by summation at both endpoints.

    x4 = rgb.MaxPool3d_5a + flow.MaxPool3d_5a,   x5 = rgb.Mixed_5c + flow.Mixed_5c   (the reference's I3D_IGA_base)

Sub-modules are named ``model_rgb`` / ``model_flow`` as in the reference, so its ``*_base.pt`` keys map 1:1
(after stripping ``module.``). RGB-only and flow-only modes build one stream.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

__all__ = ["TwoStreamBackbone"]


class TwoStreamBackbone(nn.Module):
    """``forward(rgb (B, 3, T, H, W) | None, flow (B, 2, T, H, W) | None) -> (x4, x5)``.

    ``make_stream(in_channels)`` builds one stream (I3D or tiny); ``streams`` is "two_stream", "rgb" or "flow".
    Inputs for a stream the model lacks must be None (an input is never silently ignored).
    """

    def __init__(self, make_stream: Callable[[int], nn.Module], streams: str = "two_stream"):
        super().__init__()
        if streams not in ("two_stream", "rgb", "flow"):
            raise ValueError(f"streams must be two_stream, rgb or flow, got {streams!r}")
        self.streams = streams
        self.model_rgb = make_stream(3) if streams in ("two_stream", "rgb") else None
        self.model_flow = make_stream(2) if streams in ("two_stream", "flow") else None
        first = self.model_rgb if self.model_rgb is not None else self.model_flow
        self.x4_channels, self.x5_channels, self.strides = first.x4_channels, first.x5_channels, first.strides

    @property
    def first_stream(self) -> nn.Module:
        """The RGB stream, or the flow stream in flow-only mode."""
        return self.model_rgb if self.model_rgb is not None else self.model_flow

    def forward(self, rgb: Tensor | None, flow: Tensor | None = None) -> tuple[Tensor, Tensor]:
        for name, x, stream in (("rgb", rgb, self.model_rgb), ("flow", flow, self.model_flow)):
            if stream is None and x is not None:
                raise ValueError(f"this backbone has no {name} stream (streams={self.streams!r}); pass {name}=None")
            if stream is not None and x is None:
                raise ValueError(f"this backbone needs a {name} input (streams={self.streams!r})")
        if self.model_rgb is None:
            return self.model_flow(flow)
        r4, r5 = self.model_rgb(rgb)  # (B, C4, T', H', W'), (B, C5, T', H', W')
        if self.model_flow is None:
            return r4, r5
        f4, f5 = self.model_flow(flow)
        if r4.shape != f4.shape:
            raise ValueError(f"rgb and flow endpoints differ: {tuple(r4.shape)} vs {tuple(f4.shape)}; "
                             "give both streams clips of the same T×H×W")
        return r4 + f4, r5 + f5
