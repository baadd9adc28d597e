"""Training end to end on a tiny synthetic world: every variant steps, resume after SIGKILL is exact,
torchrun with 2 processes trains and evaluates, configs reject unknown keys, non-finite losses stop cleanly."""

from __future__ import annotations

import json
import os
import socket
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gazeattn.cli import main
from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.train.config import MODELS, apply_overrides, load_toml, preset
from gazeattn.train.schedules import learning_rate
from tinyworld import SMALL



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "egtea"
    write_synthetic_egtea(root, SynthConfig(sessions=3, clips_per_session=6, seed=5, width=64, height=48,
                                            min_frames=24, max_frames=40))
    return root


def _weights(run: Path) -> dict[str, torch.Tensor]:
    latest = (run / "checkpoints" / "latest").read_text().strip()
    return load_file(str(run / "checkpoints" / latest / "model.safetensors"))


@pytest.mark.parametrize("variant", MODELS)
def test_every_variant_trains_and_evaluates(world, tmp_path, variant, capsys):
    out = tmp_path / variant
    assert main(["train", "--data", str(world), "--model", variant, "--out", str(out), "--steps", "3", *SMALL]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    saved = json.loads((out / "config.json").read_text())
    assert saved["run"]["variant"] == variant and saved["clip"]["crop"] == 48
    capsys.readouterr()
    assert main(["eval", "--run", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"mean_class_accuracy", "overall_accuracy", "n_clips", "gaze"}
    assert 0 <= result["mean_class_accuracy"] <= 100 and result["n_clips"] > 0
    assert (result["gaze"] is None) == (variant == "i3d")
    if variant == "gaze-oracle":
        assert result["test_gaze"] == "measured"


def test_workers_and_the_prefetch_thread_do_not_change_training(world, tmp_path):
    """Batches depend on (seed, step) only: 2 workers read through the prefetch thread give the same weights as
    reading in the loop with no worker, bit for bit."""
    runs = {}
    for workers, prefetch in ((0, 0), (2, 2), (2, 0)):
        out = tmp_path / f"w{workers}p{prefetch}"
        assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", *SMALL, "--workers", str(workers),
                     "--set", f"data.prefetch={prefetch}"]) == 0
        runs[(workers, prefetch)] = _weights(out)
    base = runs[(0, 0)]
    for key, weights in runs.items():
        assert weights.keys() == base.keys()
        assert all(torch.equal(weights[k], base[k]) for k in base), f"workers/prefetch {key} changed training"


def test_the_log_shows_time_spent_waiting_on_slow_data(world, tmp_path, monkeypatch):
    from gazeattn.data.dataset import EgteaClips

    runs = {}
    for delay in (0.0, 0.05):
        if delay:
            read = EgteaClips.__getitem__
            monkeypatch.setattr(EgteaClips, "__getitem__", lambda self, key: (time.sleep(delay), read(self, key))[1])
        out = tmp_path / f"delay{delay}"
        assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", *SMALL,
                     "--set", "run.log_every=2"]) == 0
        runs[delay] = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for delay, records in runs.items():
        train_records = [r for r in records if r["kind"] == "train"]
        assert len(train_records) == 2
        # batch 4, no worker: each step reads 4 clips in the loop, so it waits at least 4 × delay for them
        assert all(4 * delay <= r["data_wait_s"] < r["seconds"] / 2 for r in train_records)
    assert min(r["data_wait_s"] for r in runs[0.05] if r["kind"] == "train") > \
        max(r["data_wait_s"] for r in runs[0.0] if r["kind"] == "train") + 0.15


def test_eval_is_deterministic_and_sample_mode_is_seeded(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", *SMALL]) == 0
    capsys.readouterr()
    runs = []
    for extra in ([], [], ["--test-gaze", "sample", "--seed", "3"], ["--test-gaze", "sample", "--seed", "3"]):
        assert main(["eval", "--run", str(out), "--json", "--full", *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["confusion"] == runs[1]["confusion"]
    assert runs[2]["confusion"] == runs[3]["confusion"] and runs[2]["test_gaze"] == "sample"


def test_existing_run_is_never_overwritten(world, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", *SMALL]) == 0
    before = _weights(out)
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", *SMALL]) == 1
    after = _weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)


def _train_cmd(world: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gazeattn", "train", "--data", str(world), "--out", str(out), "--steps", str(steps),
            "--set", "run.checkpoint_every=3", "--set", "run.log_every=1", *SMALL, *extra]


@pytest.mark.slow
def test_sigkill_then_resume_reaches_the_same_weights(world, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run(_train_cmd(world, full, 12, "--set", "run.threads=1"), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(world, killed, 12, "--set", "run.threads=1"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = killed / "checkpoints" / "latest"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and latest.read_text().strip() in ("step_0000003", "step_0000006"):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert latest.read_text().strip() != "step_0000012"
    subprocess.run(_train_cmd(world, killed, 12, "--resume", "--set", "run.threads=1"), check=True, env=env,
                   capture_output=True)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs from the uninterrupted one"


def test_ctrl_c_stops_quickly_and_names_the_checkpoint_to_resume(world, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "interrupted"
    # a shell starts background jobs with SIGINT ignored; restore the default so the child behaves as in a terminal,
    # in its own process group so that Ctrl-C reaches the trainer and its DataLoader workers alike
    proc = subprocess.Popen(_train_cmd(world, out, 10_000, "--workers", "2"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    latest = out / "checkpoints" / "latest"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not latest.is_file():
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.time()
    err = proc.communicate(timeout=60)[1]
    assert time.time() - t0 < 30
    assert proc.returncode == 130, err[-2000:]
    assert "gazeattn train: interrupted; the newest checkpoint is" in err and "--resume" in err
    assert "Traceback" not in err
    named = err.split("the newest checkpoint is ")[1].split(";")[0]
    assert Path(named).parent == out / "checkpoints" and (Path(named) / "model.safetensors").is_file()


@pytest.mark.slow
def test_torchrun_two_processes_train_and_evaluate(world, tmp_path, capsys):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a port that is free now (a fixed one may be taken by another run)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [str(torchrun), "--nproc_per_node=2", "--master_port", str(port), "-m", "gazeattn",
           "train", "--data", str(world), "--out", str(out), "--steps", "4", "--eval", *SMALL]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "eval" and records[-1]["n_clips"] > 0
    assert sum(r["kind"] == "train" for r in records) >= 1
    assert records[0]["world"] == 2
    capsys.readouterr()
    assert main(["eval", "--run", str(out), "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["n_clips"] == records[-1]["n_clips"]
    assert abs(single["mean_class_accuracy"] - records[-1]["mean_class_accuracy"]) < 1e-6


def test_config_file_and_unknown_keys(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[optim]\nlr = 0.01\nmilestones = [10, 20]\n[run]\nsteps = 7\n")
    config = apply_overrides(preset("cpu"), load_toml(good), str(good))
    assert config.optim.lr == 0.01 and config.optim.milestones == (10, 20) and config.run.steps == 7
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 0.01\n")
    with pytest.raises(ValueError, match=r"bad.toml.*unknown key 'learning_rate'"):
        apply_overrides(preset("cpu"), load_toml(bad), str(bad))
    with pytest.raises(ValueError, match=r"unknown section \[optimizer\]"):
        apply_overrides(preset("cpu"), {"optimizer": {"lr": 1}}, "x")
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "run.nope=1"]) == 2
    assert apply_overrides(preset("cpu"), {"data": {"prefetch": 0}}, "x").data.prefetch == 0
    with pytest.raises(ValueError, match=r"data.workers must be >= -1 \(-1: chosen\) and data.prefetch >= 0"):
        apply_overrides(preset("cpu"), {"data": {"prefetch": -1}}, "x")


def test_reference_preset_and_lr_schedule():
    ref = preset("reference")
    assert (ref.optim.lr, ref.optim.momentum, ref.optim.weight_decay, ref.optim.grad_clip) == (0.032, 0.9, 4e-5, 20.0)
    assert ref.run.steps == 18000 and ref.optim.milestones == (8000, 15000)
    assert learning_rate(0, ref) == pytest.approx(0.032)
    assert learning_rate(7999, ref) == pytest.approx(0.032)
    assert learning_rate(8000, ref) == pytest.approx(0.0032)
    assert learning_rate(15000, ref) == pytest.approx(0.00032)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(world, tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "3",
                 "--set", "run.checkpoint_every=3", *SMALL]) == 0
    before = _weights(out)
    code = main(["train", "--data", str(world), "--out", str(out), "--steps", "6", "--resume",
                 "--set", "optim.lr=1e30", "--set", "optim.grad_clip=1e30", *SMALL])
    err = capsys.readouterr().err
    assert code == 3 and "non-finite loss" in err and "step_0000003" in err
    after = _weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_rebuilding_a_saved_config_leaves_the_saved_dict_unchanged():
    from gazeattn.train.config import from_dict, preset

    saved = preset("reference").to_dict()
    snapshot = json.loads(json.dumps(saved))
    rebuilt = from_dict(saved)
    assert saved == snapshot  # from_dict reads without changing: a second rebuild gives the same config
    assert from_dict(saved) == rebuilt == preset("reference")
