"""Our model format: one ``.safetensors`` file, the model's state dict, with the resolved :class:`ModelConfig` as
JSON in the metadata (``gazeattn.config``), so a model is rebuilt from the file alone; self-verifying
(:mod:`gazeattn.models.weights.digest`) and written atomically."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from gazeattn.models.config import ModelConfig
from gazeattn.models.gaze_model import GazeAttentionModel
from gazeattn.models.weights.digest import MODEL_FORMAT, read_safetensors, save_safetensors
from gazeattn.models.weights.strict import WeightsError, assign_state_dict, short_list


def save_model(model: GazeAttentionModel, path: str | Path) -> Path:
    """Write the model's weights and its config (JSON in the safetensors metadata) atomically."""
    path = Path(path)
    meta = {"format": MODEL_FORMAT, "gazeattn.config": model.config.to_json()}
    save_safetensors(dict(model.state_dict()), path, meta)
    return path


def read_model_config(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` stored in one of our checkpoints (reads the header only)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as err:  # noqa: BLE001
        raise WeightsError(path, f"cannot read safetensors: {err}") from err
    if meta.get("format") != MODEL_FORMAT or "gazeattn.config" not in meta:
        raise WeightsError(path, f"not a gazeattn model checkpoint (format {meta.get('format')!r}, "
                                 f"expected {MODEL_FORMAT!r})")
    try:
        return ModelConfig.from_json(meta["gazeattn.config"])
    except (ValueError, TypeError) as err:
        raise WeightsError(path, f"bad model config in the checkpoint: {err}") from err


def load_model(path: str | Path, *, checked_by_meta: bool = False) -> GazeAttentionModel:
    """Rebuild a model from one of our checkpoints alone (config from the metadata, weights checked exactly and
    refused when not finite, the tensors' SHA-256 verified; ``checked_by_meta``: a checkpoint's meta.json already
    verified the file, so an older file without the embedded sum loads without a warning).

    Returned in eval mode (as :func:`load_reference_checkpoint`); call ``.train()`` to train on.
    """
    path = Path(path)
    config = read_model_config(path)
    tensors, _ = read_safetensors(path, checked_by_meta=checked_by_meta)
    broken = [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if broken:  # a valid file of a diverged model: its predictions would be NaN
        raise WeightsError(path, f"non-finite weights (NaN or inf) in {len(broken)} tensor(s): {short_list(broken)}")
    model = GazeAttentionModel(config)
    assign_state_dict(model, tensors, source=path)
    return model.eval()
