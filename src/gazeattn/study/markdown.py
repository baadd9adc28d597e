"""The study's pages: ``study.md`` from the content of ``study.json`` (a table per world, the paired comparisons'
sentences, the runs, the command and the machine), and one plot per world (mean class accuracy per cell with its
95 % interval, each seed a dot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from gazeattn.study.metrics import ABLATIONS, STATISTICS, _num
from gazeattn.study.selection import selection_line

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
    base = spec.get("baseline")
    lines = [f"# {report.get('title') or 'Study'}", ""]
    lines += [f"Grid: {len(spec['worlds'])} world(s) × {len(spec['cells'])} cell(s) × {len(spec['seeds'])} seed(s) "
              f"({', '.join(map(str, spec['seeds']))}), preset `{spec['preset']}`"
              + (f", common overrides `{json.dumps(spec['set'])}`" if spec["set"] else "")
              + (f"; baseline `{base}`." if base else "; no baseline."),
              f"Finished runs: {len(report['runs'])} of {report['grid_size']}"
              + (f"; missing: {', '.join(report['missing'])}" if report["missing"] else "")
              + (f"; **failed (non-finite loss or weights, left out)**: {', '.join(report['failed'])}" if report["failed"] else "")
              + ".", ""]
    lines += ["Cells: " + "; ".join(f"`{c['name']}` = {c['model']}"
                                    + (f" with `{json.dumps(c['set'])}`" if c["set"] else "")
                                    + (f" (worlds {', '.join(c['worlds'])})" if c.get("worlds") else "")
                                    + (f" (seeds {', '.join(map(str, c['seeds']))})" if c.get("seeds") else "")
                                    for c in spec["cells"]),
              "Worlds: " + "; ".join(f"`{w['name']}`" + (f" (seeds {', '.join(map(str, w['seeds']))})"
                                                         if w.get("seeds") else "") for w in spec["worlds"]), ""]
    for world in spec["worlds"]:
        lines += _world_section(report, world)
    if report.get("plots_note"):
        lines += [report["plots_note"], ""]
    lines += _selection_section(report)
    lines += _origins_section(report)
    lines += _runs_section(report)
    lines += ["", "## How", "", STATISTICS, "", "Command:", "", "```sh", report["command_text"], "```", "",
              f"Machine: {report['machine_text']}. This invocation took {report['wall_seconds']:.0f} s.", ""]
    if report.get("machine", {}).get("fingerprint"):
        lines += [f"Float environment of this invocation: `{_md(report['machine']['fingerprint'])}`.", ""]
    return "\n".join(lines)


def _training_lines(report: Mapping[str, Any], name: str) -> list[str]:
    """The world's training curves: were the cells still learning when their schedules ended?"""
    section = report.get("training_curves", {}).get(name)
    if not section:
        return []
    lines = ["Training accuracy of each cell (the share of a batch classified right, mean over seeds of the last 5 "
             "records, each record the mean of its logging interval): a cell still rising at the end was stopped "
             "while learning.", "", *section["table"], ""]
    if section.get("plot"):
        lines += [f"![{name}: training curves]({section['plot']})", ""]
    return lines


def _world_section(report: Mapping[str, Any], world: Mapping[str, Any]) -> list[str]:
    """A world's heading, its table of cells, its plot and its comparisons' sentences."""
    name, base, comparisons = world["name"], report["spec"].get("baseline"), report["comparisons"]
    cells = report["aggregates"].get(name, {})
    lines = [f"## World `{name}`", "", world.get("description", ""), ""]
    if not cells:
        return lines + ["No finished run yet.", ""]
    header = ["cell", "model", "test z", "seeds", "mean class acc (%)", "overall acc (%)", "gaze cell acc (%)"]
    if base:
        header.append(f"Δ mean class vs {base}")
    header += ["z shuffled (Δ)", "uniform z (Δ)", "measured z (Δ)", "decision z-sens.", "est/KL grad"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * (len(header) - 3)]
    for cell, agg in cells.items():
        lines.append("| " + " | ".join(_md(x) for x in _cell_row(name, cell, agg, base, comparisons)) + " |")
    lines += ["", "Mean ± half-width of the 95 % interval over seeds; Δ columns: paired by seed, the ablation's "
              "minus the cell's own test-time z (a drop is negative). Decision z-sensitivity: mean total-variation "
              "distance between p(y | x, z₁) and p(y | x, z₂) for two gaze samples z₁, z₂ ~ q; est/KL grad: "
              "‖estimator's gradient‖ / ‖KL gradient‖ on the gaze logits; both averaged over the second half "
              "of training.", ""]
    plot = report.get("plots", {}).get(name)
    if plot:
        lines += [f"![{name}]({plot})", ""]
    by_fraction = report.get("gaze_fraction", {}).get(name)
    if by_fraction:
        lines += ["Mean class accuracy against the share of training clips with measured gaze (mean ± half-width "
                  "of the 95 % interval, seeds in brackets):", "", *by_fraction["table"], ""]
        if by_fraction.get("plot"):
            lines += [f"![{name}: accuracy against the gaze budget]({by_fraction['plot']})", ""]
    lines += _training_lines(report, name)
    said = [c for c in comparisons if c["world"] == name and c["metric"] == "mean_class_accuracy"]
    if said:
        lines += ["Paired comparisons (mean class accuracy):", ""]
        lines += [f"- {c['sentence']}" for c in said if c["kind"] == "baseline"]
        lines += [f"- {c['sentence']}" for c in said if c["kind"] == "pair"]
        lines += [f"- {c['sentence']}" for c in said if c["kind"] == "ablation"]
        lines.append("")
    return lines


def _cell_row(world: str, cell: str, agg: Mapping[str, Any], base: str | None, comparisons) -> list[str]:
    m = agg["metrics"]
    row = [f"`{cell}`", agg["model"], agg.get("test_gaze") or "–", str(len(agg["seeds"])),
           _pm(m.get("mean_class_accuracy")), _pm(m.get("overall_accuracy")), _pm(m.get("gaze.cell_accuracy"))]
    if base:
        c = _find(comparisons, world=world, kind="baseline", cell=cell, metric="mean_class_accuracy")
        row.append("–" if cell == base else (_delta(c) or "–"))
    for mode in ABLATIONS:
        value = m.get(f"test_gaze.{mode}.mean_class_accuracy")
        if agg.get("test_gaze") in (None, "none") or value is None:
            row.append("–")
            continue
        c = _find(comparisons, world=world, kind="ablation", cell=cell, mode=mode, metric="mean_class_accuracy")
        shown = _pm(value)
        if c is not None:
            d = dict(c)
            if mode != "measured":  # the column shows mode − primary
                d = {**d, "mean": 0.0 - d["mean"]} if d.get("mean") is not None else d
            shown += f" ({_delta(d)})"
        elif mode == agg.get("test_gaze"):
            shown += " (its own)"
        row.append(shown)
    for key in ("train.decision_z_sensitivity", "train.grad_ratio"):
        value = (m.get(key) or {}).get("mean")
        row.append("–" if value is None else f"{value:.3g}")
    return row


def _keys(keys: list[str], most: int = 6) -> str:
    return ", ".join(keys[:most]) + (f" and {len(keys) - most} more" if len(keys) > most else "")


def _origins_section(report: Mapping[str, Any]) -> list[str]:
    """Where the runs' floats were computed and by which code: one line when they agree, a warning otherwise."""
    origins = report.get("origins") or {}
    floats, code = origins.get("fingerprints") or {}, origins.get("code_versions") or {}
    if not floats:
        return []
    lines = ["## Where these numbers were computed", ""]
    if len(floats) == 1:
        lines.append(f"Every run's floats were computed in one environment: `{_md(next(iter(floats)))}`. The same "
                     "seeds on another CPU, kernel set, torch version or thread count can give other numbers "
                     "(one seed of a short run by many points); the intervals are what carries across.")
    else:
        lines.append(f"**The runs were computed in {len(floats)} float environments** (CPU, kernels, torch or "
                     "threads differ); a seed can give other numbers in each:")
        lines += [f"- `{_md(fp)}`: {_keys(keys)}" for fp, keys in floats.items()]
    lines.append("")
    if len(code) == 1:
        version = next(iter(code))
        lines.append(f"Code version of every run: `{_md(version)}`."
                     + (" **Uncommitted changes**: the commit alone does not reproduce these runs." if
                        origins.get("dirty") else ""))
    else:
        lines.append(f"**The runs were made by {len(code)} code versions** (rerun the study with one to compare "
                     "them like for like):")
        lines += [f"- `{_md(v)}`: {_keys(keys)}" for v, keys in code.items()]
    return lines + [""]


def _selection_section(report: Mapping[str, Any]) -> list[str]:
    """Per world and variant, the cell best on the validation clips (:mod:`gazeattn.study.selection`), if any."""
    rows = report.get("selection") or []
    if not rows:
        return []
    return ["## Selected on the validation clips", "",
            "Per world and model variant, the cell with the best mean class accuracy on the clips held out of "
            "training (`data.validation_fraction`); the test split took no part in the choice.", "",
            *[f"- {_md(selection_line(r))}" for r in rows], ""]


def _runs_section(report: Mapping[str, Any]) -> list[str]:
    lines = ["## Runs", "", "| world | cell | seed | mean class (%) | overall (%) | gaze cell (%) | this time | "
             "train s | eval s | folder |", "|---|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in report["runs"]:
        m = r["metrics"]
        cells = [r["world"], r["cell"], r["seed"], _f(m.get("mean_class_accuracy")), _f(m.get("overall_accuracy")),
                 _f(m.get("gaze.cell_accuracy")), r["status"], _f(r.get("train_seconds"), 1),
                 _f(r.get("eval_seconds"), 1), f"`{r['run_dir']}`"]
        lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
    return lines


def _f(value: Any, digits: int = 2) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.{digits}f}"

def plot_world(world: str, cells: Mapping[str, Any], path: str | Path) -> Path:
    """Mean class accuracy per cell: mean with the 95 % interval as an error bar, every seed as a dot. Raises
    :class:`gazeattn.report.plots.PlotsUnavailable` without matplotlib."""
    from gazeattn.report.plots import pyplot, save_figure

    plt = pyplot()
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
    ax.set_title(f"world {world}\nmean class accuracy per cell: mean and 95 % CI over seeds; dots: seeds")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
