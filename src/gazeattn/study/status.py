"""``gazeattn study SPEC --out DIR --status``: where each run of a study stands, without running anything: done,
failed (and why), running or queued on Slurm (job id, log), or what a run of the study would do with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gazeattn.study.plan import FAILED_FILE, plan_study
from gazeattn.study.slurm_queue import QUEUED, RUNNING, Ledger, log_paths, queue_states
from gazeattn.study.spec import StudySpec
from gazeattn.utils.errors import DataError

__all__ = ["RunState", "study_status", "format_status"]

_WAITING = {"train": "to train", "resume": "to resume", "evaluate": "to evaluate"}


@dataclass(frozen=True)
class RunState:
    key: str
    state: str  # done | failed | running | queued | to train | to resume | to evaluate
    job_id: str = ""
    log: str = ""
    detail: str = ""


def study_status(spec: StudySpec, out: str | Path, *, only: Sequence[str] = ()) -> tuple[list[RunState], str]:
    """Every selected run's state, and a note on the queue (empty, or why Slurm could not be asked)."""
    plan = plan_study(spec, out, only=only)
    ledger = Ledger(out)
    note = ""
    rows: dict[str, tuple[str, str, str]] = {}
    if ledger.submissions:
        try:
            rows = queue_states(ledger.names())
        except DataError as err:
            note = f"the Slurm queue could not be read ({err}); running and queued runs show as 'to train/resume'"
    jobs = ledger.latest_jobs()
    states = []
    for run in plan:
        job_id = jobs.get(run.key, "")
        log = str(log_paths(out, job_id)[1]) if job_id else ""
        queue_state = rows.get(job_id, ("", "", ""))[0] if job_id else ""
        if run.status == "reuse":
            states.append(RunState(run.key, "done", job_id, log))
        elif run.status == "failed":
            states.append(RunState(run.key, "failed", job_id, log, _why(run.run_dir / FAILED_FILE)))
        elif queue_state in RUNNING:
            states.append(RunState(run.key, "running", job_id, log))
        elif queue_state in QUEUED:
            states.append(RunState(run.key, "queued", job_id, log, rows[job_id][1]))
        else:
            detail = f"its job {job_id} ended ({queue_state or 'gone from the queue'})" if job_id else ""
            states.append(RunState(run.key, _WAITING.get(run.status, run.status), job_id, log, detail))
    return states, note


def _why(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("error", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def format_status(states: list[RunState], note: str = "") -> str:
    """A table (one line per run) and a count per state."""
    width = max((len(s.key) for s in states), default=0)
    lines = []
    for s in states:
        extra = "  ".join(x for x in (f"job {s.job_id}" if s.job_id else "", s.detail,
                                      f"log {s.log}" if s.log and s.state in ("failed", "running") else "") if x)
        lines.append(f"{s.key:<{width}}  {s.state:<11}  {extra}".rstrip())
    order = ("done", "running", "queued", "failed", "to resume", "to evaluate", "to train")
    counts = {o: sum(s.state == o for s in states) for o in order}
    lines.append(f"{len(states)} runs: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n))
    if note:
        lines.append(note)
    return "\n".join(lines)
