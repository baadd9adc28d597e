"""One writer per run folder: a second `train` (or `eval --out`) on the same output is refused at once, naming the
holder; the first run finishes as if alone; locks are released on errors, Ctrl-C and normal exit; stale locks (a
dead holder) are taken over with one warning, also on filesystems without flock."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from gazeattn.runs import lock as runlock
from gazeattn.cli import main
from gazeattn.runs.lock import LOCK_NAME, OutputLocked, acquire, output_file_lock, run_folder_lock
from tinyworld import SMALL, tiny_world



@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("lock") / "egtea", seed=4)


def _train_args(world: Path, out: Path, *extra: str, steps: int = 4) -> list[str]:
    return ["train", "--data", str(world), "--out", str(out), "--steps", str(steps), "--set", "run.checkpoint_every=2",
            "--set", "run.log_every=1", *SMALL, *extra]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped: no process has this pid now (pids are not reused this quickly)


def _folder_snapshot(run: Path) -> dict[str, object]:
    """What a run leaves: every file's bytes, except the wall-clock fields of log.jsonl and of the provenance
    entries (provenance.json, meta.json: when each start happened), and model.safetensors by
    its tensors and metadata (safetensors writes its metadata keys in a random order, so its bytes and the SHA-256
    meta.json holds for it differ from one write to the next)."""
    out: dict[str, object] = {}
    for path in sorted(run.rglob("*")):
        if path.is_dir():
            continue
        rel = str(path.relative_to(run))
        if path.name == "log.jsonl":
            records = [json.loads(line) for line in path.read_text().splitlines()]
            out[rel] = [{k: v for k, v in r.items() if k not in ("seconds", "data_wait_s")} for r in records]
        elif path.name == "model.safetensors":
            with safe_open(str(path), framework="pt") as f:
                out[rel] = (f.metadata(), {k: f.get_tensor(k).tolist() for k in f.keys()})
        elif path.name == "meta.json" and path.parent.name.startswith("step_"):
            meta = json.loads(path.read_text())
            meta["sha256"].pop("model.safetensors")
            meta["provenance"].pop("time")
            out[rel] = meta
        elif path.name == "provenance.json":
            entries = json.loads(path.read_text())["entries"]
            out[rel] = [{k: v for k, v in e.items() if k != "time"} for e in entries]
        else:
            out[rel] = path.read_bytes()
    return out


# -- the acceptance test ----------------------------------------------------------------------------------------

def test_second_train_on_the_same_out_is_refused_and_the_first_run_is_unaffected(world, tmp_path, capsys,
                                                                                 monkeypatch):
    """While the first run writes its first checkpoint, a second `gazeattn train` on the same --out is started as a
    separate process, then in-process: both are refused at once (exit 1, naming the holder) and write nothing; the
    first run ends with exactly the folder of a run that had no intruder."""
    from gazeattn.train import engine

    alone = tmp_path / "alone"
    assert main(_train_args(world, alone)) == 0
    capsys.readouterr()

    out = tmp_path / "shared"
    intruders: list[tuple[int, str, float]] = []
    real = engine.save_checkpoint

    def save_and_intrude(*args, **kwargs):
        if not intruders:  # the first run holds the lock and has written config.json and part of its log
            before = _folder_snapshot(out)
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            done = subprocess.run([sys.executable, "-m", "gazeattn", *_train_args(world, out)], env=env,
                                  capture_output=True, text=True, timeout=120)
            intruders.append((done.returncode, done.stderr))
            real_layout, opened = engine.open_dataset, []
            monkeypatch.setattr(engine, "open_dataset", lambda *a, **k: opened.append(a) or real_layout(*a, **k))
            code = main(_train_args(world, out, "--resume"))
            intruders.append((code, capsys.readouterr().err))
            assert opened == [], "the intruder read the dataset before it was refused"  # refused at once
            assert _folder_snapshot(out) == before, "an intruder wrote into the run folder"
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "save_checkpoint", save_and_intrude)
    assert main(_train_args(world, out)) == 0
    assert len(intruders) == 2
    for code, err in intruders:
        assert code == 1, err
        assert "Traceback" not in err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith(f"gazeattn train: error: {out}: is being written by pid {os.getpid()} on "
                                   f"{socket.gethostname()} since "), lines[0]
        assert "nothing was written" in lines[0]
    assert not (out / LOCK_NAME).exists()
    assert _folder_snapshot(out) == _folder_snapshot(alone)


# -- release on every exit --------------------------------------------------------------------------------------

def test_lock_is_released_after_a_data_error_and_an_empty_run_folder_is_removed(world, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["train", "--data", str(tmp_path / "no_such_world"), "--out", str(out), "--steps", "1", *SMALL]) == 1
    assert not out.exists()  # the folder made to hold the lock is removed again: nothing was written
    with run_folder_lock(out):  # and nothing blocks the next writer
        pass


def test_lock_is_released_on_ctrl_c(world, tmp_path, monkeypatch, capsys):
    from gazeattn.train import engine

    out = tmp_path / "interrupted"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", interrupt)
    assert main(_train_args(world, out, steps=2)) == 130
    assert not (out / LOCK_NAME).exists()
    with run_folder_lock(out):
        pass


def test_lock_is_held_by_rank_0_only_and_named_in_every_rank(world, tmp_path, monkeypatch):
    """Under torchrun the other ranks do not touch the lock; when rank 0 is refused, every rank stops."""
    from gazeattn.utils.errors import DataError
    from gazeattn.train import distributed, engine

    out = tmp_path / "ranked"
    with run_folder_lock(out):
        monkeypatch.setattr(distributed, "broadcast_object", lambda info, obj: obj)
        with pytest.raises(OutputLocked):
            engine._lock_run_folder(out, distributed.DistInfo(0, 2, 0))
        # rank 1 would receive rank 0's refusal through the broadcast
        monkeypatch.setattr(distributed, "broadcast_object", lambda info, obj: f"{out}: is being written by pid 1")
        with pytest.raises(DataError, match="is being written by pid 1"):
            engine._lock_run_folder(out, distributed.DistInfo(1, 2, 0))
        monkeypatch.setattr(distributed, "broadcast_object", lambda info, obj: obj)
        assert engine._lock_run_folder(out, distributed.DistInfo(1, 2, 0)) is None  # rank 1 takes no lock


# -- stale locks ------------------------------------------------------------------------------------------------

def _stale_lock(folder: Path, pid: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "2020-01-01 00:00:00 +0000",
                                "command": "gazeattn train --out x"}) + "\n")
    return lock


def test_a_stale_lock_of_a_killed_run_is_taken_over_with_one_warning(world, tmp_path, caplog, capsys):
    out = tmp_path / "stale"
    pid = _dead_pid()
    _stale_lock(out, pid)
    assert main(_train_args(world, out, steps=2)) == 0
    warnings = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
    assert len(warnings) == 1 and f"pid {pid}" in warnings[0] and "no longer running" in warnings[0]
    assert not (out / LOCK_NAME).exists()


def test_a_real_sigkill_leaves_a_lock_the_next_run_takes_over(tmp_path, caplog):
    out = tmp_path / "killed"
    child = ("import sys, time; from gazeattn.runs.lock import run_folder_lock\n"
             "with run_folder_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", child, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    with pytest.raises(OutputLocked, match=f"is being written by pid {proc.pid} on "):
        acquire(out / LOCK_NAME, target=out)
    proc.kill()
    proc.wait()
    assert (out / LOCK_NAME).is_file()  # SIGKILL: no chance to clean up
    with run_folder_lock(out):
        pass
    assert any(f"pid {proc.pid}" in r.getMessage() and "stale lock" in r.getMessage() for r in caplog.records)


def test_without_flock_the_exclusive_file_fallback_refuses_and_recovers(tmp_path, monkeypatch, caplog):
    """Filesystems without flock (ENOLCK): O_CREAT|O_EXCL lock files, live holders refused, dead ones recovered."""
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(runlock.fcntl, "flock", no_flock)
    out = tmp_path / "nfs"
    with run_folder_lock(out):
        holder = json.loads((out / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(OutputLocked, match=f"is being written by pid {os.getpid()}"):
            acquire(out / LOCK_NAME, target=out)
    assert not (out / LOCK_NAME).exists()
    pid = _dead_pid()
    _stale_lock(out, pid)
    with run_folder_lock(out):
        pass
    assert any(f"pid {pid}" in r.getMessage() and "stale lock" in r.getMessage() for r in caplog.records)
    lock = _stale_lock(out, os.getpid())  # alive, so not stale
    lock.write_text(lock.read_text().replace(socket.gethostname(), "other-host"))
    with pytest.raises(OutputLocked, match="other-host.*delete the lock file"):
        acquire(out / LOCK_NAME, target=out)


def test_a_holder_whose_pid_is_gone_but_whose_children_hold_the_lock_is_waited_for(tmp_path, monkeypatch):
    """After a SIGKILL the forked DataLoader workers keep the lock a few seconds: wait for them, not refuse."""
    out = tmp_path / "orphans"
    lock_path = _stale_lock(out, _dead_pid())
    fd = os.open(lock_path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a surviving child still holds the lock
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the child exits
            os.close(fd)

    monkeypatch.setattr(runlock.time, "sleep", sleep)
    with run_folder_lock(out):
        pass
    assert len(sleeps) == 3


# -- eval --out and study cells -------------------------------------------------------------------------------

def test_eval_out_is_locked_while_it_is_written(world, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(world, run, steps=2)) == 0
    result = tmp_path / "results" / "r.json"
    with output_file_lock(result):
        capsys.readouterr()
        assert main(["eval", "--run", str(run), "--out", str(result)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"gazeattn eval: error: {result}: is being written by pid {os.getpid()}")
        assert not result.exists()
    assert main(["eval", "--run", str(run), "--out", str(result)]) == 0
    assert json.loads(result.read_text())["n_clips"] > 0
    assert sorted(p.name for p in result.parent.iterdir()) == ["r.json"]  # the lock file is gone


def test_run_folder_lock_is_a_context_manager_for_study_cells(tmp_path):
    cell = tmp_path / "study" / "cell_000"
    with run_folder_lock(cell) as lock:
        assert lock.path == cell / LOCK_NAME and cell.is_dir()
        with pytest.raises(OutputLocked):
            with run_folder_lock(cell):
                pass
        (cell / "result.json").write_text("{}")
    assert sorted(p.name for p in cell.iterdir()) == ["result.json"]
    with pytest.raises(RuntimeError):
        with run_folder_lock(cell):
            raise RuntimeError("a failing cell")
    assert not (cell / LOCK_NAME).exists()
