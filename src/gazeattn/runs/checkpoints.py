"""Checkpoints that survive a kill at any moment, and that load without executing code.

Layout of a run folder::

    RUN_DIR/config.json                  the resolved TrainConfig
    RUN_DIR/log.jsonl                    one JSON record per step window and per evaluation
    RUN_DIR/checkpoints/step_0000300/    model.safetensors (weights + ModelConfig), state.pt (optimizer, step,
                                         RNG), meta.json (train config, class names, clip config, SHA-256 of both)
    RUN_DIR/checkpoints/latest           the name of the newest complete checkpoint
    RUN_DIR/skipped.json                 clips left out (--on-bad-clip skip) with reasons, gaze coverage warnings
    RUN_DIR/skipped.jsonl                one line per clip skipped while being read, from any DataLoader worker

A checkpoint is written into a hidden temporary folder, flushed, and renamed into place; only then is ``latest``
replaced (temp file + ``os.replace``). A kill at any point leaves ``latest`` naming a complete checkpoint; the
next save removes what a killed writer left. On load, the SHA-256 sums of both files are checked (meta.json must
carry both); a corrupt or incomplete checkpoint is reported with a warning and the previous one is used.
``state.pt`` is read with ``torch.load(weights_only=True)`` (no code execution), the weights with safetensors.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gazeattn.models import GazeAttentionModel
from gazeattn.models.weights import load_model, save_model, unsafe_pickle_reason
from gazeattn.runs.lock import pid_alive
from gazeattn.utils.atomic import fsync_path, write_text_atomic
from gazeattn.utils.errors import DataError, OutputError, output_error

log = logging.getLogger(__name__)

FORMAT = "gazeattn-checkpoint-1"
MODEL_FILE, STATE_FILE, META_FILE = "model.safetensors", "state.pt", "meta.json"


class CheckpointError(DataError):
    pass


class CheckpointWriteError(OutputError):
    """A checkpoint could not be written (disk full, permissions): names the file and the last good checkpoint."""


def _last_good(run_dir: str | Path) -> str:
    """The checkpoint --resume would continue from (the newest that verifies and loads, weights finite), for
    messages about a failed write."""
    try:
        loaded = load_latest(run_dir, with_state=False)
    except OSError:
        loaded = None
    if loaded is None:
        return "no usable checkpoint has been written yet"
    return f"the last good checkpoint is {loaded.path} (--resume continues from it)"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


# Hidden leftovers of a writer: .step_0000300.tmp<pid> (being written), .step_0000300.old<pid> (being swapped
# out), .step_0000100.del<pid> (being pruned), .latest.tmp<pid>. Never named by ``latest``, never loaded.
_LEFTOVER = re.compile(r"^\..+\.(tmp|old|del)(\d+)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers come from an earlier call that failed: nothing is writing them now
    return pid_alive(pid)


def _remove_leftovers(root: Path) -> None:
    """Delete what killed (or failed) writers left behind; a live writer's folders are kept."""
    for p in root.iterdir():
        m = _LEFTOVER.match(p.name)
        if m is None or _alive(int(m.group(2))):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def save_checkpoint(run_dir: str | Path, *, model: GazeAttentionModel, state: dict[str, Any], meta: dict[str, Any],
                    step: int, keep: int = 3) -> Path:
    """Write checkpoint ``step`` atomically and point ``latest`` at it; keep the newest ``keep``.

    Order: files into a hidden temp folder (each flushed to disk), meta.json last with their SHA-256, the folder
    renamed to ``step_NNNNNNN``, then ``latest`` replaced. A kill or an exception anywhere leaves ``latest``
    naming the previous complete checkpoint, or the new one once it is complete; never a partial one.

    A write that fails (disk full, permissions) raises :class:`CheckpointWriteError` naming the file being
    written and the last good checkpoint, which ``latest`` still names."""
    root = checkpoint_root(run_dir)
    name = f"step_{step:07d}"
    final = root / name
    tmp = root / f".{name}.tmp{os.getpid()}"
    writing = root  # the file being written, as the user will find it (never the temporary name)
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(root)
        tmp.mkdir()
        try:
            writing = final / MODEL_FILE
            save_model(model, tmp / MODEL_FILE)
            fsync_path(tmp / MODEL_FILE)
            writing = final / STATE_FILE
            buffer = io.BytesIO()  # serialised in memory first: a failed write is then a plain OSError (ENOSPC),
            torch.save(state, buffer)  # not torch's "unexpected pos" RuntimeError
            with open(tmp / STATE_FILE, "wb") as f:
                f.write(buffer.getbuffer())
                f.flush()
                os.fsync(f.fileno())
            del buffer
            writing = final / META_FILE
            meta = {**meta, "format": FORMAT, "step": step,
                    "sha256": {MODEL_FILE: sha256_file(tmp / MODEL_FILE), STATE_FILE: sha256_file(tmp / STATE_FILE)}}
            write_text_atomic(tmp / META_FILE, json.dumps(meta, indent=2))
            fsync_path(tmp)
            writing = final
            _rename_into_place(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        writing = root / "latest"
        write_text_atomic(root / "latest", name + "\n")
    except (OSError, OutputError) as err:
        raise CheckpointWriteError(writing, output_error(writing, err).reason + "; " + _last_good(run_dir)) from err
    _prune(run_dir, keep=keep, current=final)
    return final


def _rename_into_place(tmp: Path, final: Path) -> None:
    """The complete folder ``tmp`` becomes ``final`` (its parent synced); a ``final`` already there (the same step
    written again: a resumed run re-reaching it) is swapped out, never deleted first."""
    if final.exists():
        trash = final.parent / f".{final.name}.old{os.getpid()}"
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_path(final.parent)


def _prune(run_dir: str | Path, *, keep: int, current: Path) -> None:
    """Delete all but the newest ``keep`` checkpoints (never ``current``; ``keep`` 0: none); each is hidden first,
    then deleted, so a kill mid-deletion leaves no half folder under a step name."""
    root = checkpoint_root(run_dir)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if old != current:
            doomed = root / f".{old.name}.del{os.getpid()}"
            try:
                os.replace(old, doomed)
            except OSError:
                continue
            shutil.rmtree(doomed, ignore_errors=True)


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
    except OSError as err:
        raise CheckpointError(meta_path, f"cannot be read: {err}") from err
    if not isinstance(meta, dict):
        raise CheckpointError(meta_path, f"corrupt: a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT:
        raise CheckpointError(meta_path, f"unknown checkpoint format {meta.get('format')!r}")
    digests = meta.get("sha256")
    for name in (MODEL_FILE, STATE_FILE):  # both, always: a meta.json without a sum must not skip the check
        digest = digests.get(name) if isinstance(digests, dict) else None
        if not isinstance(digest, str):
            raise CheckpointError(meta_path, f"no SHA-256 for {name} (corrupt or foreign meta.json)")
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


_POINTER = re.compile(r"^step_\d+$")


def _read_pointer(latest: Path) -> str:
    """The first line of ``latest`` (at most 256 bytes read: the file may be anything)."""
    with open(latest, "rb") as f:
        raw = f.read(256)
    return raw.decode("utf-8", errors="replace").strip()


def _shown(text: str, limit: int = 60) -> str:
    """``text`` escaped (repr) and cut to about ``limit`` characters: safe to print whatever the file held."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _candidates(run_dir: Path) -> list[Path]:
    """The checkpoint ``latest`` names first, then the others newest first."""
    ordered = list(reversed(list_checkpoints(run_dir)))
    latest = checkpoint_root(run_dir) / "latest"
    if latest.is_file():
        try:
            text = _read_pointer(latest)
        except OSError:
            text = ""
        named = checkpoint_root(run_dir) / text if _POINTER.match(text) else None
        if named is not None and named in ordered:
            ordered.remove(named)
            ordered.insert(0, named)
        elif ordered:
            log.warning("%s names %s, which is not a checkpoint folder; trying the newest folders", latest,
                        _shown(text))
    return ordered


def load_checkpoint(path: str | Path, *, with_state: bool = True) -> LoadedCheckpoint:
    """Load one checkpoint folder (verified). Executes no code from the files: safetensors + JSON, and
    ``torch.load(weights_only=True)`` for state.pt, whose pickle may only rebuild tensors and plain containers."""
    path = Path(path)
    meta = verify_checkpoint(path)
    try:
        model = load_model(path / MODEL_FILE, checked_by_meta=True)
    except (DataError, ValueError, RuntimeError) as err:
        reason = err.reason if isinstance(err, DataError) else err  # its file is this one: named once
        raise CheckpointError(path / MODEL_FILE, f"cannot be loaded: {reason}") from err
    state: dict[str, Any] = {}
    if with_state:
        try:
            state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
            raise CheckpointError(path / STATE_FILE, f"cannot be read safely: {unsafe_pickle_reason(err)}") from err
        if not isinstance(state, dict):
            raise CheckpointError(path / STATE_FILE, f"holds a {type(state).__name__}, not a training state dict")
    return LoadedCheckpoint(path, model, state, meta)


def load_latest(run_dir: str | Path, *, with_state: bool = True) -> LoadedCheckpoint | None:
    """The newest checkpoint that verifies; a bad one is skipped with a warning. None when there is none."""
    run_dir = Path(run_dir)
    for path in _candidates(run_dir):
        try:
            return load_checkpoint(path, with_state=with_state)
        except DataError as err:  # reported once, on stderr (logging)
            log.warning("checkpoint %s is unusable (%s); trying the previous one", path, err)
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder, a checkpoint folder or the model.safetensors of one → the checkpoint folder (verified). A model
    file alone (no meta.json beside it: no training config) is refused, saying so."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "checkpoint not found")
    if path.is_file() and path.name == MODEL_FILE:
        if not (path.parent / META_FILE).is_file():
            raise CheckpointError(path, f"a model file without the {META_FILE} of a checkpoint folder beside it (the "
                                        "training config that evaluation needs): pass the checkpoint or run folder "
                                        "`gazeattn train` wrote; `gazeattn predict` runs a model file alone")
        path = path.parent
    if (path / META_FILE).is_file():
        verify_checkpoint(path)
        return path
    if checkpoint_root(path).is_dir():
        loaded = load_latest(path, with_state=False)
        if loaded is None:
            raise CheckpointError(path, "run folder has no usable checkpoint")
        return loaded.path
    raise CheckpointError(path, f"not a checkpoint (want a run folder, a checkpoint folder or the {MODEL_FILE} of "
                                "a checkpoint folder)")
