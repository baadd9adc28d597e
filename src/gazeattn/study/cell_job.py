"""One run of a study as a Slurm job: submitit pickles a :class:`CellJob` and calls it on a node.

The job decides what to do when it starts, from the run folder as it finds it (:func:`~gazeattn.study.plan.
run_status`), not from what the study command saw when it submitted: a job that Slurm requeues (``scontrol
requeue``, a node failure, preemption, or its time limit, after which submitit calls :meth:`CellJob.checkpoint`)
starts again, finds the checkpoints of its first attempt and resumes from the newest, as a local rerun does.
Resuming is exact (the checkpoint holds the optimizer and every random state), so a requeued run ends with the
weights of an uninterrupted one. The run folder's lock (:mod:`gazeattn.runs.lock`) keeps a second writer out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CellJob"]


@dataclass(frozen=True)
class CellJob:
    """Train (or resume) and evaluate one run folder of a study; returns what it did."""

    out: str  # the study folder (absolute)
    key: str  # WORLD/CELL/sSEED
    run_dir: str  # absolute
    config: Any  # the run's TrainConfig
    record: dict  # the identity the run folder must hold (cell.json)

    def __call__(self) -> str:
        from gazeattn.study.plan import run_status
        from gazeattn.study.runner import _execute_run

        status = run_status(Path(self.run_dir), self.config, self.record, Path(self.out))
        if status in ("reuse", "failed"):
            print(f"{self.key}: already {'finished' if status == 'reuse' else 'failed'}; nothing to do", flush=True)
            return status
        print(f"{self.key}: {status} in {self.run_dir}", flush=True)
        did, evaluation = _execute_run(Path(self.run_dir), status, self.config, self.record, train_progress=False)
        if evaluation is not None:
            print(f"{self.key}: {did}; mean class accuracy {evaluation['mean_class_accuracy']:.2f} %", flush=True)
        else:
            print(f"{self.key}: training stopped on a non-finite loss or weights (failed.json)", flush=True)
        return did

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit when Slurm is about to stop the job (time limit, preemption): requeue the same run;
        its next start resumes from the newest checkpoint."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)
