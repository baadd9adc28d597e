"""The reference implementation's three checkpoint files (``*_base.pt``, ``*_gaze.pt``, ``*_attn.pt``, with
DataParallel's ``module.`` prefixes), mapped onto a :class:`GazeAttentionModel`'s ``backbone``, ``gaze_head`` and
``attention``; and writing them back, for round trips and parity checks."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gazeattn.models.config import ModelConfig
from gazeattn.models.gaze_model import GazeAttentionModel
from gazeattn.models.weights.strict import WeightsError, assign_state_dict, read_torch_state_dict, strip_prefix


def _reference_parts(model: GazeAttentionModel) -> list[tuple[str, nn.Module]]:
    return [("base", model.backbone), ("gaze", model.gaze_head), ("attn", model.attention)]


def load_reference_checkpoint(
    base: str | Path, gaze: str | Path, attn: str | Path, *, config: ModelConfig | None = None
) -> GazeAttentionModel:
    """A :class:`GazeAttentionModel` holding the reference implementation's ``*_base.pt``, ``*_gaze.pt`` and
    ``*_attn.pt`` (DataParallel ``module.`` prefixes, streams ``model_rgb.`` / ``model_flow.``).

    Without ``config`` it is inferred: I3D, min2021 attention, the streams present in the base file, the class
    count from ``fc_f.weight`` and 24×224² clips (whose 3×7×7 grid must match ``fc.weight``). Every key of every
    file must map (only ``num_batches_tracked`` may be missing). Returned in eval mode.
    """
    paths = {"base": Path(base), "gaze": Path(gaze), "attn": Path(attn)}
    sds = {name: read_torch_state_dict(p) for name, p in paths.items()}
    prefixes = {name: ("module." if sd and all(k.startswith("module.") for k in sd) else "")
                for name, sd in sds.items()}
    stripped = {name: strip_prefix(sd, prefixes[name]) for name, sd in sds.items()}
    if config is None:
        fc_f = stripped["attn"].get("fc_f.weight")
        if fc_f is None:
            raise WeightsError(paths["attn"], f"missing key {prefixes['attn'] + 'fc_f.weight'!r}")
        has_rgb = any(k.startswith("model_rgb.") for k in stripped["base"])
        has_flow = any(k.startswith("model_flow.") for k in stripped["base"])
        if not (has_rgb or has_flow):
            raise WeightsError(paths["base"], "no 'model_rgb.' or 'model_flow.' keys: not a reference base file")
        streams = "two_stream" if has_rgb and has_flow else ("rgb" if has_rgb else "flow")
        config = ModelConfig(backbone="i3d", streams=streams, num_classes=int(fc_f.shape[0]), attention="min2021")
        fc = stripped["attn"].get("fc.weight")
        if fc is not None and fc.shape[0] != config.cells:
            raise WeightsError(paths["attn"], f"key {prefixes['attn'] + 'fc.weight'!r} is {tuple(fc.shape)}, but "
                               f"{config.clip} clips give a {config.grid} grid ({config.cells} cells); pass a "
                               "config with the clip size the checkpoint was trained on")
    model = GazeAttentionModel(config)
    for name, part in _reference_parts(model):
        if part is None:
            raise WeightsError(paths[name], f"the config (attention={config.attention!r}) has no {name} part")
        assign_state_dict(part, stripped[name], source=paths[name], key_prefix=prefixes[name])
    return model.eval()


def save_reference_checkpoint(model: GazeAttentionModel, base: str | Path, gaze: str | Path, attn: str | Path,
                              *, legacy: bool = False) -> None:
    """Write the reference's three files (``module.`` prefixed) -- for round trips and parity checks."""
    for name, part in _reference_parts(model):
        if part is None:
            raise ValueError(f"this model has no {name} part")
        sd = {"module." + k: v.detach().clone() for k, v in part.state_dict().items()}
        target = {"base": base, "gaze": gaze, "attn": attn}[name]
        torch.save(sd, target, _use_new_zipfile_serialization=not legacy)
