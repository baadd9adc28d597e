"""Run a study's grid: write or reuse each world, train each (world, cell, seed) run, evaluate it, keep the results.

Layout of a study folder::

    OUT/.lock                                   one writer per study folder (held for the whole invocation)
    OUT/worlds/<world>-s<seed>/                 a synthetic world per seed (real-data worlds stay where they are)
    OUT/runs/<world>/<cell>/s<seed>/            a training run folder (config.json, log.jsonl, checkpoints/) plus
        cell.json                               what the run is: its world and resolved config (written first)
        eval.json                               the evaluation, with train/eval seconds and cell.json's record
        stdout.txt                              what training printed (the console shows the grid's progress)
        failed.json                             training stopped on a non-finite loss (the run is left out)
    OUT/study.json, OUT/study.md, OUT/plots/    the report (gazeattn.study.report)

A rerun of the same command continues a killed study: a run with ``eval.json`` is reused, a run whose training
finished is only evaluated, a run with checkpoints resumes (``train(..., resume=True)``), the rest train. A run
folder whose recorded world or config differs from the spec's is an error naming the folder, checked for the
whole grid before anything runs: a finished run is never reused for a different recipe. Settings that do not
change results (``data.workers``, ``data.prefetch``, ``run.threads``, ``run.tensorboard``) are not compared.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gazeattn.atomic import write_text_atomic
from gazeattn.errors import DataError
from gazeattn.runlock import run_folder_lock
from gazeattn.study.spec import CellSpec, StudySpec, WorldSpec
from gazeattn.train.checkpoint import list_checkpoints, load_latest
from gazeattn.train.engine import NonFiniteLoss, train

__all__ = ["PlannedRun", "StudyResult", "plan_study", "run_study", "evaluate_run", "training_finished",
           "train_seconds", "comparable_config", "machine_info", "select", "expected_run"]

CELL_FILE, EVAL_FILE, FAILED_FILE, STDOUT_FILE = "cell.json", "eval.json", "failed.json", "stdout.txt"
NOT_COMPARED = (("data", "workers"), ("data", "prefetch"), ("run", "threads"), ("run", "tensorboard"))
# what a run's status means (the plan), and what the invocation then did
PLAN_WORDS = {"reuse": "finished: reused", "evaluate": "trained: evaluate only", "resume": "resume from checkpoint",
              "train": "train", "failed": "failed earlier: skipped (delete failed.json to retry)"}


# ---------------------------------------------------------------------------------------------- run folders


def training_finished(run_dir: str | Path, steps: int) -> bool:
    """Whether ``checkpoints/latest`` names the final step's checkpoint."""
    latest = Path(run_dir) / "checkpoints" / "latest"
    try:
        return latest.is_file() and latest.read_text(encoding="utf-8", errors="replace").strip() == f"step_{steps:07d}"
    except OSError:
        return False


def train_seconds(run_dir: str | Path) -> float | None:
    """Training time as the run logged it: the sum of its train records' ``seconds`` (the last record of each step
    only, so a resumed run counts the steps it kept once). None without a log."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        return None
    by_step: dict[int, float] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        seconds = record.get("seconds") if isinstance(record, dict) and record.get("kind") == "train" else None
        if isinstance(seconds, (int, float)):
            by_step[int(record.get("step", -1))] = float(seconds)
    return sum(by_step.values()) if by_step else None


def evaluate_run(run_dir: str | Path, *, config=None, test_gaze: str = "", workers: int | None = None,
                 batch: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Evaluate a run folder's newest checkpoint on its test split, as training's own end-of-run evaluation does.

    ``config`` (a TrainConfig; default: the one saved in the checkpoint) gives the dataset, split, clip settings,
    seed (for the ``shuffled`` and ``sample`` test-gaze modes) and batch; ``workers``/``batch`` override it.
    Returns :func:`gazeattn.train.evaluate.evaluate`'s result. DataError when the run has no usable checkpoint.
    """
    from gazeattn.data.layout import EgteaLayout
    from gazeattn.train import distributed
    from gazeattn.train.config import from_dict
    from gazeattn.train.evaluate import evaluate

    run_dir = Path(run_dir)
    loaded = load_latest(run_dir, with_state=False)
    if loaded is None:
        raise DataError(run_dir, "has no usable checkpoint to evaluate")
    if config is None:
        config = from_dict(loaded.meta["config"])
    data = config.data
    layout = EgteaLayout(data.root, data.frames_root or None)
    split_path = Path(data.split_dir) / f"test_split{data.split}.txt" if data.split_dir else None
    entries = layout.read_split(data.split, "test", split_path)
    device = distributed.pick_device(config.run.device)
    model = loaded.model.to(device)
    return evaluate(model, layout, entries, config.clip_config(), variant=config.run.model,
                    test_gaze=test_gaze or config.estimator.test_gaze, seed=config.run.seed,
                    batch=batch or config.run.batch, workers=data.workers if workers is None else workers,
                    prefetch=data.prefetch, device=device, on_bad_clip=data.on_bad_clip,
                    class_names=loaded.meta.get("class_names"), progress=progress)


def comparable_config(config: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """A run's config (``TrainConfig.to_dict()``) as compared for reuse: without the settings that do not change
    results, and with a dataset inside the study folder written relative to it (``$STUDY/worlds/...``)."""
    config = copy.deepcopy(config)
    for section, key in NOT_COMPARED:
        if isinstance(config.get(section), dict):
            config[section].pop(key, None)
    data = config.get("data")
    if isinstance(data, dict) and data.get("root"):
        try:
            rel = Path(os.path.abspath(data["root"])).relative_to(os.path.abspath(out))
            data["root"] = f"$STUDY/{rel.as_posix()}"
        except ValueError:
            data["root"] = os.path.abspath(data["root"])
    return config


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(value)"]


def _read_json(path: Path) -> Any:
    """The JSON of ``path``; None when missing; DataError naming it when unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise DataError(path, f"cannot be read as JSON ({err}); delete it to let the study redo this step") from err


# ------------------------------------------------------------------------------------------------- the plan


@dataclass
class PlannedRun:
    """One (world, cell, seed) of the grid: where it goes, its resolved config and what the study will do."""

    world: WorldSpec
    cell: CellSpec
    seed: int
    run_dir: Path
    root: Path
    config: Any  # TrainConfig
    record: dict[str, Any]  # the identity written to cell.json: world and comparable config
    status: str  # reuse | evaluate | resume | train | failed

    @property
    def key(self) -> str:
        return f"{self.world.name}/{self.cell.name}/s{self.seed}"


def world_record(world: WorldSpec, seed: int, root: Path) -> dict[str, Any]:
    if world.synthetic:
        return {"name": world.name, "config": _synth_json(world.synth_config(seed))}
    return {"name": world.name, "data": os.path.abspath(root)}


def _synth_json(config) -> dict[str, Any]:
    if hasattr(config, "to_json"):
        return config.to_json()
    return json.loads(json.dumps(config.__dict__))


def select(spec: StudySpec, only: Sequence[str]) -> list[tuple[WorldSpec, CellSpec]]:
    """The (world, cell) pairs ``only`` names (``WORLD/CELL``, shell wildcards allowed; ``WORLD`` alone = all its
    cells); all of them when ``only`` is empty. ValueError for a pattern that names nothing."""
    names = dict.fromkeys((w.name, c.name) for w, c, _ in spec.grid())
    pairs = [(spec.world(w), spec.cell(c)) for w, c in names]
    if not only:
        return pairs
    chosen = set()
    for pattern in only:
        world_pat, _, cell_pat = pattern.partition("/")
        hits = {(w.name, c.name) for w, c in pairs
                if fnmatch.fnmatchcase(w.name, world_pat) and fnmatch.fnmatchcase(c.name, cell_pat or "*")}
        if not hits:
            raise ValueError(f"--only {pattern}: names no (world, cell) of the study; worlds: "
                             f"{', '.join(w.name for w in spec.worlds)}; cells: {', '.join(spec.cell_names)}")
        chosen |= hits
    return [(w, c) for w, c in pairs if (w.name, c.name) in chosen]


def _check_world(world: WorldSpec, seed: int, root: Path) -> None:
    """A synthetic world folder written with another config, or a missing real dataset: DataError naming it."""
    if not world.synthetic:
        if not root.is_dir():
            raise DataError(root, f"the dataset of world {world.name!r} is not a folder")
        return
    from gazeattn.data.synth import TRUTH_NAME

    truth = root / TRUTH_NAME
    try:
        saved = json.loads(truth.read_text(encoding="utf-8")).get("config") if truth.is_file() else None
    except (ValueError, OSError, AttributeError):
        saved = None  # cut by a kill: the world is written again
    want = _synth_json(world.synth_config(seed))
    if saved is not None and saved != want:
        keys = ", ".join(_differences(saved, want)[:6])
        raise DataError(root, f"was written for world {world.name!r} with other settings ({keys}); delete it and "
                        f"the runs trained on it, or choose another --out (nothing was changed)")


def _status(run: Path, config, record: dict[str, Any], out: Path) -> str:
    """What the study does with ``run``; DataError naming the folder when it holds another recipe's run."""
    saved_record = _read_json(run / CELL_FILE)
    saved_config = _read_json(run / "config.json")
    problems = []
    if saved_record is not None and saved_record != record:
        problems += _differences(saved_record, record)
    if saved_config is not None:  # what training actually used; its dataset path is cell.json's to check, if any
        saved, want = comparable_config(saved_config, out), copy.deepcopy(record["config"])
        if saved_record is not None:
            for side in (saved, want):
                side.get("data", {}).pop("root", None)
        problems += [f"config.{k}" for k in _differences(saved, want)]
    if problems:
        shown = ", ".join(list(dict.fromkeys(problems))[:6])
        raise DataError(run, f"holds a run of another recipe or world (differs in {shown}); delete the folder to "
                             "rerun it with this spec, or choose another --out (nothing was changed)")
    has_eval = (run / EVAL_FILE).is_file()
    if has_eval and saved_record is None and saved_config is None:
        raise DataError(run, f"holds {EVAL_FILE} but neither {CELL_FILE} nor config.json: cannot tell what it "
                             "evaluated; delete the folder to rerun it")
    # an eval.json without this record (written by something else) is redone below: evaluation is deterministic
    evaluation = _read_json(run / EVAL_FILE) if has_eval else None  # unreadable: an error naming it
    if isinstance(evaluation, dict) and evaluation.get("study") == record:
        return "reuse"
    if (run / FAILED_FILE).is_file():
        return "failed"
    if training_finished(run, config.run.steps):
        return "evaluate"
    return "resume" if list_checkpoints(run) else "train"


def expected_run(spec: StudySpec, out: str | Path, world: WorldSpec, cell: CellSpec, seed: int, *,
                 workers: int | None = None) -> tuple[Path, Path, Any, dict[str, Any]]:
    """(run folder, dataset folder, resolved TrainConfig, identity record) of one run of the grid."""
    out = Path(out)
    root = world.root(out, seed)
    config = spec.config(world, cell, seed, root=root, workers=workers)
    record = {"world": world_record(world, seed, root), "cell": cell.name, "model": cell.model, "seed": seed,
              "config": comparable_config(config.to_dict(), out)}
    return out / "runs" / world.name / cell.name / f"s{seed}", root, config, record


def plan_study(spec: StudySpec, out: str | Path, *, only: Sequence[str] = (), workers: int | None = None
               ) -> list[PlannedRun]:
    """Every selected run, in the order it is run (world, then seed, then cell), with what will be done with it.
    Raises DataError (naming the folder) for a run folder or world that belongs to another recipe."""
    out = Path(out)
    chosen = {(w.name, c.name) for w, c in select(spec, only)}
    plan = []
    checked: set[tuple[str, int]] = set()
    for world, cell, seed in spec.grid():
        if (world.name, cell.name) not in chosen:
            continue
        if (world.name, seed) not in checked:
            _check_world(world, seed, world.root(out, seed))
            checked.add((world.name, seed))
        run, root, config, record = expected_run(spec, out, world, cell, seed, workers=workers)
        plan.append(PlannedRun(world, cell, seed, run, root, config, record, _status(run, config, record, out)))
    return plan


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
    import torch

    info = {"platform": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def _ensure_world(world: WorldSpec, seed: int, root: Path, say: Callable[[str], None]) -> None:
    if not world.synthetic:
        return
    from gazeattn.data.synth import TRUTH_NAME, write_synthetic_egtea

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
    """:func:`_execute` from picklable parts (a ``--jobs`` worker process runs this; ``threads`` > 0 sets torch's)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
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
    result["eval_seconds"] = time.perf_counter() - t_eval
    result["train_seconds"] = train_seconds(folder)
    result["wall_seconds"] = time.perf_counter() - t0  # what this invocation spent on the run
    result["study"] = record
    with run_folder_lock(folder):
        write_text_atomic(folder / EVAL_FILE, json.dumps(result, indent=2) + "\n")
    return did, result


def _run_all(todo: list[PlannedRun], *, jobs: int, train_progress: bool, emit: Callable[[str], None], bar,
             result: StudyResult) -> None:
    """Run ``todo`` one after another, or ``jobs`` at a time in worker processes (each with cores/jobs torch
    threads), reporting each finished run."""

    def finished(run: PlannedRun, did: str, evaluation: dict[str, Any] | None) -> None:
        result.done[run.key] = did
        if evaluation is None:
            result.failed.append(run.key)
            emit(f"{run.key}: training stopped on a non-finite loss; left out ({run.run_dir / FAILED_FILE})")
        else:
            emit(f"{run.key}: {did}; mean class accuracy {evaluation['mean_class_accuracy']:.2f} %, overall "
                 f"{evaluation['overall_accuracy']:.2f} % on {evaluation['n_clips']} test clips")
        if bar is not None:
            bar.update(1)

    for run in todo:  # worlds first, in this process (one writer per world folder)
        _ensure_world(run.world, run.seed, run.root, emit)
    if jobs <= 1:
        for run in todo:
            if bar is not None:
                bar.set_description(f"{run.key} ({run.cell.model})")
            finished(run, *_execute(run, train_progress=train_progress))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = max(1, (os.cpu_count() or 1) // jobs)
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
              jobs: int = 1) -> StudyResult:
    """Run the grid of ``spec`` (or the ``only`` subset, see :func:`select`) into the study folder ``out``, then
    write the report of every finished run of the grid (``study.json``, ``study.md``, ``plots/``).

    ``workers``: DataLoader workers of every run (not part of a run's identity). ``jobs``: runs trained at once, in
    worker processes sharing the cores (on 2 cores, 2 jobs with 1 thread and 1 DataLoader worker each train ~30 %
    more runs per hour than 1 job; a run's numbers can differ in the last bits with torch's thread count). ``dry_run``: plan only (nothing is
    written). ``progress``: a bar over the grid; ``train_progress``: nested per-run training bars (default: when
    stderr is a terminal). ``command``: recorded in the report (default ``sys.argv``). ``say``: where lines go.
    Holds ``OUT/.lock`` for the whole call (a second writer gets a DataError naming the holder); a KeyboardInterrupt
    propagates after releasing it, and rerunning continues. A run whose loss becomes non-finite is recorded as
    failed (``failed.json``), left out of the statistics and listed in the report.
    """
    from gazeattn.study.report import write_study_report

    t_start = time.perf_counter()
    out = Path(out)
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
        todo = [r for r in plan if r.status in ("train", "resume", "evaluate")]
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc="study", unit="run", dynamic_ncols=True)
            emit = say or bar.write
        try:
            _run_all(todo, jobs=jobs, train_progress=train_progress, emit=emit, bar=bar, result=result)
        finally:
            if bar is not None:
                bar.close()
        result.seconds = time.perf_counter() - t_start
        write_study_report(result, spec, command=list(command) if command is not None else list(sys.argv),
                           machine=machine_info())
    return result
