"""Checkpoints that survive a kill at any moment, and that load without executing code.

Layout of a run folder::

    RUN_DIR/config.json                  the resolved TrainConfig
    RUN_DIR/log.jsonl                    one JSON record per step window and per evaluation
    RUN_DIR/checkpoints/step_0000300/    model.safetensors (weights + ModelConfig), state.pt (optimizer, step,
                                         RNG), meta.json (train config, class names, clip config, SHA-256 of both)
    RUN_DIR/checkpoints/latest           the name of the newest complete checkpoint

A checkpoint is written into a temporary folder, flushed, and renamed into place; only then is ``latest``
replaced (temp file + ``os.replace``). A kill at any point leaves ``latest`` naming a complete checkpoint.
On load, the SHA-256 sums are checked; a corrupt or incomplete checkpoint is reported with a warning and the
previous one is used. ``state.pt`` is read with ``torch.load(weights_only=True)`` (no code execution), the
weights with safetensors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gazeattn.errors import DataError
from gazeattn.models import GazeAttentionModel
from gazeattn.models.weights import load_model, save_model

log = logging.getLogger(__name__)

FORMAT = "gazeattn-checkpoint-1"
MODEL_FILE, STATE_FILE, META_FILE = "model.safetensors", "state.pt", "meta.json"


class CheckpointError(DataError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: str | Path, *, model: GazeAttentionModel, state: dict[str, Any], meta: dict[str, Any],
                    step: int, keep: int = 3) -> Path:
    """Write checkpoint ``step`` atomically and point ``latest`` at it; keep the newest ``keep``."""
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:07d}"
    final = root / name
    tmp = root / f".{name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(model, tmp / MODEL_FILE)
    with open(tmp / STATE_FILE, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    meta = {**meta, "format": FORMAT, "step": step,
            "sha256": {MODEL_FILE: sha256_file(tmp / MODEL_FILE), STATE_FILE: sha256_file(tmp / STATE_FILE)}}
    write_atomic_text(tmp / META_FILE, json.dumps(meta, indent=2))
    _fsync_dir(tmp)
    if final.exists():  # the same step written again (a resumed run re-reaching it): swap, never delete first
        trash = root / f".{name}.old{os.getpid()}"
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(root)
    write_atomic_text(root / "latest", name + "\n")
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete-looking checkpoint folders, oldest first (temporary folders are ignored)."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def verify_checkpoint(path: Path) -> dict[str, Any]:
    """Read meta.json and check both files' SHA-256; raise CheckpointError naming the bad file."""
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CheckpointError(meta_path, "missing (incomplete checkpoint)") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(meta_path, f"corrupt: {err}") from err
    if meta.get("format") != FORMAT:
        raise CheckpointError(meta_path, f"unknown checkpoint format {meta.get('format')!r}")
    for name, digest in meta.get("sha256", {}).items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(file, "missing (incomplete checkpoint)")
        if sha256_file(file) != digest:
            raise CheckpointError(file, "checksum mismatch (corrupt checkpoint)")
    return meta


@dataclass
class LoadedCheckpoint:
    path: Path
    model: GazeAttentionModel
    state: dict[str, Any]
    meta: dict[str, Any]


def _candidates(run_dir: Path) -> list[Path]:
    ordered = list(reversed(list_checkpoints(run_dir)))
    latest = checkpoint_root(run_dir) / "latest"
    if latest.is_file():
        named = checkpoint_root(run_dir) / latest.read_text().strip()
        if named in ordered:
            ordered.remove(named)
            ordered.insert(0, named)
    return ordered


def load_checkpoint(path: str | Path, *, with_state: bool = True) -> LoadedCheckpoint:
    """Load one checkpoint folder (verified)."""
    path = Path(path)
    meta = verify_checkpoint(path)
    model = load_model(path / MODEL_FILE)
    state: dict[str, Any] = {}
    if with_state:
        try:
            state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
            raise CheckpointError(path / STATE_FILE, f"cannot be read safely: {err}") from err
    return LoadedCheckpoint(path, model, state, meta)


def load_latest(run_dir: str | Path, *, with_state: bool = True) -> LoadedCheckpoint | None:
    """The newest checkpoint that verifies; a bad one is skipped with a warning. None when there is none."""
    run_dir = Path(run_dir)
    for path in _candidates(run_dir):
        try:
            return load_checkpoint(path, with_state=with_state)
        except DataError as err:
            log.warning("checkpoint %s is unusable (%s); trying the previous one", path, err)
            print(f"warning: checkpoint {path} is unusable ({err}); trying the previous one")
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder, a checkpoint folder or a model.safetensors file → the checkpoint folder (verified)."""
    path = Path(path)
    if path.is_file() and path.name == MODEL_FILE:
        path = path.parent
    if (path / META_FILE).is_file():
        verify_checkpoint(path)
        return path
    if checkpoint_root(path).is_dir():
        loaded = load_latest(path, with_state=False)
        if loaded is None:
            raise CheckpointError(path, "run folder has no usable checkpoint")
        return loaded.path
    raise CheckpointError(path, "not a checkpoint (want a run folder, a checkpoint folder or model.safetensors)")
