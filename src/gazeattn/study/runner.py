"""Run a study's plan (:mod:`gazeattn.study.plan`): write or reuse each world, train each (world, cell, seed) run,
evaluate it, keep the results, and write the report.

A rerun of the same command continues a killed study: a run with ``eval.json`` is reused, a run whose training
finished is only evaluated, a run with checkpoints resumes (``train(..., resume=True)``), the rest train.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gazeattn.runs.checkpoints import load_latest
from gazeattn.runs.lock import run_folder_lock
from gazeattn.study.plan import (
    CELL_FILE, EVAL_FILE, FAILED_FILE, STDOUT_FILE, PlannedRun, _check_world, plan_study, train_seconds)
from gazeattn.study.spec import StudySpec, WorldSpec
from gazeattn.train.engine import NonFiniteLoss, train
from gazeattn.train.parallelism import jobs_threads, usable_cores
from gazeattn.utils.atomic import write_text_atomic
from gazeattn.utils.errors import DataError
from gazeattn.utils.provenance import provenance

__all__ = ["StudyResult", "run_study", "evaluate_run", "machine_info"]


# ---------------------------------------------------------------------------------------------- run folders


def evaluate_run(run_dir: str | Path, *, config=None, test_gaze: str = "", workers: int | None = None,
                 batch: int | None = None, progress: bool = False, part: str = "test") -> dict[str, Any]:
    """Evaluate a run folder's newest checkpoint on its test split (``part`` "validation": on the clips it held
    out of its training split, :mod:`gazeattn.train.splits`), as training's own evaluation does.

    ``config`` (a TrainConfig; default: the one saved in the checkpoint) gives the dataset, split, clip settings,
    seed (for the ``shuffled`` and ``sample`` test-gaze modes) and batch; ``workers``/``batch`` override it.
    Returns :func:`gazeattn.train.evaluate.evaluate_checkpoint`'s result. DataError when the run has no usable
    checkpoint.
    """
    from gazeattn.train.config import from_dict
    from gazeattn.train.evaluate import evaluate_checkpoint

    run_dir = Path(run_dir)
    loaded = load_latest(run_dir, with_state=False)
    if loaded is None:
        raise DataError(run_dir, "has no usable checkpoint to evaluate")
    if config is None:
        config = from_dict(loaded.meta["config"])
    if part == "validation" and config.data.validation_fraction <= 0:
        raise DataError(run_dir, "holds out no validation clips to evaluate (data.validation_fraction = 0)")
    return evaluate_checkpoint(loaded, config, part=part, test_gaze=test_gaze, batch=batch, workers=workers,
                               progress=progress)


# ------------------------------------------------------------------------------------------------- the plan


# ---------------------------------------------------------------------------------------------- execution


@dataclass
class StudyResult:
    """What :func:`run_study` did. ``report`` is the content of ``study.json`` (None for a dry run)."""

    out: Path
    plan: list[PlannedRun]
    done: dict[str, str] = field(default_factory=dict)  # run key -> what this invocation did
    failed: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None
    json_path: Path | None = None
    md_path: Path | None = None
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def machine_info() -> dict[str, Any]:
    """The machine that writes the report: platform, cores, torch, the facts that decide the floats and their
    fingerprint (:mod:`gazeattn.utils.provenance`), the code version, the load average."""
    import torch

    made_by = provenance()
    info = {"platform": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpu": made_by["floats"]["cpu"], "floats": made_by["floats"], "fingerprint": made_by["fingerprint"],
            "code": made_by["code"]}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


@contextlib.contextmanager
def _world_lock(root: Path):
    """Wait for, then hold, ``<root>.lock`` beside a synthetic world's folder: array tasks of one seed (``study
    --run-index``) that all find the world missing write it once, one after another finding it written."""
    import fcntl

    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_world(world: WorldSpec, seed: int, root: Path, say: Callable[[str], None]) -> None:
    if not world.synthetic:
        return
    with _world_lock(root):
        _write_world_if_missing(world, seed, root, say)


def _write_world_if_missing(world: WorldSpec, seed: int, root: Path, say: Callable[[str], None]) -> None:
    from gazeattn.synth import TRUTH_NAME, write_synthetic_egtea

    _check_world(world, seed, root)
    truth = root / TRUTH_NAME
    try:
        if truth.is_file() and json.loads(truth.read_text(encoding="utf-8")).get("config") is not None:
            return  # checked equal above
    except (ValueError, OSError):
        pass
    t0 = time.perf_counter()
    try:
        write_synthetic_egtea(root, world.synth_config(seed), force=root.exists())
    except FileExistsError as err:
        raise DataError(root, str(err)) from err
    say(f"wrote world {world.name} for seed {seed} to {root} ({time.perf_counter() - t0:.1f} s)")


def _execute(run: PlannedRun, *, train_progress: bool) -> tuple[str, dict[str, Any] | None]:
    """Train (or resume) and evaluate one run; returns (what was done, eval.json content or None if it failed)."""
    return _execute_run(run.run_dir, run.status, run.config, run.record, train_progress=train_progress)


def _execute_run(folder: Path, status: str, config, record: dict[str, Any], *, train_progress: bool,
                 threads: int = 0) -> tuple[str, dict[str, Any] | None]:
    """:func:`_execute` from picklable parts (a ``--jobs`` worker process runs this; ``threads`` > 0 sets torch's,
    for training as its ``run.threads`` unless the config sets them)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
        if not config.run.threads:
            config = dataclasses.replace(config, run=dataclasses.replace(config.run, threads=threads))
    t0 = time.perf_counter()
    did = {"train": "trained", "resume": "resumed", "evaluate": "evaluated"}[status]
    if status in ("train", "resume"):
        write_text_atomic(folder / CELL_FILE, json.dumps(record, indent=2) + "\n")
        with open(folder / STDOUT_FILE, "a", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            try:
                train(config, folder, resume=status == "resume", progress=train_progress)
            except NonFiniteLoss as err:
                write_text_atomic(folder / FAILED_FILE, json.dumps({"error": str(err), "record": record},
                                                                   indent=2) + "\n")
                return "failed", None
    elif not (folder / CELL_FILE).is_file():
        write_text_atomic(folder / CELL_FILE, json.dumps(record, indent=2) + "\n")
    t_eval = time.perf_counter()
    result = evaluate_run(folder, config=config)
    if config.data.validation_fraction > 0:  # the held-out clips: what a tuning grid selects on
        result["validation"] = evaluate_run(folder, config=config, part="validation")
    result["provenance"] = provenance()  # evaluation's floats are this process's
    result["eval_seconds"] = time.perf_counter() - t_eval
    result["train_seconds"] = train_seconds(folder)
    result["wall_seconds"] = time.perf_counter() - t0  # what this invocation spent on the run
    result["study"] = record
    with run_folder_lock(folder):
        write_text_atomic(folder / EVAL_FILE, json.dumps(result, indent=2) + "\n")
    return did, result


def _reporter(result: StudyResult, emit: Callable[[str], None], bar) -> Callable[..., None]:
    """The function that records and prints each finished run (evaluation None: it failed; failed.json says why)."""

    def finished(run: PlannedRun, did: str, evaluation: dict[str, Any] | None) -> None:
        result.done[run.key] = did
        if evaluation is None:
            result.failed.append(run.key)
            emit(f"{run.key}: {_failure(run.run_dir)}; left out ({run.run_dir / FAILED_FILE})")
        else:
            held = evaluation.get("validation")
            also = f"; validation {held['mean_class_accuracy']:.2f} % on {held['n_clips']} clips" if held else ""
            emit(f"{run.key}: {did}; mean class accuracy {evaluation['mean_class_accuracy']:.2f} %, overall "
                 f"{evaluation['overall_accuracy']:.2f} % on {evaluation['n_clips']} test clips{also}")
        if bar is not None:
            bar.update(1)

    return finished


def _failure(run_dir: Path) -> str:
    """What a run's failed.json says, in a few words."""
    try:
        return str(json.loads((run_dir / FAILED_FILE).read_text(encoding="utf-8"))["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return "training stopped on a non-finite loss or weights"


def _run_all(todo: list[PlannedRun], *, jobs: int, train_progress: bool, emit: Callable[[str], None], bar,
             result: StudyResult, slurm=None) -> None:
    """Run ``todo`` one after another, or ``jobs`` at a time in worker processes (each with cores/jobs torch
    threads, :func:`jobs_threads`), or as Slurm jobs (``slurm``: a SlurmSettings), reporting each finished run."""
    finished = _reporter(result, emit, bar)
    for run in todo:  # worlds first, in this process (one writer per world folder)
        _ensure_world(run.world, run.seed, run.root, emit)
    if slurm is not None:
        from gazeattn.study.slurm_executor import run_on_slurm

        run_on_slurm(todo, result.out, slurm, finished=finished, emit=emit, bar=bar)
        return
    if jobs <= 1:
        for run in todo:
            if bar is not None:
                bar.set_description(f"{run.key} ({run.cell.model})")
            finished(run, *_execute(run, train_progress=train_progress))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = jobs_threads(usable_cores(), jobs)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(_execute_run, r.run_dir, r.status, r.config, r.record, train_progress=False,
                               threads=threads): r for r in todo}
        if bar is not None:
            bar.set_description(f"{jobs} jobs")
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                finished(pending.pop(future), *future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_study(spec: StudySpec, out: str | Path, *, only: Sequence[str] = (), workers: int | None = None,
              dry_run: bool = False, progress: bool = True, train_progress: bool | None = None,
              command: Sequence[str] | None = None, say: Callable[[str], None] | None = None,
              jobs: int = 1, slurm=None, report_only: bool = False) -> StudyResult:
    """Run the grid of ``spec`` (or the ``only`` subset, see :func:`select`) into the study folder ``out``, then
    write the report of every finished run of the grid (``study.json``, ``study.md``, ``plots/``).

    ``workers``: DataLoader workers of every run (not part of a run's identity). ``jobs``: runs trained at once, in
    worker processes sharing the cores (on 2 cores, 2 jobs with 1 thread and 1 DataLoader worker each train ~30 %
    more runs per hour than 1 job; a run's numbers can differ in the last bits with torch's thread count).
    ``slurm`` (a :class:`~gazeattn.study.slurm_settings.SlurmSettings`): the runs go to Slurm as one job array and
    this call waits for them (:mod:`gazeattn.study.slurm_executor`); ``out`` is made absolute for the jobs.
    ``report_only``: train nothing; write the report of the runs that have finished. ``dry_run``: plan only (nothing is
    written). ``progress``: a bar over the grid; ``train_progress``: nested per-run training bars (default: when
    stderr is a terminal). ``command``: recorded in the report (default ``sys.argv``). ``say``: where lines go.
    Holds ``OUT/.lock`` for the whole call (a second writer gets a DataError naming the holder); a KeyboardInterrupt
    propagates after releasing it, and rerunning continues. A run whose loss becomes non-finite is recorded as
    failed (``failed.json``), left out of the statistics and listed in the report.
    """
    from gazeattn.study.report import write_study_report

    t_start = time.perf_counter()
    out = Path(os.path.abspath(out)) if slurm is not None else Path(out)
    emit = say or print
    plan = plan_study(spec, out, only=only, workers=workers)
    result = StudyResult(out, plan)
    if dry_run:
        return result
    if train_progress is None:
        train_progress = progress and sys.stderr.isatty()
    with run_folder_lock(out):
        plan = plan_study(spec, out, only=only, workers=workers)  # again, now that no one else writes here
        result.plan = plan
        todo = [] if report_only else [r for r in plan if r.status in ("train", "resume", "evaluate")]
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc="study", unit="run", dynamic_ncols=True)
            emit = say or bar.write
        try:
            _run_all(todo, jobs=jobs, train_progress=train_progress, emit=emit, bar=bar, result=result, slurm=slurm)
        finally:
            if bar is not None:
                bar.close()
        result.seconds = time.perf_counter() - t_start
        write_study_report(result, spec, command=list(command) if command is not None else list(sys.argv),
                           machine=machine_info())
    return result
