"""``gazeattn study SPEC --executor slurm``: the study's unfinished runs as one Slurm job array, submitted with
submitit (the optional extra ``gazeattn[slurm]``), then watched until each has its ``eval.json``.

Results come back through the run folders, as with the local executor: the study folder stays the one source of
truth and the report is written from it. The jobs of a submission are listed in ``OUT/slurm/jobs.json``
(:mod:`gazeattn.study.slurm_queue`). A rerun of the study command re-attaches to the runs whose job is still queued
or running and submits only the others, so no run is ever queued twice. A job that ends without a result (it
crashed, a bad setting, ``scancel``) gets a ``failed.json`` naming its Slurm log; the other runs go on, and
deleting that file retries the run. Timed-out or preempted jobs are requeued by submitit and resume from their
newest checkpoint (:class:`~gazeattn.study.cell_job.CellJob`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

from gazeattn.study.cell_job import CellJob
from gazeattn.study.plan import FAILED_FILE, PlannedRun, run_status
from gazeattn.study.slurm_queue import LOGS_NAME, QUEUED, RUNNING, Ledger, log_paths, queue_states
from gazeattn.study.slurm_settings import SlurmSettings
from gazeattn.utils.atomic import write_text_atomic
from gazeattn.utils.errors import DataError

__all__ = ["run_on_slurm", "import_submitit"]

Finished = Callable[[PlannedRun, str, "dict | None"], None]


def import_submitit():
    """The submitit module, or DataError saying how to install it."""
    try:
        import submitit
    except ImportError as err:
        raise DataError("submitit", "is not installed: `pip install 'gazeattn[slurm]'` (or `pip install "
                        "submitit`) to send a study to Slurm") from err
    return submitit


def run_on_slurm(todo: list[PlannedRun], out: Path, settings: SlurmSettings, *, finished: Finished,
                 emit: Callable[[str], None], bar=None, sleep: Callable[[float], None] = time.sleep) -> None:
    """Submit the runs of ``todo`` that have no live job, re-attach to those that have one, and wait until every
    one has finished or failed, calling ``finished(run, did, evaluation)`` for each (evaluation None: failed)."""
    ledger = Ledger(out)
    rows = queue_states(ledger.names())
    for sub in ledger.recover(rows):
        emit(f"found the jobs of an interrupted submission in the queue: {sub.name} ({len(sub.keys)} runs)")
    live = {job_id for job_id, (state, _, _) in rows.items() if state in QUEUED | RUNNING}
    jobs = ledger.latest_jobs()
    watch: dict[str, tuple[PlannedRun, str]] = {}
    fresh = []
    for run in todo:
        job_id = jobs.get(run.key)
        if job_id in live:
            watch[run.key] = (run, job_id)
        elif job_id is not None and job_id not in ledger.outcomes:
            # its job ended while no study command watched, without a result: report it as failed
            _record_failure(run, job_id, rows.get(job_id, ("", "", ""))[0], out, ledger)
            finished(run, "failed", None)
        else:
            fresh.append(run)
    if watch:
        emit(f"re-attached to {len(watch)} run(s) still queued or running on Slurm")
    if fresh:
        watch.update(_submit(fresh, out, settings, ledger, emit))
    _wait(watch, out, settings, ledger, finished=finished, bar=bar, sleep=sleep)


def _submit(runs: list[PlannedRun], out: Path, settings: SlurmSettings, ledger: Ledger,
            emit: Callable[[str], None]) -> dict[str, tuple[PlannedRun, str]]:
    """Send ``runs`` as one job array (one job if there is one run); their job ids go into the ledger."""
    submitit = import_submitit()
    sub = ledger.new_submission([r.key for r in runs])
    try:
        executor = submitit.SlurmExecutor(folder=str(out / LOGS_NAME / "%j"), max_num_timeout=settings.max_requeues,
                                          python=sys.executable)
        executor.update_parameters(**settings.submitit_parameters(sub.name))
        jobs = []
        with executor.batch():
            for run in runs:
                jobs.append(executor.submit(CellJob(str(out), run.key, str(run.run_dir), run.config, run.record)))
        sub.job_ids = [str(job.job_id) for job in jobs]
    except Exception as err:  # sbatch refused (a bad partition, a request no node can meet, ...) or was not found
        ledger.submissions.remove(sub)
        ledger.save()
        text = str(err).strip()
        first = next((line for line in text.splitlines() if "error" in line.lower()), text.splitlines()[-1]
                     if text else type(err).__name__)
        raise DataError("sbatch", f"did not take the study's {len(runs)} run(s): {first.strip()}") from err
    ledger.save()
    array = sub.job_ids[0].split("_")[0]
    emit(f"submitted {len(runs)} run(s) to Slurm as job {array} ({sub.name}); logs in {out / LOGS_NAME}")
    return {run.key: (run, job_id) for run, job_id in zip(runs, sub.job_ids)}


def _record_failure(run: PlannedRun, job_id: str, state: str, out: Path, ledger: Ledger) -> None:
    """A job ended without an ``eval.json``: ``failed.json`` in its run folder naming the job and its log, and the
    outcome in the ledger (so that deleting ``failed.json`` retries the run)."""
    _, err_log = log_paths(out, job_id)
    ended = f"ended ({state})" if state else "is no longer in the queue"
    message = f"Slurm job {job_id} {ended} without a result; its log: {err_log}"
    run.run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.run_dir / FAILED_FILE, json.dumps(
        {"error": message, "record": run.record, "slurm": {"job_id": job_id, "state": state, "log": str(err_log)}},
        indent=2) + "\n")
    ledger.outcomes[job_id] = {"key": run.key, "state": state or "gone", "log": str(err_log), "time": time.time()}
    ledger.save()


def _wait(watch: dict[str, tuple[PlannedRun, str]], out: Path, settings: SlurmSettings, ledger: Ledger, *,
          finished: Finished, bar, sleep: Callable[[float], None]) -> None:
    """Poll the queue until every watched run has finished or failed (the queue is read before the run folders,
    so a job that writes its ``eval.json`` and ends between the two reads is never taken for a failure)."""
    try:
        while watch:
            rows = queue_states(ledger.names())
            counts = {"queued": 0, "running": 0}
            for key, (run, job_id) in list(watch.items()):
                state = rows.get(job_id, ("", "", ""))[0]
                status = run_status(run.run_dir, run.config, run.record, out)
                if status == "reuse":
                    finished(run, "trained on Slurm", _read_eval(run))
                elif status == "failed":
                    finished(run, "failed", None)
                elif state in QUEUED or state in RUNNING:
                    counts["queued" if state in QUEUED else "running"] += 1
                    continue
                else:
                    _record_failure(run, job_id, state, out, ledger)
                    finished(run, "failed", None)
                del watch[key]
            if bar is not None:
                bar.set_postfix(counts, refresh=True)
            if watch:
                sleep(settings.poll_seconds)
    except KeyboardInterrupt:
        names = sorted({sub.name for sub in ledger.submissions})
        print(f"\ngazeattn study: {len(watch)} run(s) are still queued or running on Slurm and go on without this "
              f"command; rerun it to re-attach (jobs in {ledger.path}), or stop them with `scancel --name "
              f"{','.join(names)}`", file=sys.stderr)
        raise


def _read_eval(run: PlannedRun) -> dict:
    from gazeattn.study.plan import EVAL_FILE

    return json.loads((run.run_dir / EVAL_FILE).read_text(encoding="utf-8"))
