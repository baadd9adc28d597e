"""Ctrl-C as a terminal sends it: SIGINT to the process group of a real ``python -m gazeattn`` process, at a chosen
moment. Each command must print one line ``gazeattn CMD: interrupted...``, exit 130, show no traceback, and leave
nothing behind that blocks running the same command again.

The moment is chosen by :data:`HANG`, run as the child's ``python -c``: it replaces one function of the package by
one that touches a file (the test's cue to send SIGINT) and then waits in short sleeps, so the signal arrives at a
known place and is acted on whichever of the process's threads the kernel hands it to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gazeattn.cli import main
from test_study import TINY
from tinyworld import SMALL, TRAIN_FLAGS, tiny_world

SRC = Path(__file__).resolve().parents[1] / "src"

# argv[1]: "package.module:function[@N]" (hang at the N-th call, default the first), argv[2]: the cue file; the
# rest is the gazeattn command line. SIGINT gets Python's own handler even where the test runs with it ignored.
HANG = """
import importlib, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)
where, cue, argv = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
target, _, nth = where.partition("@")
module_name, name = target.split(":")
module = importlib.import_module(module_name)
real, calls = getattr(module, name), []
def hang(*args, **kwargs):
    calls.append(1)
    if len(calls) < int(nth or 1):
        return real(*args, **kwargs)
    cue.touch()
    for _ in range(3000):  # short sleeps: a SIGINT that lands on another thread (FFmpeg's, a loader's) only sets
        time.sleep(0.1)    # Python's flag and would not wake one long sleep; between two short ones it raises
setattr(module, name, hang)
from gazeattn.cli import main
sys.exit(main(argv))
"""


def _ctrl_c(tmp_path: Path, where: str, argv: list) -> subprocess.CompletedProcess:
    """Run ``gazeattn ARGV`` in its own process group; send SIGINT to the group once it reaches ``where``."""
    cue = tmp_path / ".cue"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{Path(__file__).parent}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", HANG, where, str(cue), *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not cue.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=5) if proc.poll() is not None else (b"", b"")
                pytest.fail(f"never reached {where} (exit {proc.returncode}): {err.decode()[-2000:]}")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    cue.unlink()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


def _one_line(done: subprocess.CompletedProcess, command: str) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 130 and len(lines) == 1, (done.returncode, done.stderr)
    assert lines[0].startswith(f"gazeattn {command}: interrupted"), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("ctrl_c") / "egtea", seed=7)


@pytest.fixture(scope="module")
def run(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ctrl_c_run") / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "1", *SMALL]) == 0
    return out


def test_train_during_start_up(world, tmp_path):
    """After config.json is written, before the first step: the lock goes and the same command runs again."""
    out = tmp_path / "run"
    argv = ["train", "--data", world, "--out", out, "--steps", "1", *SMALL]
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.train.engine:_train_loader", argv), "train")
    assert line == "gazeattn train: interrupted; no checkpoint had been written yet", line
    assert not (out / ".lock").exists()
    assert main([str(a) for a in argv]) == 0


def test_train_in_the_loop_with_a_dataloader_worker(world, tmp_path):
    """The worker process gets the SIGINT too: still one line, and the checkpoint written so far is named."""
    out = tmp_path / "run"
    argv = ["train", "--data", world, "--out", out, "--steps", "3", "--set", "run.checkpoint_every=1",
            *TRAIN_FLAGS, "--workers", "1"]
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.train.engine:train_step@2", argv), "train")
    assert line == (f"gazeattn train: interrupted; the newest checkpoint is {out / 'checkpoints' / 'step_0000001'}; "
                    "add --resume to continue from it"), line
    assert not (out / ".lock").exists()


def test_study_during_start_up(tmp_path):
    """Under the study's lock, planning the grid: the lock goes (a rerun continues)."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    out = tmp_path / "study"
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.study.runner:plan_study@2", ["study", spec, "--out", out,
                                                                               "--no-progress"]), "study")
    assert "rerun the same command to continue" in line
    assert not (out / ".lock").exists()


def test_eval(run, tmp_path):
    out = tmp_path / "result.json"
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.train.evaluate:evaluate", ["eval", "--run", run, "--out", out]),
                     "eval")
    assert line == "gazeattn eval: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the result nor its lock file


def test_inference_predict(run, world, tmp_path):
    video = sorted((world / "cropped_clips").glob("*/*.mp4"))[0]
    overlay = tmp_path / "overlay.gif"
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.inference.predictor:forward_clips",
                             ["predict", video, "--checkpoint", run, "--overlay", overlay]), "predict")
    assert line == "gazeattn predict: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_gaze_parse(world, tmp_path):
    gaze_file = sorted((world / "gaze_data").glob("*.txt"))[0]
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.cli.gaze:read_begaze_table",
                             ["gaze", "parse", gaze_file, "--out", tmp_path / "gaze.npy"]), "gaze parse")
    assert line == "gazeattn gaze parse: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_synth_leaves_nothing_that_blocks_a_rerun(tmp_path):
    out = tmp_path / "world"
    argv = ["synth", out, "--sessions", "1", "--clips-per-session", "2", "--size", "32x32", "--min-frames", "24",
            "--max-frames", "24"]
    line = _one_line(_ctrl_c(tmp_path, "gazeattn.synth.writer:_write_mp4@2", argv), "synth")
    assert line == "gazeattn synth: interrupted; nothing was left behind"
    assert not out.exists()
    assert main([str(a) for a in argv]) == 0  # the same command again: no --force needed
