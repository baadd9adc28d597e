"""Self-verifying ``.safetensors`` files: every file we write carries ``gazeattn.sha256`` in its metadata, the
SHA-256 of its tensors (:func:`tensor_digest`), written atomically; every read recomputes it and refuses a file
whose tensors changed. A file written before the sum existed loads with a warning, except inside a checkpoint
folder (its ``meta.json`` sums already covered it)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from gazeattn.models.weights.strict import WeightsError
from gazeattn.utils.atomic import atomic_output
from gazeattn.utils.errors import OutputError, os_reason

DIGEST_KEY = "gazeattn.sha256"
MODEL_FORMAT = "gazeattn-model/1"  # our model files (gazeattn.models.weights.model_file)
I3D_FORMAT = "gazeattn-i3d/1"  # our single-stream I3D files (gazeattn.models.weights.piergiaj)

log = logging.getLogger(__name__)


def tensor_digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 (hex) of a state dict: for each tensor in name order, ``name\\0dtype\\0shape\\0`` then its bytes
    (C order, little-endian: as safetensors stores them). Stored as ``gazeattn.sha256`` in the file's metadata."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def save_safetensors(tensors: dict[str, Tensor], path: Path, metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {**metadata, DIGEST_KEY: tensor_digest(tensors)}
    with atomic_output(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except OSError:
            raise
        except Exception as err:  # noqa: BLE001 -- SafetensorError (a failed write: disk full, permissions)
            raise OutputError(path, f"cannot write: {os_reason(err)}") from err


def read_safetensors(path: Path, *, checked_by_meta: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and metadata of a .safetensors file, its ``gazeattn.sha256`` verified when it has one (a file
    without one is loaded with a warning, unless ``checked_by_meta``: a checkpoint's meta.json verified it)."""
    if not path.is_file():
        raise WeightsError(path, "weight file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # noqa: BLE001 -- safetensors raises its own error types
        raise WeightsError(path, f"cannot read safetensors: {err}") from err
    digest = meta.get(DIGEST_KEY)
    if digest is not None:
        if tensor_digest(tensors) != digest:
            raise WeightsError(path, f"damaged: the SHA-256 of its tensors differs from the {DIGEST_KEY} in its "
                                     "header (the file was changed or corrupted after it was written)")
    elif not checked_by_meta and meta.get("format") in (MODEL_FORMAT, I3D_FORMAT):
        log.warning("%s: has no %s (written by an older gazeattn): loaded unverified", path, DIGEST_KEY)
    return tensors, meta
