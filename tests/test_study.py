"""`gazeattn study`: the interval arithmetic against hand-computed values, the sentences, spec errors, and a tiny
grid (1 world × 2 cells × 2 seeds, 2 steps) that is run once and then rerun, cut short and changed: only the
missing runs run, a killed run resumes, a run of another recipe is refused."""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path

import pytest

from gazeattn.cli import main
from gazeattn.utils.errors import DataError
from gazeattn.runs.lock import OutputLocked, run_folder_lock
from gazeattn.study import plan, runner
from gazeattn.study.report import run_metrics, summarize_study
from gazeattn.study.spec import DEFAULT_SPEC, CellSpec, StudySpec, WorldSpec, load_spec, quick_spec
from gazeattn.study.stats import T975, paired, sentence, summarize, t_quantile
from gazeattn.train.engine import NonFiniteLoss

# ------------------------------------------------------------------------------------------------ statistics


def _t_cdf_upper_half(t: float, df: int, steps: int = 20000) -> float:
    """P(0 <= T <= t) for Student's t with ``df`` degrees of freedom, by Simpson's rule on the density."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def pdf(x: float) -> float:
        return c * (1 + x * x / df) ** (-(df + 1) / 2)

    h = t / steps
    total = pdf(0) + pdf(t) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return total * h / 3


def test_t_table_holds_the_975_quantiles():
    assert t_quantile(2) == 4.303 and t_quantile(4) == 2.776 and t_quantile(1) == 12.706
    for df in (1, 2, 3, 4, 9, 30, 120):  # each tabulated value leaves 2.5 % in the upper tail (to 3 decimals)
        assert _t_cdf_upper_half(T975[df], df) == pytest.approx(0.475, abs=2e-4), df
    assert t_quantile(35) == T975[30] > t_quantile(40)  # between tabulated df: the wider value
    assert t_quantile(1000) == 1.960
    with pytest.raises(ValueError):
        t_quantile(0)


def test_summary_matches_hand_computation():
    s = summarize([1.0, 2.0, 3.0])  # mean 2, sd 1, half = 4.303 / sqrt(3)
    assert (s.n, s.mean, s.sd) == (3, 2.0, 1.0)
    assert s.half_width == pytest.approx(4.303 / math.sqrt(3)) and s.lo == pytest.approx(2 - 2.484339, abs=1e-6)
    five = summarize([30.0, 32.0, 34.0, 29.0, 31.0])  # mean 31.2, sd sqrt(3.7), half 2.776 * sqrt(3.7) / sqrt(5)
    assert five.mean == pytest.approx(31.2) and five.sd == pytest.approx(math.sqrt(3.7))
    assert five.half_width == pytest.approx(2.38801, abs=1e-5)
    one = summarize([7.5, None, float("nan")])  # None and NaN are left out and not counted
    assert (one.n, one.mean, one.sd, one.half_width, one.lo, one.hi) == (1, 7.5, None, None, None, None)
    assert one.includes_zero() is None and summarize([]).mean is None


def test_paired_differences_use_the_seeds_both_have():
    diff, seeds = paired({0: 10.0, 1: 12.0, 2: 17.0, 3: 50.0}, {0: 7.0, 1: 8.0, 2: 9.0, 4: 1.0})
    assert seeds == [0, 1, 2]  # differences 3, 4, 8: mean 5, sd sqrt(7)
    assert diff.mean == pytest.approx(5.0) and diff.sd == pytest.approx(math.sqrt(7))
    assert diff.half_width == pytest.approx(4.303 * math.sqrt(7) / math.sqrt(3))
    assert diff.lo == pytest.approx(-1.57294, abs=1e-5) and diff.includes_zero()
    none, seeds = paired({0: 1.0}, {1: 2.0})
    assert none.n == 0 and seeds == []


def test_sentences_say_what_the_interval_shows():
    beats, _ = paired({s: v for s, v in enumerate([60, 62, 64, 59, 61])}, {s: 30.0 for s in range(5)})
    assert sentence("gaze-direct", "i3d", beats, "mean class accuracy") == (
        "gaze-direct beats i3d by 31.2 points of mean class accuracy (95 % CI 28.8 to 33.6, 5 seeds).")
    trails, _ = paired({s: 30.0 for s in range(5)}, {s: v for s, v in enumerate([60, 62, 64, 59, 61])})
    assert sentence("a", "b", trails, "overall accuracy").startswith("a trails b by 31.2 points of overall accuracy "
                                                                     "(95 % CI -33.6 to -28.8, 5 seeds)")
    unclear, _ = paired({0: 10.0, 1: 12.0, 2: 17.0}, {0: 7.0, 1: 8.0, 2: 9.0})
    text = sentence("gaze-gumbel", "i3d", unclear, "mean class accuracy")
    assert text == ("gaze-gumbel vs i3d: +5.0 points of mean class accuracy, but the 95 % interval (-1.6 to 11.6, "
                    "3 seeds) includes 0: no difference shown.")
    single = sentence("a", "b", summarize([4.0]), "mean class accuracy")
    assert "1 seed" in single and "no interval" in single and "CI" not in single
    assert "no seed has both" in sentence("a", "b", summarize([]), "mean class accuracy")


def _record(cell: str, model: str, seed: int, mca: float, modes: dict[str, float] | None, gaze: float | None):
    evaluation = {"mean_class_accuracy": mca, "overall_accuracy": mca + 1, "gaze": None,
                  "by_test_gaze": {m: {"mean_class_accuracy": v, "overall_accuracy": v + 1}
                                   for m, v in (modes or {"none": mca}).items()}}
    if gaze is not None:
        evaluation["gaze"] = {"cell_accuracy": gaze, "aae_deg": 10.0, "auc": 0.9, "f1": 0.5}
    return {"world": "w", "cell": cell, "model": model, "seed": seed, "metrics": run_metrics(evaluation),
            "test_gaze": next(iter(modes)) if modes else "none"}


def test_summaries_and_comparisons_of_hand_made_runs():
    spec = StudySpec(seeds=(0, 1, 2), baseline="base", worlds=(WorldSpec("w", fields={"sessions": 2}),),
                     cells=(CellSpec("gaze", "gaze-direct"), CellSpec("base", "i3d")))
    records = [_record("gaze", "gaze-direct", s, v, {"argmax": v, "shuffled": v - d, "uniform": v - 1,
                                                     "measured": v + 2}, 50.0 + s)
               for s, v, d in ((0, 60.0, 20.0), (1, 62.0, 25.0), (2, 64.0, 30.0))]
    records += [_record("base", "i3d", s, v, None, None) for s, v in ((0, 30.0), (1, 31.0), (2, 35.0))]
    aggregates, comparisons = summarize_study(spec, records)
    g = aggregates["w"]["gaze"]
    assert g["test_gaze"] == "argmax" and g["seeds"] == [0, 1, 2]
    assert g["metrics"]["mean_class_accuracy"]["mean"] == pytest.approx(62.0)
    assert g["metrics"]["gaze.cell_accuracy"]["mean"] == pytest.approx(51.0)
    assert "gaze.cell_accuracy" not in aggregates["w"]["base"]["metrics"]
    vs = next(c for c in comparisons if c["kind"] == "baseline" and c["metric"] == "mean_class_accuracy")
    assert vs["mean"] == pytest.approx(30.0) and vs["seeds"] == [0, 1, 2]  # differences 30, 31, 29
    assert vs["half_width"] == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert vs["sentence"] == ("gaze [gaze-direct] beats base [i3d] by 30.0 points of mean class accuracy "
                              "(95 % CI 27.5 to 32.5, 3 seeds).")
    shuffled = next(c for c in comparisons if c.get("mode") == "shuffled" and c["metric"] == "mean_class_accuracy")
    assert shuffled["mean"] == pytest.approx(25.0) and shuffled["sd"] == pytest.approx(5.0)  # primary − shuffled
    measured = next(c for c in comparisons if c.get("mode") == "measured" and c["metric"] == "mean_class_accuracy")
    assert measured["mean"] == pytest.approx(2.0) and measured["sd"] == 0.0  # measured − primary
    assert "the measured gaze as z beats" in measured["sentence"]
    assert not [c for c in comparisons if c.get("cell") == "base" and c["kind"] == "ablation"]  # i3d: no z


# ------------------------------------------------------------------------------------------------------ specs

TINY = """
[study]
seeds = [0, 1]
baseline = "i3d"
[study.set]
"run.steps" = 2
"run.batch" = 4
"run.checkpoint_every" = 1
"run.log_every" = 1
"run.diagnostics" = false
"clip.crop" = 48
"clip.short_side" = 56
"clip.train_short_side" = [56, 64]
"model.tiny_widths" = [4, 8, 8, 12, 16]
"model.head_channels" = [4, 4]
"data.workers" = 0
[worlds.tiny]
sessions = 2
clips_per_session = 4
width = 64
height = 48
min_frames = 24
max_frames = 30
[cells.direct]
model = "gaze-direct"
[cells.i3d]
model = "i3d"
"""


def _spec_file(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("change, expected", [
    (("[cells.i3d]\nmodel = \"i3d\"", "[cells.i3d]\nmodle = \"i3d\""), "[cells.i3d]: unknown key(s) modle"),
    (("[cells.i3d]\nmodel = \"i3d\"", "[cells.i3d]\nmodel = \"resnet\""), "[cells.i3d] model: 'resnet' is not"),
    (("baseline = \"i3d\"", "baseline = \"nope\""), "[study] baseline: 'nope' is not a cell"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), "repeats a seed"),
    (("seeds = [0, 1]", "seed = [0, 1]"), "[study]: unknown key(s) seed"),
    (("[worlds.tiny]", "[world.tiny]"), "unknown table(s) [world]"),
    (("sessions = 2", "sessionz = 2"), "[worlds.tiny]: unknown key(s) sessionz"),
    (("sessions = 2", "sessions = 0"), "[worlds.tiny]: sessions and clips_per_session must be >= 1"),
    (("sessions = 2", "seed = 3"), "[worlds.tiny] seed: a synthetic world's seed is the study's seed"),
    (("sessions = 2", "synth = \"nowhere\""), "[worlds.tiny] synth: unknown world 'nowhere'"),
    (("sessions = 2", "data = \"x\""), "either real data"),
    (("\"data.workers\" = 0", "\"data.workerz\" = 0"), "[study] set: data: unknown key 'workerz'"),
    (("\"data.workers\" = 0", "\"run.seed\" = 3"), "run.seed is set by the study itself"),
    (("[cells.i3d]\nmodel = \"i3d\"", "[cells.i3d]\nmodel = \"i3d\"\nset = { \"optim.lr\" = \"fast\" }"),
     "[cells.i3d] set: optim.lr: cannot use 'fast'"),
    (("[study]", "[study"), "not valid TOML"),
])
def test_spec_errors_name_the_file_and_the_key(tmp_path, change, expected):
    old, new = change
    assert old in TINY
    path = _spec_file(tmp_path, TINY.replace(old, new, 1))
    with pytest.raises(DataError) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value), str(err.value)


def test_spec_reads_flat_or_nested_overrides_and_the_shipped_specs_are_valid(tmp_path):
    spec = load_spec(_spec_file(tmp_path, TINY))
    assert spec.seeds == (0, 1) and spec.cell_names == ("direct", "i3d") and spec.overrides["run.steps"] == 2
    nested = load_spec(_spec_file(tmp_path, TINY.replace("\"run.steps\" = 2", "run = { steps = 2 }"), "n.toml"))
    assert nested.overrides["run.steps"] == 2
    config = spec.config(spec.worlds[0], spec.cell("i3d"), 1, root="R", workers=3)
    assert (config.run.variant, config.run.seed, config.data.root, config.data.workers) == ("i3d", 1, "R", 3)
    assert spec.worlds[0].synth_config(1).seed == 1  # one world per seed
    real = load_spec(_spec_file(tmp_path, TINY.replace("sessions = 2\nclips_per_session = 4\nwidth = 64\n"
                                                       "height = 48\nmin_frames = 24\nmax_frames = 30",
                                                       "data = \"egtea\""), "r.toml"))
    assert real.worlds[0].root("OUT", 3) == tmp_path / "egtea"  # relative to the spec file, the same every seed
    assert load_spec(DEFAULT_SPEC).cells and quick_spec().baseline == "i3d"
    assert len(quick_spec().seeds) == 2 and {c.model for c in quick_spec().cells} == {"gaze-direct", "gaze-gumbel",
                                                                                        "i3d"}


# ------------------------------------------------------------------------------------------------- the grid


REAL_TRAIN, REAL_EVALUATE_RUN = runner.train, runner.evaluate_run


class Counting:
    """Wraps runner.train / runner.evaluate_run and records each call's run folder (and resume flag)."""

    def __init__(self, monkeypatch, fail_at: int | None = None):
        self.trained: list[tuple[str, bool]] = []
        self.evaluated: list[str] = []
        real_train, real_eval = REAL_TRAIN, REAL_EVALUATE_RUN
        this = self

        def train(config, run_dir, *, resume=False, **kw):
            if fail_at is not None and len(this.trained) == fail_at:
                raise KeyboardInterrupt  # as if the study were killed here
            this.trained.append(("/".join(Path(run_dir).parts[-2:]), resume))
            return real_train(config, run_dir, resume=resume, **kw)

        def evaluate_run(run_dir, **kw):
            this.evaluated.append("/".join(Path(run_dir).parts[-2:]))
            return real_eval(run_dir, **kw)

        monkeypatch.setattr(runner, "train", train)
        monkeypatch.setattr(runner, "evaluate_run", evaluate_run)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The tiny grid run once: (spec, study folder, the train calls)."""
    tmp = tmp_path_factory.mktemp("study")
    spec = load_spec(_spec_file(tmp, TINY))
    mp = pytest.MonkeyPatch()
    try:
        calls = Counting(mp)
        result = runner.run_study(spec, tmp / "out", progress=False, command=["gazeattn", "study", "tiny.toml"],
                                  say=lambda _line: None)
    finally:
        mp.undo()
    return spec, tmp / "out", calls, result


def _copy(grid, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(grid[1], out)
    return out


def test_the_grid_trains_every_run_once_and_writes_the_report(grid):
    spec, out, calls, result = grid
    assert calls.trained == [(k, False) for k in ("direct/s0", "i3d/s0", "direct/s1", "i3d/s1")]  # world, seed, cell
    assert calls.evaluated == [k for k, _ in calls.trained]
    report = json.loads((out / "study.json").read_text())
    assert report == result.report and report["format"] == "gazeattn-study-1"
    assert len(report["runs"]) == 4 and not report["missing"] and not report["failed"]
    assert {r["status"] for r in report["runs"]} == {"trained"}
    assert report["machine"]["torch"] and report["command"] == ["gazeattn", "study", "tiny.toml"]
    cells = report["aggregates"]["tiny"]
    assert cells["direct"]["metrics"]["mean_class_accuracy"]["n"] == 2
    assert cells["direct"]["test_gaze"] == "argmax" and "gaze.cell_accuracy" in cells["direct"]["metrics"]
    assert "test_gaze.shuffled.mean_class_accuracy" in cells["direct"]["metrics"]
    kinds = {(c["kind"], c.get("mode")) for c in report["comparisons"] if c["metric"] == "mean_class_accuracy"}
    assert kinds == {("baseline", None), ("ablation", "shuffled"), ("ablation", "uniform"), ("ablation", "measured")}
    for run in report["runs"]:  # each run's evaluation is kept with the record of what it is
        evaluation = json.loads((out / run["run_dir"] / "eval.json").read_text())
        assert evaluation["study"]["seed"] == run["seed"] and evaluation["mean_class_accuracy"] == \
            run["metrics"]["mean_class_accuracy"]
        assert evaluation["study"]["config"]["data"]["root"] == f"$STUDY/worlds/tiny-s{run['seed']}"
    md = (out / "study.md").read_text()
    assert "## World `tiny`" in md and "| `direct` | gaze-direct | argmax | 2 |" in md
    assert "Paired comparisons (mean class accuracy):" in md and "gazeattn study tiny.toml" in md
    curves = report["training_curves"]["tiny"]  # each cell's training accuracy, read from its runs' logs
    assert [line.split(" | ")[0] for line in curves["table"][2:]] == ["| `direct`", "| `i3d`"]
    assert all(line.split(" | ")[1:3] == ["2", "2"] for line in curves["table"][2:])  # 2 seeds, 2 steps
    assert "Training accuracy of each cell" in md and curves["table"][2] in md
    assert not (out / ".lock").exists()
    if report["plots"]:
        png = (out / report["plots"]["tiny"]).read_bytes()
        width, height = struct.unpack(">II", png[16:24])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and width >= 800 and height >= 400
        assert (out / curves["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in report["plots_note"]


def test_a_rerun_reuses_every_finished_run(grid, tmp_path, monkeypatch):
    out = _copy(grid, tmp_path)
    calls = Counting(monkeypatch)
    result = runner.run_study(grid[0], out, progress=False, say=lambda _l: None)
    assert calls.trained == [] and calls.evaluated == []
    assert {r["status"] for r in result.report["runs"]} == {"reused"}
    assert [r.status for r in plan.plan_study(grid[0], out, workers=3)] == ["reuse"] * 4  # workers: not compared


def test_a_killed_study_continues_where_it_stopped(grid, tmp_path, monkeypatch):
    out = _copy(grid, tmp_path)
    (out / "runs/tiny/direct/s1/eval.json").unlink()  # trained, not evaluated: evaluate only
    shutil.rmtree(out / "runs/tiny/i3d/s1")  # never started
    ckpt = out / "runs/tiny/i3d/s0/checkpoints"  # killed between its two checkpoints: resume
    shutil.rmtree(ckpt / "step_0000002")
    (ckpt / "latest").write_text("step_0000001\n")
    (out / "runs/tiny/i3d/s0/eval.json").unlink()
    assert [r.status for r in plan.plan_study(grid[0], out)] == ["reuse", "resume", "evaluate", "train"]

    killed = Counting(monkeypatch, fail_at=1)  # killed when the second training starts
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(grid[0], out, progress=False, say=lambda _l: None)
    assert killed.trained == [("i3d/s0", True)] and killed.evaluated == ["i3d/s0", "direct/s1"]
    assert not (out / ".lock").exists() and not (out / "runs/tiny/i3d/s1/eval.json").exists()
    log = [json.loads(line) for line in (out / "runs/tiny/i3d/s0/log.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in log if r["kind"] == "train") == 2  # the resumed run reached its last step

    calls = Counting(monkeypatch)
    result = runner.run_study(grid[0], out, progress=False, say=lambda _l: None)
    assert calls.trained == [("i3d/s1", False)] and calls.evaluated == ["i3d/s1"]
    status = {(r["cell"], r["seed"]): r["status"] for r in result.report["runs"]}
    assert status == {("direct", 0): "reused", ("i3d", 0): "reused", ("direct", 1): "reused", ("i3d", 1): "trained"}
    assert len(result.report["runs"]) == 4 and not result.report["missing"]


def test_a_run_of_another_recipe_is_refused_not_reused(grid, tmp_path, capsys):
    out = _copy(grid, tmp_path)
    changed = _spec_file(tmp_path, TINY.replace("[cells.i3d]\nmodel = \"i3d\"",
                                                "[cells.i3d]\nmodel = \"i3d\"\nset = { \"optim.lr\" = 0.01 }"))
    before = (out / "runs/tiny/i3d/s0/eval.json").read_bytes()
    assert main(["study", str(changed), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out / "runs/tiny/i3d/s0") in err and "optim.lr" in err
    assert (out / "runs/tiny/i3d/s0/eval.json").read_bytes() == before
    other_world = load_spec(_spec_file(tmp_path, TINY.replace("sessions = 2", "sessions = 3"), "w.toml"))
    with pytest.raises(DataError, match=r"tiny-s0: was written for world 'tiny' with other settings \(sessions\)"):
        plan.plan_study(other_world, out)


def test_one_writer_per_study_folder(grid, tmp_path):
    out = _copy(grid, tmp_path)
    with run_folder_lock(out):
        with pytest.raises(OutputLocked, match="is being written by pid"):
            runner.run_study(grid[0], out, progress=False, say=lambda _l: None)


def test_cli_dry_run_only_and_usage_errors(grid, tmp_path, capsys):
    out = _copy(grid, tmp_path)
    spec = _spec_file(tmp_path, TINY)
    shutil.rmtree(out / "runs/tiny/i3d/s1")
    assert main(["study", str(spec), "--out", str(out), "--dry-run", "--only", "tiny/i3d"]) == 0
    lines = capsys.readouterr().out.splitlines()
    runs = [line for line in lines if line.startswith("tiny/")]
    assert [line.split()[0] for line in runs] == ["tiny/i3d/s0", "tiny/i3d/s1"]
    assert "finished: reused" in runs[0] and runs[1].split()[4] == "train" and lines[-1] == "1 finished, 1 train"
    assert not (out / "runs/tiny/i3d/s1").exists()  # a dry run writes nothing
    assert main(["study", str(spec), "--out", str(out), "--only", "tiny/nothing"]) == 2
    assert "--only tiny/nothing: names no (world, cell)" in capsys.readouterr().err
    assert main(["study", str(spec), "--quick", "--out", str(out)]) == 2
    assert main(["study", str(tmp_path / "missing.toml"), "--out", str(out)]) == 1
    assert "missing.toml: study spec not found" in capsys.readouterr().err


def test_a_diverged_run_is_recorded_left_out_and_not_retried(grid, tmp_path, monkeypatch, capsys):
    out = _copy(grid, tmp_path)
    shutil.rmtree(out / "runs/tiny/i3d/s1")

    def diverges(config, run_dir, **kw):
        raise NonFiniteLoss("non-finite loss at step 1 (ce=nan, kl=1); the last good checkpoint none is intact")

    monkeypatch.setattr(runner, "train", diverges)
    spec = _spec_file(tmp_path, TINY)
    assert main(["study", str(spec), "--out", str(out), "--no-progress"]) == 3
    assert "tiny/i3d/s1 (their failed.json says why" in capsys.readouterr().err
    report = json.loads((out / "study.json").read_text())
    assert report["failed"] == ["tiny/i3d/s1"] and len(report["runs"]) == 3
    assert report["aggregates"]["tiny"]["i3d"]["metrics"]["mean_class_accuracy"]["n"] == 1
    assert "non-finite loss" in json.loads((out / "runs/tiny/i3d/s1/failed.json").read_text())["error"]
    assert "**failed (non-finite loss or weights, left out)**: tiny/i3d/s1" in (out / "study.md").read_text()
    assert [r.status for r in plan.plan_study(grid[0], out)][-1] == "failed"  # not retried by a rerun


def test_cells_and_worlds_can_narrow_the_grid(tmp_path):
    text = TINY.replace("[cells.i3d]\nmodel = \"i3d\"", "[cells.i3d]\nmodel = \"i3d\"\nseeds = [1]") + (
        "[worlds.other]\nsessions = 2\nclips_per_session = 4\nwidth = 64\nheight = 48\nmin_frames = 24\n"
        "max_frames = 30\nseeds = [3]\n[cells.only-other]\nmodel = \"gaze-aux\"\nworlds = [\"other\"]\n")
    spec = load_spec(_spec_file(tmp_path, text))
    grid = [(w.name, c.name, s) for w, c, s in spec.grid()]
    assert grid == [("tiny", "direct", 0), ("tiny", "direct", 1), ("tiny", "i3d", 1),
                    ("other", "direct", 3), ("other", "only-other", 3)]
    planned = plan.plan_study(spec, tmp_path / "out")
    assert [r.key for r in planned] == [f"{w}/{c}/s{s}" for w, c, s in grid]
    assert [r.key for r in plan.plan_study(spec, tmp_path / "out", only=["other"])] == [
        "other/direct/s3", "other/only-other/s3"]
    bad = _spec_file(tmp_path, text.replace('worlds = ["other"]', 'worlds = ["nowhere"]'), "bad.toml")
    with pytest.raises(DataError, match=r"bad.toml.*\[cells.only-other\] worlds: nowhere is not a world"):
        load_spec(bad)
    bad = _spec_file(tmp_path, text.replace("seeds = [3]", "seeds = [3, 3]"), "bad2.toml")
    with pytest.raises(DataError, match=r"\[worlds.other\] seeds: \[3, 3\] repeats a seed"):
        load_spec(bad)


@pytest.mark.slow
def test_jobs_run_the_grid_in_worker_processes_with_the_same_results(grid, tmp_path):
    out = _copy(grid, tmp_path)
    for seed in (0, 1):
        shutil.rmtree(out / f"runs/tiny/direct/s{seed}")
    result = runner.run_study(grid[0], out, progress=False, say=lambda _l: None, jobs=2)
    assert result.done == {"tiny/direct/s0": "trained", "tiny/direct/s1": "trained"}
    for seed in (0, 1):  # 2 steps of a tiny model: the same numbers with one thread per job
        again = json.loads((out / f"runs/tiny/direct/s{seed}/eval.json").read_text())
        first = json.loads((grid[1] / f"runs/tiny/direct/s{seed}/eval.json").read_text())
        assert again["study"] == first["study"]
        assert again["mean_class_accuracy"] == pytest.approx(first["mean_class_accuracy"])


def test_training_diagnostics_average_the_second_half_of_training(tmp_path):
    from gazeattn.study.report import training_diagnostics

    records = [{"kind": "train", "step": s, "decision_z_sensitivity": v, "grad_ratio": 2 * v}
               for s, v in ((10, 9.0), (20, 9.0), (30, 0.2), (40, 0.4))] + [{"kind": "eval", "step": 40}]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    got = training_diagnostics(tmp_path)
    assert got == {"train.decision_z_sensitivity": pytest.approx(0.3), "train.grad_ratio": pytest.approx(0.6)}
    assert training_diagnostics(tmp_path / "missing") == {}


def test_a_world_recorded_before_a_knob_existed_is_the_same_world(grid, tmp_path):
    """Knobs added later default to the world they were written as: records without them are not "another
    recipe" (the world files, the run folders and eval.json all still count)."""
    out = _copy(grid, tmp_path)
    for path in list((out / "runs").rglob("cell.json")) + list((out / "runs").rglob("eval.json")):
        saved = json.loads(path.read_text())
        record = saved if path.name == "cell.json" else saved["study"]
        del record["world"]["config"]["hand"]  # as written before the hand knob
        path.write_text(json.dumps(saved))
    for truth in (out / "worlds").rglob("synth_truth.json"):
        saved = json.loads(truth.read_text())
        del saved["config"]["hand"]
        truth.write_text(json.dumps(saved))
    assert [r.status for r in plan.plan_study(grid[0], out)] == ["reuse"] * 4
    changed = json.loads((out / "runs/tiny/direct/s0/cell.json").read_text())
    changed["world"]["config"]["objects"] = [5, 6]  # a knob that does differ still does
    (out / "runs/tiny/direct/s0/cell.json").write_text(json.dumps(changed))
    with pytest.raises(DataError, match="another recipe or world"):
        plan.plan_study(grid[0], out)


def test_the_report_says_where_the_runs_were_computed_and_flags_a_mix(grid, tmp_path):
    spec, out, _, result = grid
    report = result.report
    origins = report["origins"]
    assert len(origins["fingerprints"]) == 1 and not origins["mixed_floats"] and not origins["mixed_code"]
    (fingerprint, keys), = origins["fingerprints"].items()
    assert sorted(keys) == sorted(f"{r['world']}/{r['cell']}/s{r['seed']}" for r in report["runs"])
    assert "ATen" in fingerprint and report["machine"]["fingerprint"] and report["machine"]["code"]["version"]
    assert "Every run's floats were computed in one environment" in (out / "study.md").read_text()
    # one run trained elsewhere (an edited provenance.json), another by other code: the report names both
    copy = _copy(grid, tmp_path)
    path = copy / "runs/tiny/i3d/s1/provenance.json"
    data = json.loads(path.read_text())
    data["entries"][0]["fingerprint"] = "AMD EPYC, ATen AVX2, oneDNN Intel AVX2, mkl, torch 2.13.0+cpu, 1 thread(s)"
    data["entries"][0]["code"] = {"version": "0.1.0", "commit": "f" * 40, "dirty": True}
    path.write_text(json.dumps(data))
    again = runner.run_study(spec, copy, progress=False, say=lambda _l: None).report
    assert again["origins"]["mixed_floats"] and again["origins"]["mixed_code"] and again["origins"]["dirty"]
    assert again["origins"]["fingerprints"]["AMD EPYC, ATen AVX2, oneDNN Intel AVX2, mkl, torch 2.13.0+cpu, "
                                            "1 thread(s)"] == ["tiny/i3d/s1"]
    md = (copy / "study.md").read_text()
    assert "**The runs were computed in 2 float environments**" in md and "- `AMD EPYC" in md
    assert "**The runs were made by 2 code versions**" in md and "ffffffffff (dirty)" in md


def test_pairs_compare_two_cells_seed_by_seed(tmp_path):
    spec = StudySpec(seeds=(0, 1, 2), baseline="base", pairs=(("a", "b"),), worlds=(WorldSpec("w", fields={"sessions": 2}),),
                     cells=(CellSpec("a", "gaze-direct"), CellSpec("b", "gaze-gumbel"), CellSpec("base", "i3d")))
    records = [_record("a", "gaze-direct", s, v, {"argmax": v}, 50.0) for s, v in ((0, 60.0), (1, 70.0), (2, 65.0))]
    records += [_record("b", "gaze-gumbel", s, v, {"expectation": v}, 50.0) for s, v in ((0, 50.0), (1, 71.0), (2, 60.0))]
    records += [_record("base", "i3d", s, 30.0, None, None) for s in (0, 1, 2)]
    _, comparisons = summarize_study(spec, records)
    pair = next(c for c in comparisons if c["kind"] == "pair" and c["metric"] == "mean_class_accuracy")
    assert (pair["cell"], pair["other"], pair["seeds"]) == ("a", "b", [0, 1, 2])
    assert pair["mean"] == pytest.approx(14.0 / 3) and pair["sd"] == pytest.approx(math.sqrt(91 / 3))  # 10, -1, 5
    assert pair["sentence"].startswith("a [gaze-direct] vs b [gaze-gumbel]: +4.7 points") and "no difference" in \
        pair["sentence"]
    assert spec.to_dict()["pairs"] == [["a", "b"]]
    for bad, message in (('[["a", "zz"]]', "'zz' is not a cell"), ('[["a", "a"]]', "compares a cell with itself"),
                         ('[["a", "b"], ["a", "b"]]', "is there twice"), ('["a"]', "want \\[cell, cell\\] pairs")):
        path = _spec_file(tmp_path, TINY.replace('baseline = "i3d"', f'baseline = "i3d"\npairs = {bad}')
                          .replace("[cells.i3d]", '[cells.a]\nmodel = "gaze-direct"\n[cells.b]\nmodel = "gaze-gumbel"\n[cells.i3d]'))
        with pytest.raises(DataError, match=message):
            load_spec(path)


def test_a_run_saved_before_the_clip_section_lost_its_derived_keys_is_reused(grid, tmp_path):
    """Runs saved with clip.flow / clip.strides / clip.targets (and no model.tiny_strides), as before issue 18.1,
    are the same recipe; a moved key that disagrees with what ran is still another recipe."""
    out = _copy(grid, tmp_path)

    def old_style(config):
        strides = config["model"].pop("tiny_strides")
        config["clip"].update(flow=False, strides=strides, targets={**config["targets"], "reduce": "majority"}
                              if config["targets"]["reduce"] == "majority" else dict(config["targets"]))

    for path in (out / "runs").rglob("*.json"):
        if path.name not in ("cell.json", "eval.json", "config.json"):
            continue
        saved = json.loads(path.read_text())
        config = saved if path.name == "config.json" else (saved if path.name == "cell.json" else saved["study"])
        config = config if path.name == "config.json" else config["config"]
        old_style(config)
        path.write_text(json.dumps(saved))
    assert [r.status for r in plan.plan_study(grid[0], out)] == ["reuse"] * 4
    changed = json.loads((out / "runs/tiny/direct/s0/config.json").read_text())
    changed["clip"]["strides"] = [8, 32, 32]  # the cpu preset's tiny backbone ran with (8, 16, 16)
    (out / "runs/tiny/direct/s0/config.json").write_text(json.dumps(changed))
    with pytest.raises(DataError, match="another recipe or world"):
        plan.plan_study(grid[0], out)
