"""``gazeattn study SPEC --out DIR --run-index I``: train and evaluate run I of the study's plan (in
``--dry-run``'s order) and nothing else, for a plain ``sbatch --array`` script (docs/slurm/study-array.sbatch) with
no dependency beyond gazeattn: each array task runs its run, then ``gazeattn study SPEC --out DIR --report-only``
writes the report. The task holds only its run folder's lock (and, while it writes a missing synthetic world, that
world's), never the study folder's, so the tasks of one study run side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from gazeattn.study.plan import FAILED_FILE, PlannedRun, plan_study
from gazeattn.study.spec import StudySpec

__all__ = ["run_one"]


def run_one(spec: StudySpec, out: str | Path, index: int, *, only: Sequence[str] = (), workers: int | None = None,
            say: Callable[[str], None] = print) -> tuple[PlannedRun, str]:
    """Train (or resume) and evaluate run ``index`` of the plan of ``spec`` in ``out``; (the run, what was done:
    reused / failed earlier / trained / resumed / evaluated / failed). ValueError for an index outside the plan."""
    from gazeattn.study.runner import _ensure_world, _execute, _failure

    plan = plan_study(spec, out, only=only, workers=workers)
    if not 0 <= index < len(plan):
        raise ValueError(f"--run-index {index}: the study has {len(plan)} run(s), indices 0 to {len(plan) - 1} "
                         "(`--dry-run` lists them in this order)")
    run = plan[index]
    if run.status == "reuse":
        say(f"{run.key}: finished earlier; nothing to do")
        return run, "reused"
    if run.status == "failed":
        say(f"{run.key}: failed earlier ({run.run_dir / FAILED_FILE}); delete that file to retry")
        return run, "failed earlier"
    _ensure_world(run.world, run.seed, run.root, say)
    did, evaluation = _execute(run, train_progress=False)
    if evaluation is None:
        say(f"{run.key}: {_failure(run.run_dir)} ({run.run_dir / FAILED_FILE})")
        return run, "failed"
    say(f"{run.key}: {did}; mean class accuracy {evaluation['mean_class_accuracy']:.2f} % on "
        f"{evaluation['n_clips']} test clips")
    return run, did
