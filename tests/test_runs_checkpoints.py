"""Checkpoint safety by fault injection: an exception or a kill at every call point of ``save_checkpoint`` leaves
``latest`` naming a complete checkpoint; corrupt files are caught by their checksums and the previous checkpoint
is used with a warning; a real SIGKILL loop; loading never runs code from a pickle."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gazeattn.models import GazeAttentionModel
from gazeattn.models.config import ModelConfig
from gazeattn.models.weights import WeightsError, load_reference_checkpoint, read_torch_state_dict
from gazeattn.runs import checkpoints as ckpt
from gazeattn.runs.checkpoints import (
    CheckpointError,
    checkpoint_root,
    load_checkpoint,
    load_latest,
    save_checkpoint,
    sha256_file,
    verify_checkpoint,
)

CONFIG = ModelConfig(backbone="tiny", num_classes=7, tiny_widths=(4, 6, 8, 8, 12), head_channels=(6, 4),
                     clip=(8, 32, 32), strides=(8, 16, 16))


def _model(seed: int) -> GazeAttentionModel:
    torch.manual_seed(seed)
    return GazeAttentionModel(CONFIG)


def _save(run: Path, step: int, **kw) -> Path:
    model = _model(step)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = {"optimizer": optimizer.state_dict(), "step": step, "rng_torch": torch.get_rng_state()}
    return save_checkpoint(run, model=model, state=state, meta={"class_names": list("abcdefg")}, step=step, **kw)


def _latest_name(run: Path) -> str:
    return (checkpoint_root(run) / "latest").read_text().strip()


def _assert_consistent(run: Path, allowed: set[int]) -> int:
    """``latest`` names a complete, verifying checkpoint and load_latest returns exactly it."""
    named = checkpoint_root(run) / _latest_name(run)
    meta = verify_checkpoint(named)  # raises on a partial folder
    loaded = load_latest(run)
    assert loaded is not None and loaded.path == named
    assert loaded.state["step"] == meta["step"] in allowed
    want, got = _model(meta["step"]).state_dict(), loaded.model.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(got[k], want[k]) for k in want)
    return meta["step"]


class Injected(Exception):
    pass


# the write functions save_checkpoint (and save_model, write_text_atomic) go through
PATCHED = [(torch, "save"), (os, "replace"), (os, "fsync"), (os, "mkdir"), (builtins, "open"), (shutil, "rmtree"),
           (ckpt, "save_model"), (ckpt, "sha256_file")]


def _instrument(monkeypatch, before_call) -> list[str]:
    """Wrap every PATCHED function so ``before_call(index, name)`` runs before each call; returns the call log."""
    calls: list[str] = []
    busy = [False]
    for owner, attr in PATCHED:
        real = getattr(owner, attr)

        def wrapper(*args, _real=real, _name=f"{getattr(owner, '__name__', owner)}.{attr}", **kwargs):
            if not busy[0]:
                busy[0] = True
                try:
                    calls.append(_name)
                    before_call(len(calls) - 1, _name)
                finally:
                    busy[0] = False
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, attr, wrapper)
    return calls


def _count_calls(tmp_path, monkeypatch) -> list[str]:
    run = tmp_path / "count"
    _save(run, 1)
    with monkeypatch.context() as m:
        calls = _instrument(m, lambda i, name: None)
        _save(run, 2)
    assert {"torch.save", "os.replace", "os.fsync", f"{ckpt.__name__}.save_model"} <= set(calls)
    return calls


def test_exception_at_every_call_point_keeps_latest_complete(tmp_path, monkeypatch, caplog):
    calls = _count_calls(tmp_path, monkeypatch)
    latest_replaced = max(i for i, name in enumerate(calls) if name == "os.replace")
    for k in range(len(calls)):
        run = tmp_path / f"raise{k}"
        _save(run, 1)

        def fail(i, name, k=k):
            if i == k:
                raise Injected(f"call {k}: {name}")

        with monkeypatch.context() as m:
            _instrument(m, fail)
            with pytest.raises(Injected):
                _save(run, 2)
        # the new checkpoint counts only once `latest` was replaced (the last os.replace: nothing is pruned here)
        assert _assert_consistent(run, {1, 2}) == (2 if k > latest_replaced else 1), calls[k]
        _save(run, 3)  # the next save works and clears what the failed one left
        assert _assert_consistent(run, {3}) == 3
        assert not [p.name for p in checkpoint_root(run).iterdir() if p.name.startswith(".")]
    assert "unusable" not in caplog.text


def test_kill_before_every_call_point_keeps_latest_complete(tmp_path, monkeypatch, caplog):
    """Snapshot the checkpoint folder before each call: each snapshot is what a SIGKILL there leaves on disk."""
    run = tmp_path / "run"
    _save(run, 1)
    _save(run, 2, keep=2)
    snapshots: list[Path] = []

    def snapshot(i, name):
        dest = tmp_path / f"kill{i}" / "checkpoints"
        shutil.copytree(checkpoint_root(run), dest)
        snapshots.append(dest.parent)

    with monkeypatch.context() as m:
        _instrument(m, snapshot)
        _save(run, 3, keep=2)  # also prunes step 1
    assert len(snapshots) > 10
    seen = set()
    for snap in snapshots:
        seen.add(_assert_consistent(snap, {2, 3}))
        _save(snap, 4, keep=2)  # a restarted run saves on top of whatever the kill left
        assert _assert_consistent(snap, {4}) == 4
        assert not [p.name for p in checkpoint_root(snap).iterdir() if p.name.startswith(".")]
    assert seen == {2, 3}
    assert "unusable" not in caplog.text


def _flip(path: Path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "flipped weights byte": (lambda c: _flip(c / "model.safetensors"), "model.safetensors", "checksum mismatch"),
    "flipped header byte": (lambda c: _flip(c / "model.safetensors", 0.001), "model.safetensors", "checksum"),
    "flipped state byte": (lambda c: _flip(c / "state.pt"), "state.pt", "checksum mismatch"),
    "truncated state.pt": (lambda c: (c / "state.pt").write_bytes((c / "state.pt").read_bytes()[:100]),
                           "state.pt", "checksum mismatch"),
    "deleted state.pt": (lambda c: (c / "state.pt").unlink(), "state.pt", "missing"),
    "deleted meta.json": (lambda c: (c / "meta.json").unlink(), "meta.json", "missing (incomplete checkpoint)"),
    "garbage meta.json": (lambda c: (c / "meta.json").write_bytes(b"\x00\xff{"), "meta.json", "corrupt"),
    "meta.json a list": (lambda c: (c / "meta.json").write_text("[1, 2]"), "meta.json", "not an object"),
    "meta.json without sums": (lambda c: (c / "meta.json").write_text(json.dumps(
        {**json.loads((c / "meta.json").read_text()), "sha256": {}})), "meta.json", "no SHA-256"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_corrupt_newest_checkpoint_falls_back_with_a_warning(tmp_path, capsys, caplog, damage):
    run = tmp_path / "run"
    _save(run, 1)
    newest = _save(run, 2)
    hurt, file, fragment = DAMAGE[damage]
    hurt(newest)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(newest)
    assert err.value.path == str(newest / file) and fragment in str(err.value)
    loaded = load_latest(run)
    assert loaded is not None and loaded.path.name == "step_0000001" and loaded.state["step"] == 1
    warning = f"checkpoint {newest} is unusable ({newest / file}: "
    captured = capsys.readouterr()
    assert warning not in captured.out + captured.err  # reported once, through logging (stderr), not also printed
    assert sum(warning in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1


def test_garbage_latest_pointer_falls_back_to_the_newest_folder(tmp_path, caplog):
    run = tmp_path / "run"
    _save(run, 1)
    _save(run, 2)
    (checkpoint_root(run) / "latest").write_bytes(b"\xff\xfe../../etc\x00")
    assert load_latest(run).path.name == "step_0000002"
    assert any("not a checkpoint folder" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_real_sigkill_during_checkpoint_writes(tmp_path):
    """A child saves checkpoints (with an 8 MB state, so writes take a while) in a loop; kill it at random."""
    run = tmp_path / "run"
    child = """
import sys, torch
from gazeattn.models import GazeAttentionModel
from gazeattn.models.config import ModelConfig
from gazeattn.runs.checkpoints import load_latest, save_checkpoint
run, config = sys.argv[1], ModelConfig.from_json(sys.argv[2])
loaded = load_latest(run, with_state=False)
step = loaded.meta["step"] + 1 if loaded else 1
while True:
    torch.manual_seed(step)
    state = {"step": step, "ballast": torch.randn(2_000_000)}
    save_checkpoint(run, model=GazeAttentionModel(config), state=state, meta={}, step=step, keep=2)
    step += 1
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(1)
    steps = []
    for _ in range(3):
        latest = checkpoint_root(run) / "latest"
        before = latest.read_text() if latest.is_file() else None
        proc = subprocess.Popen([sys.executable, "-c", child, str(run), CONFIG.to_json()], env=env,
                                stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:  # wait for its first new checkpoint
            if latest.is_file() and latest.read_text() != before:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        loaded = load_latest(run, with_state=False)
        named = checkpoint_root(run) / _latest_name(run)
        assert loaded is not None and loaded.path == named
        verify_checkpoint(named)
        steps.append(loaded.meta["step"])
    assert steps == sorted(steps) and len(set(steps)) == 3  # each round resumed and advanced
    _save(run, steps[-1] + 1, keep=2)
    assert not [p.name for p in checkpoint_root(run).iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------------------- no code execution


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _evil_file(path: Path, marker: Path, kind: str) -> None:
    payload = {"step": 2, "optimizer": _Evil(marker)}
    if kind == "zip":
        torch.save(payload, path)
    elif kind == "legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["zip", "legacy", "plain pickle"])
def test_malicious_state_pt_with_a_matching_checksum_is_refused(tmp_path, caplog, kind):
    run = tmp_path / "run"
    _save(run, 1)
    newest = _save(run, 2)
    marker = tmp_path / "pwned"
    _evil_file(newest / "state.pt", marker, kind)
    meta = json.loads((newest / "meta.json").read_text())
    meta["sha256"]["state.pt"] = sha256_file(newest / "state.pt")  # gets past verification
    (newest / "meta.json").write_text(json.dumps(meta))
    verify_checkpoint(newest)
    with pytest.raises(CheckpointError, match="cannot be read safely") as err:
        load_checkpoint(newest)
    assert err.value.path == str(newest / "state.pt")
    assert load_latest(run).path.name == "step_0000001"  # the previous one, with a warning
    assert "unusable" in caplog.text
    assert "weights_only=False" not in str(err.value)  # PyTorch's advice to load it unsafely is not passed on
    assert "none of it ran" in str(err.value)
    assert not marker.exists()
    if kind == "zip":  # the file really is malicious: an unrestricted load would have run it
        torch.load(newest / "state.pt", weights_only=False)
        assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["zip", "legacy", "plain pickle"])
def test_malicious_foreign_pt_is_refused(tmp_path, kind):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    _evil_file(evil, marker, kind)
    with pytest.raises(WeightsError, match="cannot read torch weights") as err:
        read_torch_state_dict(evil)
    assert err.value.path == str(evil)
    assert "weights_only=False" not in str(err.value) and "none of it ran" in str(err.value)
    good = tmp_path / "good.pt"
    torch.save({"module.model_rgb.x": torch.zeros(1)}, good)
    for order in [(evil, good, good), (good, evil, good), (good, good, evil)]:
        with pytest.raises(WeightsError) as err:
            load_reference_checkpoint(*order)
        assert err.value.path == str(evil)
    assert not marker.exists()
