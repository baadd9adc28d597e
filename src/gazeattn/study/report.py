"""The study's report: per (world, cell) summaries over seeds, paired comparisons, ``study.json``, ``study.md``, plots.

:func:`collect_runs` reads every finished run of the grid (``eval.json`` whose record matches the spec);
:func:`summarize_study` is a pure function of the spec and those run records; :func:`write_study_report` writes

    OUT/study.json        spec, command, machine, per-run results, aggregates, comparisons (with their sentences)
    OUT/study.md          a table per world, the comparisons' sentences, the runs, the command and the machine
    OUT/plots/<world>.png mean class accuracy per cell: mean and 95 % CI, each seed a dot (needs matplotlib)

Metrics of a run (flat keys): ``mean_class_accuracy``, ``overall_accuracy`` (percent), ``gaze.cell_accuracy``
(percent), ``gaze.aae_deg``, ``gaze.auc``, ``gaze.f1`` when the model has a gaze head, and
``test_gaze.<mode>.mean_class_accuracy`` / ``.overall_accuracy`` for every test-time gaze mode the evaluation
computed (the primary first; the ablations ``shuffled``, ``uniform``, ``measured``).
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from gazeattn.atomic import write_text_atomic
from gazeattn.study.spec import StudySpec
from gazeattn.study.stats import Summary, paired, sentence, summarize

__all__ = ["FORMAT", "run_metrics", "metric_label", "collect_runs", "summarize_study", "write_study_report",
           "markdown", "plot_world", "STATISTICS"]

FORMAT = "gazeattn-study-1"
HEADLINE = ("mean_class_accuracy", "overall_accuracy")
GAZE_KEYS = ("cell_accuracy", "aae_deg", "auc", "f1")
ABLATIONS = ("shuffled", "uniform", "measured")
COMPARED = (*HEADLINE, "gaze.cell_accuracy", "gaze.auc", "gaze.f1")  # higher is better (AAE is summarised only)
MODE_WORDS = {"argmax": "its own z (argmax of q)", "expectation": "z = q (expectation)",
              "sample-mean": "z sampled (mean over samples)", "sample": "one sampled z",
              "shuffled": "z shuffled across clips", "uniform": "a uniform z", "measured": "the measured gaze as z",
              "none": "no attention"}
STATISTICS = ("Per cell: mean over seeds, sample standard deviation s (n − 1), and the 95 % confidence interval "
              "mean ± t(0.975, n − 1)·s/√n (Student t; one seed gives no interval). Comparisons are paired by seed "
              "(same seed: same synthetic world and split, same initialisation and batch order): the interval of "
              "the per-seed differences. An interval that includes 0 shows no difference. Ablations are paired "
              "within each run: the same trained model evaluated with its own test-time z and with z replaced.")


# -------------------------------------------------------------------------------------------------- metrics


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def run_metrics(evaluation: Mapping[str, Any]) -> dict[str, float | None]:
    """The flat metrics of one evaluation (see the module docstring)."""
    metrics = {k: _num(evaluation.get(k)) for k in HEADLINE}
    gaze = evaluation.get("gaze")
    if isinstance(gaze, str):
        try:
            gaze = json.loads(gaze)
        except ValueError:
            gaze = None
    if isinstance(gaze, Mapping):
        metrics.update({f"gaze.{k}": _num(gaze.get(k)) for k in GAZE_KEYS if k in gaze})
    for mode, acc in (evaluation.get("by_test_gaze") or {}).items():
        if mode == "none" or not isinstance(acc, Mapping):
            continue
        for k in HEADLINE:
            metrics[f"test_gaze.{mode}.{k}"] = _num(acc.get(k))
    return metrics


def metric_label(key: str) -> str:
    """``test_gaze.shuffled.mean_class_accuracy`` → ``mean class accuracy with z shuffled across clips``."""
    base = {"mean_class_accuracy": "mean class accuracy", "overall_accuracy": "overall accuracy",
            "gaze.cell_accuracy": "gaze cell accuracy", "gaze.aae_deg": "gaze AAE", "gaze.auc": "gaze AUC",
            "gaze.f1": "gaze F1"}
    if key in base:
        return base[key]
    if key.startswith("test_gaze."):
        _, mode, metric = key.split(".", 2)
        return f"{base.get(metric, metric)} with {MODE_WORDS.get(mode, mode)}"
    return key


def _unit(key: str) -> str:
    return "degrees" if key.endswith("aae_deg") else "" if key.endswith(("auc", "f1")) else "points"


# ----------------------------------------------------------------------------------------------- collecting


def collect_runs(spec: StudySpec, out: str | Path, *, done: Mapping[str, str] | None = None
                 ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(records of the finished runs, keys of missing runs, keys of failed runs) over the whole grid of ``spec``.

    A record: ``world``, ``cell``, ``model``, ``seed``, ``run_dir`` (relative to ``out``), ``status`` (what this
    invocation did, per ``done``, else ``reused``), ``metrics`` (:func:`run_metrics`), ``test_gaze`` (the primary
    mode), ``n_clips``, ``gaze``, ``by_test_gaze``, ``train_seconds``, ``eval_seconds``, ``wall_seconds``.
    An ``eval.json`` written for another recipe does not count (the run is missing)."""
    from gazeattn.study.runner import EVAL_FILE, FAILED_FILE, expected_run

    out = Path(out)
    done = done or {}
    records, missing, failed = [], [], []
    for world, cell, seed in spec.grid():
        run, _, _, record = expected_run(spec, out, world, cell, seed)
        key = f"{world.name}/{cell.name}/s{seed}"
        try:
            evaluation = json.loads((run / EVAL_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            evaluation = None
        if not isinstance(evaluation, dict) or evaluation.get("study") != record:
            (failed if (run / FAILED_FILE).is_file() else missing).append(key)
            continue
        records.append({
            "world": world.name, "cell": cell.name, "model": cell.model, "seed": seed,
            "run_dir": run.relative_to(out).as_posix(), "status": done.get(key, "reused"),
            "metrics": run_metrics(evaluation), "test_gaze": evaluation.get("test_gaze"),
            "n_clips": evaluation.get("n_clips"), "gaze": evaluation.get("gaze"),
            "by_test_gaze": evaluation.get("by_test_gaze"),
            **{k: evaluation.get(k) for k in ("train_seconds", "eval_seconds", "wall_seconds")}})
    return records, missing, failed


# ----------------------------------------------------------------------------------------------- statistics


def _name(cell: str, model: str) -> str:
    return cell if cell == model else f"{cell} [{model}]"


def _comparison(world: str, kind: str, a: str, b: str, metric: str, diff: Summary, seeds: list[int],
                **extra: Any) -> dict[str, Any]:
    label = metric_label(metric)
    unit = _unit(metric)
    text = sentence(a, b, diff, label, unit=unit, digits=1 if unit else 3)
    return {"world": world, "kind": kind, "a": a, "b": b, "metric": metric, "label": label, **diff.to_dict(),
            "seeds": seeds, "sentence": text, **extra}


def summarize_study(spec: StudySpec, records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[dict]]:
    """(aggregates, comparisons) of the run records (a pure function).

    ``aggregates[world][cell]`` = ``{"model", "test_gaze", "seeds", "metrics": {key: Summary + "values":
    {seed: value}}}`` for every cell with at least one finished run. ``comparisons``: for every cell other than the
    baseline, the paired difference cell − baseline of each metric of COMPARED both have (``kind``
    "baseline"); for every cell with test-time gaze, within each run: primary − shuffled, primary − uniform and
    measured − primary, of mean class and overall accuracy (``kind`` "ablation", with ``mode``)."""
    aggregates: dict[str, dict[str, Any]] = {}
    comparisons: list[dict[str, Any]] = []
    for world in spec.worlds:
        per_cell: dict[str, Any] = {}
        values: dict[str, dict[str, dict[int, float | None]]] = {}
        for cell in spec.cells:
            rows = [r for r in records if r["world"] == world.name and r["cell"] == cell.name]
            if not rows:
                continue
            keys = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
            values[cell.name] = {k: {r["seed"]: r["metrics"].get(k) for r in rows} for k in keys}
            modes = [r.get("test_gaze") for r in rows if r.get("test_gaze")]
            per_cell[cell.name] = {
                "model": cell.model, "test_gaze": modes[0] if modes else None,
                "seeds": sorted(r["seed"] for r in rows),
                "metrics": {k: {**summarize(list(v.values())).to_dict(), "values": {str(s): x for s, x in v.items()}}
                            for k, v in values[cell.name].items()}}
        aggregates[world.name] = per_cell
        base = spec.baseline
        if base is not None and base in values:
            b_name = _name(base, spec.cell(base).model)
            for cell in spec.cells:
                if cell.name == base or cell.name not in values:
                    continue
                for metric in COMPARED:
                    if metric in values[cell.name] and metric in values[base]:
                        diff, seeds = paired(values[cell.name][metric], values[base][metric])
                        comparisons.append(_comparison(world.name, "baseline", _name(cell.name, cell.model), b_name,
                                                       metric, diff, seeds, cell=cell.name, baseline=base))
        for cell in spec.cells:
            agg = per_cell.get(cell.name)
            primary = agg and agg["test_gaze"]
            if not primary or primary == "none":
                continue
            who = _name(cell.name, cell.model)
            for mode in ABLATIONS:
                if mode == primary:
                    continue
                for metric in HEADLINE:
                    own, other = values[cell.name].get(f"test_gaze.{primary}.{metric}"), \
                        values[cell.name].get(f"test_gaze.{mode}.{metric}")
                    if own is None or other is None:
                        continue
                    first, second = (other, own) if mode == "measured" else (own, other)
                    a_mode, b_mode = (mode, primary) if mode == "measured" else (primary, mode)
                    diff, seeds = paired(first, second)
                    comparisons.append(_comparison(
                        world.name, "ablation", f"{who} with {MODE_WORDS.get(a_mode, a_mode)}",
                        f"{who} with {MODE_WORDS.get(b_mode, b_mode)}", metric, diff, seeds, cell=cell.name,
                        mode=mode, primary=primary))
    return aggregates, comparisons


# ----------------------------------------------------------------------------------------------- writing


def _pm(summary: Mapping[str, Any] | None, digits: int = 1) -> str:
    """``56.8 ± 7.2`` (mean ± 95 % half-width), ``56.8 (1 seed)``, or ``–``."""
    if not summary or summary.get("mean") is None:
        return "–"
    if summary.get("half_width") is None:
        return f"{summary['mean']:.{digits}f} (1 seed)"
    return f"{summary['mean']:.{digits}f} ± {summary['half_width']:.{digits}f}"


def _delta(c: Mapping[str, Any] | None) -> str:
    if not c or c.get("mean") is None:
        return ""
    mean = c["mean"] + 0.0  # no "-0.0"
    if c.get("half_width") is None:
        return f"{mean:+.1f}, 1 seed"
    return f"{mean:+.1f} ± {c['half_width']:.1f}"


def _find(comparisons, **match) -> dict[str, Any] | None:
    return next((c for c in comparisons if all(c.get(k) == v for k, v in match.items())), None)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|")


def markdown(report: Mapping[str, Any]) -> str:
    """study.md from the content of study.json."""
    spec = report["spec"]
    aggregates, comparisons = report["aggregates"], report["comparisons"]
    base = spec.get("baseline")
    lines = [f"# {report.get('title') or 'Study'}", ""]
    lines += [f"Grid: {len(spec['worlds'])} world(s) × {len(spec['cells'])} cell(s) × {len(spec['seeds'])} seed(s) "
              f"({', '.join(map(str, spec['seeds']))}), preset `{spec['preset']}`"
              + (f", common overrides `{json.dumps(spec['set'])}`" if spec["set"] else "")
              + (f"; baseline `{base}`." if base else "; no baseline."),
              f"Finished runs: {len(report['runs'])} of {report['grid_size']}"
              + (f"; missing: {', '.join(report['missing'])}" if report["missing"] else "")
              + (f"; **failed (non-finite loss, left out)**: {', '.join(report['failed'])}" if report["failed"] else "")
              + ".", ""]
    lines += ["Cells: " + "; ".join(f"`{c['name']}` = {c['model']}"
                                    + (f" with `{json.dumps(c['set'])}`" if c["set"] else "")
                                    + (f" (worlds {', '.join(c['worlds'])})" if c.get("worlds") else "")
                                    + (f" (seeds {', '.join(map(str, c['seeds']))})" if c.get("seeds") else "")
                                    for c in spec["cells"]),
              "Worlds: " + "; ".join(f"`{w['name']}`" + (f" (seeds {', '.join(map(str, w['seeds']))})"
                                                         if w.get("seeds") else "") for w in spec["worlds"]), ""]
    for world in spec["worlds"]:
        name = world["name"]
        cells = aggregates.get(name, {})
        lines += [f"## World `{name}`", "", world.get("description", ""), ""]
        if not cells:
            lines += ["No finished run yet.", ""]
            continue
        header = ["cell", "model", "test z", "seeds", "mean class acc (%)", "overall acc (%)", "gaze cell acc (%)"]
        if base:
            header.append(f"Δ mean class vs {base}")
        header += ["z shuffled (Δ)", "uniform z (Δ)", "measured z (Δ)"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * (len(header) - 3)]
        for cell, agg in cells.items():
            m = agg["metrics"]
            row = [f"`{cell}`", agg["model"], agg.get("test_gaze") or "–", str(len(agg["seeds"])),
                   _pm(m.get("mean_class_accuracy")), _pm(m.get("overall_accuracy")), _pm(m.get("gaze.cell_accuracy"))]
            if base:
                c = _find(comparisons, world=name, kind="baseline", cell=cell, metric="mean_class_accuracy")
                row.append("–" if cell == base else (_delta(c) or "–"))
            for mode in ABLATIONS:
                value = m.get(f"test_gaze.{mode}.mean_class_accuracy")
                if agg.get("test_gaze") in (None, "none") or value is None:
                    row.append("–")
                    continue
                c = _find(comparisons, world=name, kind="ablation", cell=cell, mode=mode, metric="mean_class_accuracy")
                shown = _pm(value)
                if c is not None:
                    d = dict(c)
                    if mode != "measured":  # the column shows mode − primary
                        d = {**d, "mean": 0.0 - d["mean"]} if d.get("mean") is not None else d
                    shown += f" ({_delta(d)})"
                elif mode == agg.get("test_gaze"):
                    shown += " (its own)"
                row.append(shown)
            lines.append("| " + " | ".join(_md(x) for x in row) + " |")
        lines += ["", "Mean ± half-width of the 95 % interval over seeds; Δ columns: paired by seed, the ablation's "
                  "minus the cell's own test-time z (a drop is negative).", ""]
        plot = report.get("plots", {}).get(name)
        if plot:
            lines += [f"![{name}]({plot})", ""]
        said = [c for c in comparisons if c["world"] == name and c["metric"] == "mean_class_accuracy"]
        if said:
            lines += ["Paired comparisons (mean class accuracy):", ""]
            lines += [f"- {c['sentence']}" for c in said if c["kind"] == "baseline"]
            lines += [f"- {c['sentence']}" for c in said if c["kind"] == "ablation"]
            lines.append("")
    if report.get("plots_note"):
        lines += [report["plots_note"], ""]
    lines += ["## Runs", "", "| world | cell | seed | mean class (%) | overall (%) | gaze cell (%) | this time | "
              "train s | eval s | folder |", "|---|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in report["runs"]:
        m = r["metrics"]
        cells = [r["world"], r["cell"], r["seed"], _f(m.get("mean_class_accuracy")), _f(m.get("overall_accuracy")),
                 _f(m.get("gaze.cell_accuracy")), r["status"], _f(r.get("train_seconds"), 1),
                 _f(r.get("eval_seconds"), 1), f"`{r['run_dir']}`"]
        lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
    lines += ["", "## How", "", STATISTICS, "", "Command:", "", "```sh", report["command_text"], "```", "",
              f"Machine: {report['machine_text']}. This invocation took {report['wall_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def _f(value: Any, digits: int = 2) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.{digits}f}"


def plot_world(world: str, cells: Mapping[str, Any], path: str | Path) -> Path:
    """Mean class accuracy per cell: mean with the 95 % interval as an error bar, every seed as a dot. Raises
    :class:`gazeattn.plots.PlotsUnavailable` without matplotlib."""
    from gazeattn.plots import _pyplot, _save

    plt = _pyplot()
    names = list(cells)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.5 * len(names) + 2), 5.0))
    for i, name in enumerate(names):
        s = cells[name]["metrics"].get("mean_class_accuracy") or {}
        seeds = [(int(k), v) for k, v in (s.get("values") or {}).items() if _num(v) is not None]
        offsets = [0.0] if len(seeds) == 1 else [-0.18 + 0.36 * j / (len(seeds) - 1) for j in range(len(seeds))]
        ax.scatter([i + o for o in offsets], [v for _, v in seeds], s=22, color="tab:blue", alpha=0.6,
                   zorder=2, label="one seed" if i == 0 else None)
        if s.get("mean") is not None:
            err = [[s["half_width"]], [s["half_width"]]] if s.get("half_width") is not None else None
            ax.errorbar([i], [s["mean"]], yerr=err, fmt="D", color="black", capsize=8, markersize=7, zorder=3,
                        label="mean, 95 % CI" if i == 0 else None)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{n}\n({cells[n]['model']})" if n != cells[n]["model"] else n for n in names])
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(-3, 103)  # dots at 0 or 100 stay visible
    ax.set_xlabel("cell")
    ax.set_ylabel("mean class accuracy on the test split (%)")
    ax.set_title(f"world {world}: mean class accuracy per cell (mean and 95 % CI over seeds; dots: seeds)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _save(fig, path, dpi=120)


def write_study_report(result, spec: StudySpec, *, command: Sequence[str], machine: Mapping[str, Any]) -> None:
    """Write study.json, study.md and the plots for ``result`` (a :class:`gazeattn.study.runner.StudyResult`),
    filling in its ``report``, ``json_path``, ``md_path`` and ``plots``."""
    from gazeattn.plots import PlotsUnavailable, have_matplotlib

    out = Path(result.out)
    records, missing, failed = collect_runs(spec, out, done=result.done)
    aggregates, comparisons = summarize_study(spec, records)
    plots: dict[str, str] = {}
    note = ""
    if have_matplotlib():
        for world, cells in aggregates.items():
            if cells:
                try:
                    path = plot_world(world, cells, out / "plots" / f"{world}.png")
                except PlotsUnavailable as err:  # pragma: no cover - raced with an uninstall
                    note = str(err)
                    break
                plots[world] = path.relative_to(out).as_posix()
                result.plots.append(path)
    else:
        note = ("No plots: matplotlib is not installed (pip install 'gazeattn[report]'); the numbers above are "
                "complete without them.")
    spec_dict = spec.to_dict()
    for world, w in zip(spec.worlds, spec_dict["worlds"]):
        w["description"] = world.describe()
    report = {
        "format": FORMAT, "title": spec.title or f"Study {spec.source}".strip(), "spec": spec_dict,
        "command": list(command), "command_text": shlex.join(command), "machine": dict(machine),
        "machine_text": _machine_text(machine), "torch": machine.get("torch"), "wall_seconds": result.seconds,
        "grid_size": len(spec.grid()), "done": dict(result.done),
        "runs": records, "missing": missing, "failed": failed, "aggregates": aggregates,
        "comparisons": comparisons, "statistics": STATISTICS, "plots": plots, "plots_note": note}
    result.report = report
    result.json_path = write_text_atomic(out / "study.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    result.md_path = write_text_atomic(out / "study.md", markdown(report))


def _machine_text(machine: Mapping[str, Any]) -> str:
    parts = [f"{machine.get('machine')}, {machine.get('cpu_count')} CPU cores",
             f"torch {machine.get('torch')} ({machine.get('torch_threads')} threads)"]
    if machine.get("cuda"):
        parts.append(f"GPU {machine['cuda']}")
    if machine.get("load_average"):
        parts.append(f"load average at the end {machine['load_average'][0]}")
    return ", ".join(parts) + f"; {machine.get('platform')}"
