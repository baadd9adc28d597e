"""The model's configuration: what a person chooses, completed with what the data decides; saved (as JSON) with
every checkpoint.

- :class:`ModelChoices`: the fields a person chooses (backbone, streams, dropout, attention, gaze-head init and
  widths). A training config's ``[model]`` section is one (:class:`gazeattn.train.config.ModelSettings`), so
  both have these defaults and checks.
- :class:`ModelConfig`: the choices completed with the fields that follow from the data and the clip settings
  (``num_classes``, ``clip``, ``strides``, ``gaze_head``) by :meth:`ModelConfig.complete` when a model is built
  (for training: :func:`gazeattn.train.variants.model_config`).

The attention grid (T', H', W') is never written down: it is derived from ``clip`` (frames, height, width of
the input) and ``strides`` (the backbone's total strides) by :func:`gazeattn.data.targets.grid_shape`, the same
function the dataset uses for its gaze targets. 24×224² with I3D's :data:`I3D_STRIDES` → 3×7×7 (147 cells, the
reference); the demo's 24×80² with the tiny backbone at (8, 16, 16) → 3×5×5.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Collection

from gazeattn.data.targets import I3D_STRIDES, grid_shape
from gazeattn.models.attention import ATTENTIONS  # the registered heads (a live list of names)

__all__ = ["ModelChoices", "ModelConfig", "BACKBONES", "STREAMS", "ATTENTIONS", "GAZE_HEAD_INITS", "I3D_STRIDES",
           "TINY_SPATIAL_STRIDES"]

BACKBONES = ("i3d", "tiny")
STREAMS = ("two_stream", "rgb", "flow")
# random: the gaze head's Mixed_5b/5c start from random init (the reference); backbone: copied from the
# backbone's (RGB stream's, in two-stream mode) Mixed_5b/5c when pretrained weights are loaded.
GAZE_HEAD_INITS = ("random", "backbone")
TINY_SPATIAL_STRIDES = (8, 16, 32)  # the tiny backbone's total strides are (8, s, s) with s one of these


def _tuples(config: Any, names: tuple[str, ...]) -> None:
    """JSON gives lists (and older checkpoints ``null`` for "the default"): normalise to tuples so configs
    compare equal and stay hashable."""
    for name in names:
        value = getattr(config, name)
        if value is None and name == "head_channels":
            object.__setattr__(config, name, ())
        elif not isinstance(value, tuple):
            object.__setattr__(config, name, tuple(value))


@dataclass(frozen=True)
class ModelChoices:
    """The fields of a model a person chooses (defaults: the reference's model).

    backbone: "i3d" or "tiny"; streams: "two_stream" (RGB + flow, summed at x4 and x5), "rgb" or "flow";
    dropout: before the classifier (0.7, the reference); attention: a registered head, one of ATTENTIONS
    (:mod:`gazeattn.models.attention`); gaze_head_init: one of GAZE_HEAD_INITS; head_channels: the gaze head's
    two (1,3,3) conv widths (() → (256, 64) for I3D, the reference's, and (16, 8) for tiny); tiny_widths: the tiny
    backbone's five channel counts (I3D has none).
    """

    ALLOWED: ClassVar[dict[str, Collection[str]]] = {
        "backbone": BACKBONES, "streams": STREAMS, "attention": ATTENTIONS, "gaze_head_init": GAZE_HEAD_INITS}

    backbone: str = "i3d"
    streams: str = "two_stream"
    dropout: float = 0.7
    attention: str = "min2021"
    gaze_head_init: str = "random"
    head_channels: tuple[int, ...] = ()
    tiny_widths: tuple[int, ...] = (8, 16, 24, 32, 48)

    def __post_init__(self) -> None:
        _tuples(self, ("head_channels", "tiny_widths"))
        for name, allowed in self.ALLOWED.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"model config {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model config dropout must be in [0, 1), got {self.dropout}")
        if self.head_channels and (len(self.head_channels) != 2 or min(self.head_channels) < 1):
            raise ValueError(f"model config head_channels must be two positive widths, got {self.head_channels}")
        if len(self.tiny_widths) != 5 or min(self.tiny_widths) < 1:
            raise ValueError(f"model config tiny_widths must be five positive widths, got {self.tiny_widths}")

    @property
    def reads_flow(self) -> bool:
        return self.streams in ("two_stream", "flow")


@dataclass(frozen=True)
class ModelConfig(ModelChoices):
    """Everything needed to rebuild a :class:`~gazeattn.models.gaze_model.GazeAttentionModel`: the
    :class:`ModelChoices` and

    num_classes: action classes (106 for EGTEA Gaze+); clip: (frames, height, width) of the input the attention
    FC is sized for; strides: the backbone's total (t, h, w) strides -- I3D's are :data:`I3D_STRIDES`, tiny
    takes (8, s, s) with s in TINY_SPATIAL_STRIDES; gaze_head: build the gaze head q(z|x) -- None: exactly when
    the attention uses z (:attr:`attends`, not for "none"); True with attention "none" gives the
    gaze-as-auxiliary-task ablation (the head is trained by the KL only and the classifier ignores z); False with
    an attention gives a model that only takes z from outside (e.g. the measured gaze).
    """

    num_classes: int = 106
    clip: tuple[int, int, int] = (24, 224, 224)
    strides: tuple[int, int, int] = I3D_STRIDES
    gaze_head: bool | None = None

    def __post_init__(self) -> None:
        _tuples(self, ("clip", "strides"))
        super().__post_init__()
        if self.num_classes < 1:
            raise ValueError(f"model config num_classes must be >= 1, got {self.num_classes}")
        if len(self.clip) != 3 or min(self.clip) < 1:
            raise ValueError(f"model config clip must be (frames, height, width) > 0, got {self.clip}")
        if len(self.strides) != 3:
            raise ValueError(f"model config strides must be (t, h, w), got {self.strides}")
        if self.backbone == "i3d" and self.strides != I3D_STRIDES:
            raise ValueError(f"I3D's total strides are {I3D_STRIDES}, got {self.strides}")
        if self.backbone == "tiny" and (self.strides[0] != 8 or self.strides[1] != self.strides[2]
                                        or self.strides[1] not in TINY_SPATIAL_STRIDES):
            raise ValueError(f"tiny backbone strides must be (8, s, s) with s in {TINY_SPATIAL_STRIDES}, "
                             f"got {self.strides}")

    @classmethod
    def complete(cls, choices: ModelChoices, *, num_classes: int, clip: tuple[int, int, int],
                 strides: tuple[int, int, int], gaze_head: bool | None = None, **changes: Any) -> "ModelConfig":
        """``choices`` (any :class:`ModelChoices`; ``changes`` replace some of them) completed with what the
        data decides. The tiny widths are kept for the tiny backbone only (I3D has none), so two configs of the
        same network compare equal."""
        chosen = {f.name: getattr(choices, f.name) for f in dataclasses.fields(ModelChoices)} | changes
        if chosen["backbone"] != "tiny":
            chosen["tiny_widths"] = ModelChoices.tiny_widths
        return cls(**chosen, num_classes=num_classes, clip=clip, strides=strides, gaze_head=gaze_head)

    @property
    def grid(self) -> tuple[int, int, int]:
        """(T', H', W') of x4/x5 and of the gaze map z for inputs of size ``clip``."""
        return grid_shape(*self.clip, strides=self.strides)

    @property
    def cells(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def attends(self) -> bool:
        """Whether the attention head uses z (its registration's ``attends``; False for ``none``)."""
        return ATTENTIONS[self.attention].attends

    @property
    def has_gaze_head(self) -> bool:
        return self.attends if self.gaze_head is None else bool(self.gaze_head)

    @property
    def resolved_head_channels(self) -> tuple[int, int]:
        if self.head_channels:
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
        """Also reads the JSON of older checkpoints (``head_channels: null`` for the backbone's widths)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))
