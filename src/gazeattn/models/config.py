"""The model's configuration: one frozen dataclass, saved (as JSON) with every checkpoint.

The attention grid (T', H', W') is never written down: it is derived from ``clip`` (frames, height, width of
the input) and ``strides`` (the backbone's total strides) by :func:`gazeattn.data.targets.grid_shape`, the same
function the dataset uses for its gaze targets. 24×224² with I3D's (8, 32, 32) → 3×7×7 (147 cells, the
reference); the demo's 24×80² with the tiny backbone at (8, 16, 16) → 3×5×5.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from gazeattn.data.targets import grid_shape

__all__ = ["ModelConfig", "BACKBONES", "STREAMS", "ATTENTIONS", "GAZE_HEAD_INITS"]

BACKBONES = ("i3d", "tiny")
STREAMS = ("two_stream", "rgb", "flow")
# min2021: sigmoid(FC(flatten z)) attention with residual (Min & Corso); li2018: z as pooling weights
# (Li, Liu & Rehg, Gumbel-Softmax baseline); glimpse: features at the gaze cells beside GAP(x5) (ours);
# spread: the gaze cell spread by a learned kernel and gain, with the residual (ours); none: plain classifier
# on GAP(x5), no gaze head. See gazeattn.models.attention.
ATTENTIONS = ("min2021", "li2018", "glimpse", "spread", "none")
# random: the gaze head's Mixed_5b/5c start from random init (the reference); backbone: copied from the
# backbone's (RGB stream's, in two-stream mode) Mixed_5b/5c when pretrained weights are loaded.
GAZE_HEAD_INITS = ("random", "backbone")

_I3D_STRIDES = (8, 32, 32)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`~gazeattn.models.gaze_model.GazeAttentionModel`.

    backbone: "i3d" or "tiny"; streams: "two_stream" (RGB + flow, summed at x4 and x5), "rgb" or "flow";
    num_classes: action classes (106 for EGTEA Gaze+); dropout: before the classifier (0.7, the reference);
    attention: one of ATTENTIONS; clip: (frames, height, width) of the input the attention FC is sized for;
    strides: the backbone's total (t, h, w) strides -- I3D is fixed at (8, 32, 32), tiny takes (8, s, s) with
    s ∈ {8, 16, 32}; gaze_head_init: one of GAZE_HEAD_INITS; head_channels: the gaze head's two (1,3,3) conv
    widths ((256, 64) for I3D as the reference; None → (256, 64) for I3D, (16, 8) for tiny);
    tiny_widths: the tiny backbone's five channel counts (ignored for I3D); gaze_head: build the gaze head q(z|x)
    -- None: exactly when attention != "none"; True with attention "none" gives the gaze-as-auxiliary-task
    ablation (the head is trained by the KL only and the classifier ignores z); False with an attention gives
    a model that only takes z from outside (e.g. the measured gaze).
    """

    backbone: str = "i3d"
    streams: str = "two_stream"
    num_classes: int = 106
    dropout: float = 0.7
    attention: str = "min2021"
    clip: tuple[int, int, int] = (24, 224, 224)
    strides: tuple[int, int, int] = _I3D_STRIDES
    gaze_head_init: str = "random"
    head_channels: tuple[int, int] | None = None
    tiny_widths: tuple[int, int, int, int, int] = (8, 16, 24, 32, 48)
    gaze_head: bool | None = None

    def __post_init__(self) -> None:
        # JSON gives lists: normalise to tuples so configs compare equal and stay hashable.
        for name in ("clip", "strides", "head_channels", "tiny_widths"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        for name, allowed in (("backbone", BACKBONES), ("streams", STREAMS), ("attention", ATTENTIONS),
                              ("gaze_head_init", GAZE_HEAD_INITS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"model config {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.num_classes < 1:
            raise ValueError(f"model config num_classes must be >= 1, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model config dropout must be in [0, 1), got {self.dropout}")
        if len(self.clip) != 3 or min(self.clip) < 1:
            raise ValueError(f"model config clip must be (frames, height, width) > 0, got {self.clip}")
        if len(self.strides) != 3:
            raise ValueError(f"model config strides must be (t, h, w), got {self.strides}")
        if self.backbone == "i3d" and self.strides != _I3D_STRIDES:
            raise ValueError(f"I3D's total strides are {_I3D_STRIDES}, got {self.strides}")
        if self.backbone == "tiny" and (self.strides[0] != 8 or self.strides[1] != self.strides[2]
                                        or self.strides[1] not in (8, 16, 32)):
            raise ValueError(f"tiny backbone strides must be (8, s, s) with s in (8, 16, 32), got {self.strides}")
        if self.head_channels is not None and (len(self.head_channels) != 2 or min(self.head_channels) < 1):
            raise ValueError(f"model config head_channels must be two positive widths, got {self.head_channels}")
        if len(self.tiny_widths) != 5 or min(self.tiny_widths) < 1:
            raise ValueError(f"model config tiny_widths must be five positive widths, got {self.tiny_widths}")

    @property
    def grid(self) -> tuple[int, int, int]:
        """(T', H', W') of x4/x5 and of the gaze map z for inputs of size ``clip``."""
        return grid_shape(*self.clip, strides=self.strides)

    @property
    def cells(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def has_gaze_head(self) -> bool:
        return self.attention != "none" if self.gaze_head is None else bool(self.gaze_head)

    @property
    def resolved_head_channels(self) -> tuple[int, int]:
        if self.head_channels is not None:
            return self.head_channels  # type: ignore[return-value]
        return (256, 64) if self.backbone == "i3d" else (16, 8)

    @property
    def in_channels(self) -> dict[str, int]:
        """Input channels per stream present: rgb 3, flow 2 (u, v)."""
        channels = {"rgb": 3, "flow": 2}
        return channels if self.streams == "two_stream" else {self.streams: channels[self.streams]}

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with ``changes`` applied (unknown keys are errors)."""
        return ModelConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))
