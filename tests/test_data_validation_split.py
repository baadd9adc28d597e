"""The validation split (training clips held out of training, for tuning without the test split): the choice is a
pure function of the seed with an exact count, disjoint from training and independent of the file's order; the
sessions unit keeps recordings whole; training never reads a held-out clip and evaluates on them; `gazeattn eval
--split-part validation` evaluates exactly them; the study records their metrics and selects each variant's cell
on them; the default (fraction 0) holds out nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gazeattn.cli import main
from gazeattn.data.annotations import SplitEntry
from gazeattn.data.clipnames import ClipName
from gazeattn.data.dataset import EgteaClips
from gazeattn.data.gaze_budget import budget_count, gaze_budget
from gazeattn.data.layout import EgteaLayout
from gazeattn.data.validation_split import validation_split
from gazeattn.study.metrics import metric_label, run_metrics
from gazeattn.study.plan import canonical_config, comparable_config
from gazeattn.study.selection import best_cells, selection_line
from gazeattn.train.config import DataConfig, RunConfig, TrainConfig
from gazeattn.train.splits import read_run_splits
from tinyworld import SMALL, tiny_world


def _entries(sessions: int = 10, per_session: int = 10) -> list[SplitEntry]:
    return [SplitEntry(ClipName(f"P{s:02d}-R01-PastaSalad", 1000 * c, 1000 * c + 900, 30 * c, 30 * c + 24),
                       action=c % 3, verb=0, nouns=(0,), line=s * per_session + c + 1)
            for s in range(sessions) for c in range(per_session)]


def _names(entries) -> set[str]:
    return {e.clip.name for e in entries}


# ------------------------------------------------------------------------------------------- the choice
@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 0.3, 0.5])
def test_the_split_holds_out_exactly_the_rounded_share_and_is_disjoint(fraction):
    entries = _entries()
    split = validation_split(entries, fraction=fraction, unit="clips", seed=0)
    assert len(split.validation) == budget_count(fraction, 100) == round(fraction * 100) == split.held_out_units
    assert not _names(split.train) & _names(split.validation)
    assert _names(split.train) | _names(split.validation) == _names(entries)
    assert list(split.train) == [e for e in entries if e in split.train]  # the split file's order on each side
    assert list(split.validation) == [e for e in entries if e in split.validation]


def test_the_count_rounds_half_up():
    """k = floor(fraction · n + 1/2): 0.5, 2.5 and 4.5 clips of 10 round up (Python's round() would give 0, 2, 4)."""
    entries = _entries(sessions=1, per_session=10)
    fractions = (0.05, 0.15, 0.25, 0.35, 0.45, 0.5)
    assert [len(validation_split(entries, fraction=f, seed=3).validation) for f in fractions] == [1, 2, 3, 4, 5, 5]


def test_the_split_is_a_pure_function_of_the_seed_and_not_of_the_order():
    entries = _entries()
    first = _names(validation_split(entries, fraction=0.2, seed=7).validation)
    shuffled = list(entries)
    random.Random(1).shuffle(shuffled)
    assert _names(validation_split(shuffled, fraction=0.2, seed=7).validation) == first
    assert _names(validation_split(entries, fraction=0.2, seed=7).validation) == first
    others = {frozenset(_names(validation_split(entries, fraction=0.2, seed=s).validation)) for s in range(4)}
    assert first not in others and len(others) == 4
    smaller = _names(validation_split(entries, fraction=0.1, seed=7).validation)
    assert smaller < first  # nested in the fraction
    # not the gaze budget's choice at the same seed and share (its own key)
    assert first != gaze_budget((e.clip for e in entries), fraction=0.2, seed=7).kept


def test_the_sessions_unit_keeps_recordings_whole():
    entries = _entries(sessions=10, per_session=3)
    split = validation_split(entries, fraction=0.3, unit="sessions", seed=0)
    held = {e.clip.session for e in split.validation}
    assert len(held) == 3 == split.held_out_units and split.n_units == 10
    assert not held & {e.clip.session for e in split.train}
    assert len(split.validation) == 9
    assert split.describe() == ("validation: 9 of 30 training clips held out (3 of 10 sessions, 30 %, unit sessions, "
                                "seed 0)")


def test_nothing_is_held_out_at_zero_and_bad_fractions_are_refused():
    entries = _entries(sessions=2, per_session=4)
    none = validation_split(entries, fraction=0.0, unit="sessions", seed=0)
    assert list(none.train) == entries and none.validation == ()
    with pytest.raises(ValueError, match="2 sessions of the training split holds out 0.*larger fraction, or unit"):
        validation_split(entries, fraction=0.1, unit="sessions")
    with pytest.raises(ValueError, match="holds out 1.*leave at least one"):
        validation_split(_entries(sessions=1, per_session=4), fraction=0.5, unit="sessions")
    with pytest.raises(ValueError, match=r"in \[0, 0.5\]"):
        validation_split(entries, fraction=0.6)
    with pytest.raises(ValueError, match="unit"):
        validation_split(entries, fraction=0.2, unit="recordings")


# ------------------------------------------------------------------------------------------- the config
def test_the_config_checks_its_keys_and_names_them():
    with pytest.raises(ValueError, match="data.validation_fraction must be in"):
        DataConfig(validation_fraction=0.7)
    with pytest.raises(ValueError, match="data.validation_unit"):
        DataConfig(validation_unit="recordings")
    with pytest.raises(ValueError, match="data.validation_seed"):
        DataConfig(validation_seed=-1)
    with pytest.raises(ValueError, match="run.eval_on"):
        RunConfig(eval_on="train")
    plain, held = TrainConfig(), TrainConfig(data=DataConfig(validation_fraction=0.2))
    assert plain.eval_parts() == ("test",) and held.eval_parts() == ("validation",)
    assert TrainConfig(data=held.data, run=RunConfig(eval_on="both")).eval_parts() == ("validation", "test")
    assert TrainConfig(data=held.data, run=RunConfig(eval_on="test")).eval_parts() == ("test",)
    with pytest.raises(ValueError, match="run.eval_on = 'validation' needs a validation split"):
        TrainConfig(run=RunConfig(eval_on="validation")).eval_parts()


def test_runs_saved_before_the_validation_keys_are_the_same_recipe(tmp_path):
    older = TrainConfig().to_dict()
    for key in ("validation_fraction", "validation_unit", "validation_seed"):
        del older["data"][key]
    del older["run"]["eval_on"]
    assert canonical_config(older) == TrainConfig().to_dict()
    assert canonical_config(comparable_config(older, tmp_path)) == comparable_config(TrainConfig().to_dict(), tmp_path)


# ------------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("validation") / "egtea", seed=4, sessions=2, clips_per_session=6)


def _held_out(world: Path, fraction: float = 0.3) -> tuple[set[str], set[str]]:
    splits = read_run_splits(EgteaLayout(world), DataConfig(root=str(world), validation_fraction=fraction))
    return _names(splits.train), _names(splits.validation)


class Reads(list):
    """(train, clip name) of every clip a dataset decodes; ``training_sets``: the clip names of every training
    dataset made."""

    def __init__(self):
        super().__init__()
        self.training_sets: list[set[str]] = []


@pytest.fixture
def reads(monkeypatch):
    seen = Reads()
    real_load, real_init = EgteaClips._load, EgteaClips.__init__

    def load(self, index, entry_index, start, epoch):
        seen.append((self.train, self.entries[entry_index].clip.name))
        return real_load(self, index, entry_index, start, epoch)

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        if self.train:
            seen.training_sets.append(_names(self.entries))

    monkeypatch.setattr(EgteaClips, "_load", load)
    monkeypatch.setattr(EgteaClips, "__init__", init)
    return seen


def test_training_never_reads_a_held_out_clip_and_evaluates_on_them(world, tmp_path, reads, capsys):
    train_names, held = _held_out(world)
    n = len(train_names) + len(held)
    assert len(held) == budget_count(0.3, n) > 0
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", "--set", "run.eval_every=2",
                 "--set", "data.validation_fraction=0.3", "--eval", *SMALL]) == 0
    text = capsys.readouterr().out
    assert f"validation: {len(held)} of {n} training clips held out (30 %, unit clips, seed 0)" in text
    trained = {name for train, name in reads if train}
    assert trained and not trained & held and trained <= train_names and reads.training_sets == [train_names]
    assert {name for train, name in reads if not train} == held  # evaluations read the validation clips only
    evals = [r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    assert [(r["step"], r["split"], r["n_clips"]) for r in evals] == [(2, "validation", len(held)),
                                                                     (4, "validation", len(held))]
    assert f"validation: mean class accuracy {evals[-1]['mean_class_accuracy']:.2f} %" in text

    assert main(["eval", "--run", str(out), "--split-part", "validation", "--batch", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["part"] == "validation" and result["n_clips"] == len(held)
    assert result["mean_class_accuracy"] == pytest.approx(evals[-1]["mean_class_accuracy"], abs=1e-9)
    reads.clear()
    assert main(["eval", "--run", str(out), "--json"]) == 0  # the test split, as before
    test = json.loads(capsys.readouterr().out)
    assert test["part"] == "test" and not {name for _, name in reads} & (held | train_names)


def test_eval_on_both_and_the_default_holds_nothing_out(world, tmp_path, reads, capsys):
    train_names, held = _held_out(world)
    out = tmp_path / "both"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", "--set", "run.eval_on=both",
                 "--set", "data.validation_fraction=0.3", "--eval", *SMALL]) == 0
    evals = [r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    assert [r["split"] for r in evals] == ["validation", "test"] and evals[0]["n_clips"] == len(held)
    reads.training_sets.clear()
    capsys.readouterr()
    plain = tmp_path / "plain"
    assert main(["train", "--data", str(world), "--out", str(plain), "--steps", "2", "--eval", *SMALL]) == 0
    assert "validation:" not in capsys.readouterr().out
    assert reads.training_sets == [train_names | held]  # the whole training split, as before
    evals = [r for r in map(json.loads, (plain / "log.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    assert [r["split"] for r in evals] == ["test"]
    assert main(["eval", "--run", str(plain), "--split-part", "validation"]) == 2
    assert "error: the run holds out no validation clips (data.validation_fraction = 0" in capsys.readouterr().err


def test_refusals_name_the_key_and_write_nothing(world, tmp_path, capsys):
    out = tmp_path / "refused"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "1", "--set", "run.eval_on=validation",
                 *SMALL]) == 2
    assert "error: run.eval_on = 'validation' needs a validation split" in capsys.readouterr().err
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "1", "--set",
                 "data.validation_fraction=0.1", "--set", "data.validation_unit=sessions", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "error: data.validation_fraction = 0.1 (data.validation_unit = 'sessions')" in err and "holds out 0" in err
    assert "Traceback" not in err and not (out / "config.json").exists()


# ------------------------------------------------------------------------------------------- the study
def test_the_selection_picks_each_variants_best_cell_on_validation():
    def cell(model, validation, test):
        metrics = {"mean_class_accuracy": {"mean": test, "n": 2}}
        if validation is not None:
            metrics["validation.mean_class_accuracy"] = {"mean": validation, "n": 2}
        return {"model": model, "metrics": metrics}

    aggregates = {"w": {"slow": cell("gaze-direct", 40.0, 70.0), "fast": cell("gaze-direct", 60.0, 50.0),
                        "tie": cell("gaze-direct", 60.0, 10.0), "i3d": cell("i3d", 30.0, 35.0),
                        "untuned": cell("gaze-gumbel", None, 99.0)}}
    rows = best_cells(aggregates)
    assert [(r["model"], r["cell"], r["mean"], r["candidates"], r["test_mean"]) for r in rows] == [
        ("gaze-direct", "fast", 60.0, 3, 50.0), ("i3d", "i3d", 30.0, 1, 35.0)]  # the test split decides nothing
    assert selection_line(rows[0]) == ("[w] gaze-direct: cell fast (mean class accuracy on the validation clips 60.0 "
                                       "over 2 seed(s), best of 3 cell(s); test 50.0)")
    assert run_metrics({"mean_class_accuracy": 10.0, "validation": {"mean_class_accuracy": 20.0}})[
        "validation.mean_class_accuracy"] == 20.0
    assert metric_label("validation.test_gaze.shuffled.mean_class_accuracy") == (
        "mean class accuracy with z shuffled across clips on the validation clips")


STUDY = """
[study]
seeds = [0]
[study.set]
"run.steps" = 2
"run.batch" = 4
"run.log_every" = 1
"run.diagnostics" = false
"clip.crop" = 48
"clip.short_side" = 56
"clip.train_short_side" = [56, 64]
"model.tiny_widths" = [4, 8, 8, 12, 16]
"model.head_channels" = [4, 4]
"data.workers" = 0
"data.validation_fraction" = 0.3
[worlds.tiny]
sessions = 2
clips_per_session = 6
width = 64
height = 48
min_frames = 24
max_frames = 30
[cells.direct-a]
model = "gaze-direct"
set = { "optim.lr" = 0.003 }
[cells.direct-b]
model = "gaze-direct"
set = { "optim.lr" = 0.0003 }
[cells.i3d]
model = "i3d"
"""


def test_the_study_records_validation_metrics_and_selects_on_them(tmp_path, capsys):
    spec = tmp_path / "tune.toml"
    spec.write_text(STUDY)
    out = tmp_path / "out"
    assert main(["study", str(spec), "--out", str(out), "--no-progress", "--select-on", "validation"]) == 0
    printed = capsys.readouterr().out
    evaluation = json.loads((out / "runs" / "tiny" / "direct-a" / "s0" / "eval.json").read_text())
    _, held = _held_out(out / "worlds" / "tiny-s0")
    assert evaluation["validation"]["n_clips"] == len(held) and evaluation["n_clips"] > 0
    report = json.loads((out / "study.json").read_text())
    metrics = report["aggregates"]["tiny"]["direct-a"]["metrics"]
    assert metrics["validation.mean_class_accuracy"]["values"]["0"] == evaluation["validation"]["mean_class_accuracy"]
    chosen = {r["model"]: r for r in report["selection"]}
    assert set(chosen) == {"gaze-direct", "i3d"} and chosen["gaze-direct"]["candidates"] == 2
    means = {c: report["aggregates"]["tiny"][c]["metrics"]["validation.mean_class_accuracy"]["mean"]
             for c in ("direct-a", "direct-b")}
    assert chosen["gaze-direct"]["mean"] == max(means.values()) == means[chosen["gaze-direct"]["cell"]]
    assert "selected on the validation clips:" in printed and "- [tiny] gaze-direct: cell " in printed
    page = (out / "study.md").read_text()
    assert "## Selected on the validation clips" in page and selection_line(chosen["i3d"]) in page
