"""Single I3D streams: piergiaj's files (``rgb_imagenet.pt``, ``flow_imagenet.pt``, ``rgb_charades.pt``: I3D
keys plus ``logits.conv3d.*``) and our converted ``.safetensors`` of the same keys, loaded into one stream of a
model's backbone or a bare :class:`InceptionI3d`. A classifier head of another class count is dropped
explicitly and listed in the :class:`LoadReport`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor, nn

from gazeattn.models.gaze_model import GazeAttentionModel
from gazeattn.models.i3d import InceptionI3d
from gazeattn.models.weights.digest import I3D_FORMAT, read_safetensors, save_safetensors
from gazeattn.models.weights.strict import (LoadReport, WeightsError, assign_state_dict, read_torch_state_dict,
                                            strip_prefix)


def save_i3d_weights(sd: Mapping[str, Tensor], path: str | Path, *, source: str) -> Path:
    """Save an I3D state dict (piergiaj naming, with ``logits.conv3d.*``) as safetensors, atomically."""
    path = Path(path)
    w = sd["Conv3d_1a_7x7.conv3d.weight"]
    meta = {"format": I3D_FORMAT, "in_channels": str(w.shape[1]), "source": source}
    if "logits.conv3d.weight" in sd:
        meta["num_classes"] = str(sd["logits.conv3d.weight"].shape[0])
    save_safetensors(dict(sd), path, meta)
    return path


def read_i3d_weights(path: str | Path) -> dict[str, Tensor]:
    """An I3D state dict from a piergiaj ``.pt`` or our ``.safetensors`` (``module.`` stripped)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        sd, meta = read_safetensors(path)
        if meta.get("format") != I3D_FORMAT:
            raise WeightsError(path, f"not an I3D weight file (format {meta.get('format')!r}, expected {I3D_FORMAT!r})")
    else:
        sd = read_torch_state_dict(path)
    return strip_prefix(sd, "module.")


def _load_i3d_stream(stream: nn.Module, sd: dict[str, Tensor], source: Path) -> LoadReport:
    """Load I3D keys into one stream; a logits head the stream does not have is dropped explicitly."""
    sd = dict(sd)
    dropped: list[str] = []
    has_logits = getattr(stream, "logits", None) is not None
    logits_keys = [k for k in sd if k.startswith("logits.")]
    if logits_keys and not has_logits:
        dropped = logits_keys
    elif logits_keys and has_logits:
        ours = stream.logits.conv3d.weight.shape[0]  # type: ignore[union-attr]
        theirs = sd["logits.conv3d.weight"].shape[0] if "logits.conv3d.weight" in sd else ours
        if theirs != ours:  # class count differs: drop the file's head, keep the stream's own
            dropped = logits_keys
    for k in dropped:
        sd.pop(k)
    if dropped and has_logits:
        sd.update({k: v for k, v in stream.state_dict().items() if k.startswith("logits.")})
    report = assign_state_dict(stream, sd, source=source)
    report.dropped += dropped
    return report


def load_stream_weights(model: GazeAttentionModel | InceptionI3d, path: str | Path, stream: str = "rgb") -> LoadReport:
    """Load a single-stream I3D file (piergiaj ``.pt`` or converted ``.safetensors``) into ``stream`` ("rgb"
    or "flow") of a model's backbone, or into a bare :class:`InceptionI3d`. The file's ``logits`` are dropped
    explicitly (listed in the report) unless the target has a logits head of the same class count.

    For a model with ``config.gaze_head_init == "backbone"``, the gaze head's Mixed_5b/5c are then copied from
    the backbone's first stream (RGB, or flow in flow-only mode).
    """
    path = Path(path)
    sd = read_i3d_weights(path)
    if isinstance(model, GazeAttentionModel):
        if model.config.backbone != "i3d":
            raise ValueError(f"I3D weights need backbone='i3d', the model has {model.config.backbone!r}")
        target = getattr(model.backbone, f"model_{stream}", None) if stream in ("rgb", "flow") else None
        if target is None:
            raise ValueError(f"this model has no {stream!r} stream (streams={model.config.streams!r})")
        report = _load_i3d_stream(target, sd, path)
        if model.config.gaze_head_init == "backbone" and target is model.backbone.first_stream:
            model.init_gaze_head_from_backbone()
        return report
    return _load_i3d_stream(model, sd, path)
