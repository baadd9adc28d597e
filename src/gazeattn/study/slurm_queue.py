"""What a study sent to Slurm, and what Slurm says of it now.

The ledger ``OUT/slurm/jobs.json`` keeps every submission: a random job name, the runs it holds (in array order)
and, once ``sbatch`` answered, their job ids. A submission is written before ``sbatch`` runs, so a study command
killed in between finds its jobs again by their name in the queue. It also keeps the outcome the study noticed for
each job that ended without a result (a crash, a bad setting, ``scancel``), so that deleting the run's
``failed.json`` retries it. The queue is read with ``squeue`` (no accounting database needed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from gazeattn.utils.atomic import write_text_atomic
from gazeattn.utils.errors import DataError

__all__ = ["Ledger", "Submission", "QUEUED", "RUNNING", "queue_states", "log_paths", "LEDGER_NAME", "LOGS_NAME"]

LEDGER_NAME = "slurm/jobs.json"
LOGS_NAME = "slurm/logs"  # submitit's folder: slurm/logs/<job id>/<job id>_0_log.{out,err}
# squeue's job states that will still run (the rest have ended: COMPLETED, FAILED, CANCELLED, TIMEOUT, ...)
QUEUED = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESV_DEL_HOLD"})
RUNNING = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"})


@dataclass
class Submission:
    """One ``sbatch`` of the study: its job name, the run keys it holds and their job ids (None until known)."""

    name: str
    keys: list[str]
    job_ids: list[str] | None = None
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "keys": self.keys, "job_ids": self.job_ids, "time": self.time}


class Ledger:
    """``OUT/slurm/jobs.json``: the study's submissions and the outcomes it noticed. Only the study command that
    holds ``OUT/.lock`` writes it."""

    def __init__(self, out: str | Path) -> None:
        self.path = Path(out) / LEDGER_NAME
        self.submissions: list[Submission] = []
        self.outcomes: dict[str, dict[str, Any]] = {}  # job id -> what the study noticed when it ended
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.submissions = [Submission(s["name"], list(s["keys"]), s.get("job_ids"), s.get("time", 0.0))
                                    for s in data.get("submissions", [])]
                self.outcomes = dict(data.get("outcomes", {}))
            except (ValueError, OSError, KeyError, TypeError, AttributeError) as err:
                raise DataError(self.path, f"cannot be read ({err}); it lists the study's Slurm jobs: check "
                                "`squeue` for jobs named gazeattn-… before deleting it") from err

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"submissions": [s.to_json() for s in self.submissions], "outcomes": self.outcomes}
        write_text_atomic(self.path, json.dumps(data, indent=2) + "\n")

    def new_submission(self, keys: list[str]) -> Submission:
        """Record a submission of ``keys`` before it is sent (saved at once)."""
        sub = Submission(f"gazeattn-{uuid.uuid4().hex[:12]}", list(keys))
        self.submissions.append(sub)
        self.save()
        return sub

    def names(self) -> list[str]:
        return [s.name for s in self.submissions]

    def latest_jobs(self) -> dict[str, str]:
        """Run key -> the job id of its newest submission (submissions whose ids are not known are skipped)."""
        out: dict[str, str] = {}
        for sub in self.submissions:
            for key, job_id in zip(sub.keys, sub.job_ids or ()):
                out[key] = job_id
        return out

    def recover(self, rows: dict[str, tuple[str, str, str]]) -> list[Submission]:
        """Submissions whose ids were never written (the study command was killed while ``sbatch`` ran): their
        ids from the queue by job name, array task ``i`` = key ``i``. Those still unknown are dropped (never
        queued, or ended and gone from the queue; their runs show in their folders). Returns the recovered ones."""
        recovered, kept = [], []
        for sub in self.submissions:
            if sub.job_ids is not None:
                kept.append(sub)
                continue
            tasks = {job_id: name for job_id, (_, _, name) in rows.items() if name == sub.name}
            if not tasks:
                continue
            base = next(iter(tasks)).split("_")[0]
            sub.job_ids = [f"{base}_{i}" for i in range(len(sub.keys))] if len(sub.keys) > 1 else [base]
            kept.append(sub)
            recovered.append(sub)
        if len(kept) != len(self.submissions) or recovered:
            self.submissions = kept
            self.save()
        return recovered


def queue_states(names: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """Job id (``1234`` or ``1234_5`` for an array task) -> (state, reason, job name) of the study's jobs that
    Slurm still lists, finished ones included while it keeps them. DataError when squeue cannot be asked."""
    names = sorted(set(names))
    if not names:
        return {}
    squeue = shutil.which("squeue")
    if squeue is None:
        raise DataError("squeue", "not found: this study has Slurm jobs (slurm/jobs.json) and their state can only "
                        "be read on a machine of the cluster")
    cmd = [squeue, "--noheader", "--array", "--states=all", f"--name={','.join(names)}", "--format=%i|%T|%r|%j"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DataError("squeue", f"failed: {err}") from err
    if done.returncode != 0:
        first = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[0]
        raise DataError("squeue", f"failed: {first}")
    rows: dict[str, tuple[str, str, str]] = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0]:
            rows[parts[0]] = (parts[1].split()[0] if parts[1] else "", parts[2], parts[3])
    return rows


def log_paths(out: str | Path, job_id: str) -> tuple[Path, Path]:
    """(stdout, stderr) of a job's first task, where submitit writes them."""
    folder = Path(out) / LOGS_NAME / job_id
    return folder / f"{job_id}_0_log.out", folder / f"{job_id}_0_log.err"
