"""The real one-node Slurm that `.ci/slurm-cluster start` runs, for the tests marked ``slurm``.

The script keeps its state in ``$GAZEATTN_SLURM_DIR`` (default ``/tmp/gazeattn-slurm``): ``ready`` while the
cluster is up, ``env`` with the variables the Slurm commands need (``SLURM_CONF=...``), ``accounting`` when it runs
slurmdbd too (``start --accounting``: sacct answers), ``skip-reason`` when no cluster could be started on this
machine. :func:`find_cluster` reads them; the ``slurm_cluster`` fixture
(conftest.py) skips with the reason when there is no cluster.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_VARIABLE = "GAZEATTN_SLURM_DIR"
DEFAULT_STATE_DIR = Path("/tmp/gazeattn-slurm")
NOT_RUNNING = "no Slurm cluster running: start one with `.ci/slurm-cluster start` (root and apt needed)"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
            "DEADLINE")


class NoCluster(Exception):
    """Why the tests cannot use a Slurm cluster here (the text the slurm tests skip with)."""


@dataclass(frozen=True)
class SlurmCluster:
    state_dir: Path
    env: dict[str, str]  # os.environ with the cluster's variables (SLURM_CONF): pass it to every Slurm command
    accounting: bool  # slurmdbd runs: sacct knows every job (submitit reads job states with it)

    def command(self, *args: str, cwd: Path | None = None, timeout: float = 30) -> str:
        """Run a Slurm command (sbatch, squeue, scontrol, ...) against this cluster; its stdout."""
        done = subprocess.run(args, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def submit(self, *sbatch_args: str, cwd: Path, env: dict[str, str] | None = None) -> int:
        """``sbatch --parsable ARGS`` from ``cwd`` (with ``env``: the job's environment; by default self.env)."""
        done = subprocess.run(["sbatch", "--parsable", *sbatch_args], env=env or self.env, cwd=cwd,
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(sbatch_args)} exited with {done.returncode}: {done.stderr.strip()}")
        return int(done.stdout.strip().split(";")[0])

    def state(self, job_id: int) -> str:
        """The job's state (PENDING, RUNNING, COMPLETED, FAILED, ...), from ``scontrol show job``, which knows a
        finished job for MinJobAge seconds (120 on this cluster), with or without accounting."""
        fields = dict(word.split("=", 1) for word in
                      self.command("scontrol", "--oneliner", "show", "job", str(job_id)).split() if "=" in word)
        return fields["JobState"]

    def wait(self, job_id: int, *, timeout: float) -> str:
        """Poll until the job has finished; its final state. Cancels it, and raises, after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (state := self.state(job_id)) not in FINISHED:
            if time.monotonic() > deadline:
                self.command("scancel", str(job_id))
                raise TimeoutError(f"Slurm job {job_id} still {state} after {timeout} s: cancelled")
            time.sleep(0.25)
        return state


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_VARIABLE) or DEFAULT_STATE_DIR)


def find_cluster() -> SlurmCluster:
    """The cluster that `.ci/slurm-cluster start` left running, answering; else :class:`NoCluster` saying why."""
    state = state_dir()
    if not (state / "ready").is_file():
        reason = state / "skip-reason"
        raise NoCluster(f"no Slurm cluster here: {reason.read_text().strip()}" if reason.is_file() else NOT_RUNNING)
    variables = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines() if "=" in line)
    cluster = SlurmCluster(state, {**os.environ, **variables}, accounting=(state / "accounting").is_file())
    try:
        cluster.command("sinfo", "--noheader", timeout=10)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        raise NoCluster(f"the Slurm cluster of {state} does not answer ({err}): restart it with "
                        "`.ci/slurm-cluster stop && .ci/slurm-cluster start`") from err
    return cluster
