"""docs/slurm/train.sbatch on the real one-node Slurm: one run of 2 torchrun ranks (gloo, CPU) writes one run
folder with checkpoints and no leftover lock, `gazeattn eval` reads it, and a second job continues it with
--resume."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

import gazeattn
from gazeattn.cli import main
from tinyworld import TRAIN_FLAGS, tiny_world

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "slurm" / "train.sbatch"
# 2 ranks × batch 2 fit the 6 training clips of the tiny world; 1 thread and no DataLoader worker per rank
FLAGS = [*TRAIN_FLAGS, "--batch", "2", "--workers", "0", "--set", "run.threads=1", "--set", "run.checkpoint_every=2",
         "--set", "run.log_every=1"]


def _free_port() -> int:
    with socket.socket() as probe:  # a port that is free now (a fixed one may be taken by another run)
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _job_environment(cluster_env: dict[str, str]) -> dict[str, str]:
    """The venv's torchrun, 2 ranks on the one node, and this checkout's gazeattn (not another installed one)."""
    source = str(Path(gazeattn.__file__).resolve().parents[1])
    return {**cluster_env, "GAZEATTN_TORCHRUN": str(Path(sys.executable).with_name("torchrun")),
            "GAZEATTN_NPROC_PER_NODE": "2", "GAZEATTN_RDZV_PORT": str(_free_port()), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (source, cluster_env.get("PYTHONPATH")) if p)}


def _train_job(cluster, tmp_path: Path, *train_args: str) -> str:
    """Submit train.sbatch on 1 node, no GPU, 2 CPUs; wait for it; its output (stdout and stderr)."""
    job = cluster.submit("--nodes=1", "--gpus-per-node=0", "--cpus-per-task=2", f"--output={tmp_path}/slurm-%j.out",
                         str(SCRIPT), *train_args, cwd=tmp_path, env=_job_environment(cluster.env))
    state = cluster.wait(job, timeout=300)
    output = (tmp_path / f"slurm-{job}.out").read_text()
    assert state == "COMPLETED", output[-4000:]
    return output


def _train_steps(run: Path) -> list[tuple[int, int]]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["world"]) for r in records if r["kind"] == "train"]


def test_two_ranks_train_one_run_folder_that_eval_reads_and_resume_continues(slurm_cluster, tmp_path, capsys):
    world = tiny_world(tmp_path / "egtea", seed=17)
    run = tmp_path / "run"
    common = ["--data", str(world), "--out", str(run), *FLAGS, "--resume"]  # --resume from the first job on

    first = _train_job(slurm_cluster, tmp_path, *common, "--steps", "4")
    assert "1 node(s) x 2 process(es)" in first and f"no checkpoint in {run}: starting from step 0" in first
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["egtea", "run"]
    assert not (run / ".lock").exists()
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000004"
    assert (run / "checkpoints" / "step_0000004" / "model.safetensors").is_file()
    assert _train_steps(run) == [(step, 2) for step in range(1, 5)]

    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_clips"] > 0 and 0 <= result["mean_class_accuracy"] <= 100

    second = _train_job(slurm_cluster, tmp_path, *common, "--steps", "6")
    assert f"resuming from {run / 'checkpoints' / 'step_0000004'} (step 4)" in second
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000006"
    assert _train_steps(run) == [(step, 2) for step in range(1, 7)]
    assert not (run / ".lock").exists()
