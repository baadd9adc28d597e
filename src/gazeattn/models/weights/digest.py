"""Self-verifying ``.safetensors`` files: every file we write carries ``gazeattn.sha256`` in its metadata, the
SHA-256 of its tensors (:func:`tensor_digest`), written atomically; every read recomputes it and refuses a file
whose tensors changed. A file written before the sum existed loads with a warning, except inside a checkpoint
folder (its ``meta.json`` sums already covered it)."""

from __future__ import annotations

import hashlib
import json
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
        _sort_header(tmp)


def _sort_header(path: Path) -> None:
    """Rewrite the JSON header of a safetensors file with its metadata in key order: safetensors writes the
    metadata from a hash map, in an order that changes from one save to the next, so the same model would give
    different bytes. The header is rewritten in place (same length: the same compact JSON, reordered), or, should
    its length ever differ, the file is rewritten whole."""
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        raw = f.read(n)
        header = json.loads(raw)
        meta = header.pop("__metadata__", None)
        ordered = {} if meta is None else {"__metadata__": dict(sorted(meta.items()))}
        ordered.update(sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]))  # tensors in file order
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) <= n:  # the padding safetensors added (spaces, to 8-byte alignment) stays
            f.seek(8)
            f.write(text.ljust(n, b" "))
            return
        data = f.read()
        text = text.ljust(-(-len(text) // 8) * 8, b" ")
        f.seek(0)
        f.write(len(text).to_bytes(8, "little") + text + data)
        f.truncate()


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
