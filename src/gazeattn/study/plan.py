"""The plan of a study: which (world, cell, seed) runs there are, where their folders are, and what is to be
done with each -- reuse, evaluate, resume or train -- after checking that every existing run folder and world
belongs to the spec (a run of another recipe is an error naming the folder, never reused).

Layout of a study folder::

    OUT/.lock                                   one writer per study folder (held for the whole invocation)
    OUT/worlds/<world>-s<seed>/                 a synthetic world per seed (real-data worlds stay where they are)
    OUT/runs/<world>/<cell>/s<seed>/            a training run folder (config.json, log.jsonl, checkpoints/) plus
        cell.json                               what the run is: its world and resolved config (written first)
        eval.json                               the evaluation, with train/eval seconds and cell.json's record
        stdout.txt                              what training printed (the console shows the grid's progress)
        failed.json                             training stopped on a non-finite loss or weights (left out)
    OUT/study.json, OUT/study.md, OUT/plots/    the report (gazeattn.study.report)

Settings that do not change results (``data.workers``, ``data.prefetch``, ``run.threads``, ``run.tensorboard``,
``run.diagnose_every_step``, ``run.reuse_memory``) are not compared. Training keys added after a run was saved take
their defaults when it is compared (a default gives the training of before, e.g. ``data.gaze_fraction`` = 1.0), so
an older run is not "another recipe".
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gazeattn.runs.checkpoints import list_checkpoints
from gazeattn.study.spec import CellSpec, StudySpec, WorldSpec
from gazeattn.utils.errors import DataError

__all__ = ["PlannedRun", "plan_study", "run_status", "expected_run", "select", "training_finished", "train_seconds",
           "comparable_config", "world_record", "canonical_record", "canonical_synth", "canonical_config", "PLAN_WORDS", "CELL_FILE",
           "EVAL_FILE", "FAILED_FILE", "STDOUT_FILE"]

CELL_FILE, EVAL_FILE, FAILED_FILE, STDOUT_FILE = "cell.json", "eval.json", "failed.json", "stdout.txt"
NOT_COMPARED = (("data", "workers"), ("data", "prefetch"), ("run", "threads"), ("run", "tensorboard"),
                ("run", "diagnose_every_step"), ("run", "reuse_memory"))
# what a run's status means (the plan), and what the invocation then did
PLAN_WORDS = {"reuse": "finished: reused", "evaluate": "trained: evaluate only", "resume": "resume from checkpoint",
              "train": "train", "failed": "failed earlier: skipped (delete failed.json to retry)"}


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


def canonical_synth(saved: Any) -> Any:
    """A saved SynthConfig dict as today's code writes it: knobs added since it was saved take their defaults,
    which give the world it was written as, draw for draw (so an older world is not "another recipe")."""
    from gazeattn.synth import SynthConfig

    if not isinstance(saved, dict):
        return saved
    try:
        return _synth_json(SynthConfig(**saved))
    except (TypeError, ValueError):
        return saved  # unknown or bad keys: compared as they are, and reported as different


def canonical_config(saved: Any) -> Any:
    """A saved training config dict (``TrainConfig.to_dict()``, whole or comparable) as today's code saves it:
    keys added since it was saved at their defaults, which train as before, and keys moved since (``clip.flow``,
    ``clip.strides``, ``clip.targets``: :func:`gazeattn.train.config.from_dict` reads them) in their new place.
    The settings that are not compared stay absent where they were absent. A dict that does not load is returned
    with only the missing keys filled, so that it is reported as different rather than raising here."""
    from gazeattn.train.config import TrainConfig, from_dict

    if not isinstance(saved, dict):
        return saved
    try:
        out = from_dict(copy.deepcopy(saved)).to_dict()
    except (ValueError, TypeError, KeyError, AttributeError):
        out = copy.deepcopy(saved)
        for section, values in TrainConfig().to_dict().items():
            if isinstance(values, dict) and isinstance(out.get(section), dict):
                for key, value in values.items():
                    if (section, key) not in NOT_COMPARED:
                        out[section].setdefault(key, value)
        return out
    for section, key in NOT_COMPARED:
        if not (isinstance(saved.get(section), dict) and key in saved[section]):
            out.get(section, {}).pop(key, None)
    return out


def canonical_record(record: Any) -> Any:
    """A run's identity record with its world's config (:func:`canonical_synth`) and its training config
    (:func:`canonical_config`) made canonical."""
    if isinstance(record, dict) and "config" in record:
        record = {**record, "config": canonical_config(record["config"])}
    if not isinstance(record, dict) or not isinstance(record.get("world"), dict) or "config" not in record["world"]:
        return record
    return {**record, "world": {**record["world"], "config": canonical_synth(record["world"]["config"])}}


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
    from gazeattn.synth import TRUTH_NAME

    truth = root / TRUTH_NAME
    try:
        saved = json.loads(truth.read_text(encoding="utf-8")).get("config") if truth.is_file() else None
    except (ValueError, OSError, AttributeError):
        saved = None  # cut by a kill: the world is written again
    want = _synth_json(world.synth_config(seed))
    saved = canonical_synth(saved)
    if saved is not None and saved != want:
        keys = ", ".join(_differences(saved, want)[:6])
        raise DataError(root, f"was written for world {world.name!r} with other settings ({keys}); delete it and "
                        f"the runs trained on it, or choose another --out (nothing was changed)")


def run_status(run: Path, config, record: dict[str, Any], out: Path) -> str:
    """What the study does with ``run``; DataError naming the folder when it holds another recipe's run."""
    saved_record = canonical_record(_read_json(run / CELL_FILE))
    saved_config = _read_json(run / "config.json")
    problems = []
    if saved_record is not None and saved_record != record:
        problems += _differences(saved_record, record)
    if saved_config is not None:  # what training actually used; its dataset path is cell.json's to check, if any
        saved, want = comparable_config(canonical_config(saved_config), out), copy.deepcopy(record["config"])
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
    if isinstance(evaluation, dict) and canonical_record(evaluation.get("study")) == record:
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
        plan.append(PlannedRun(world, cell, seed, run, root, config, record, run_status(run, config, record, out)))
    return plan
