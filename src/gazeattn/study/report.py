"""The study's report: per (world, cell) summaries over seeds, paired comparisons, ``study.json``, ``study.md``, plots.

:func:`collect_runs` reads every finished run of the grid (``eval.json`` whose record matches the spec);
:func:`summarize_study` is a pure function of the spec and those run records; :func:`write_study_report` writes

    OUT/study.json        spec, command, machine, per-run results, aggregates, comparisons (with their sentences),
                          the selection (per world and variant, the cell best on the validation clips, if any)
    OUT/study.md          a table per world, the comparisons' sentences, the runs, the command and the machine
    OUT/plots/<world>.png mean class accuracy per cell: mean and 95 % CI, each seed a dot (needs matplotlib)

The metrics of a run are :mod:`gazeattn.study.metrics`'; the page and the plots :mod:`gazeattn.study.markdown`'s.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from gazeattn.runs.provenance import read_provenance, run_code_versions, run_fingerprints
from gazeattn.study.markdown import markdown, plot_world
from gazeattn.study.metrics import (
    ABLATIONS, COMPARED, HEADLINE, MODE_WORDS, STATISTICS, _unit, metric_label, run_metrics, training_diagnostics)
from gazeattn.study.selection import best_cells
from gazeattn.study.spec import StudySpec
from gazeattn.study.stats import Summary, paired, sentence, summarize
from gazeattn.utils.atomic import write_text_atomic

__all__ = ["FORMAT", "collect_runs", "origins", "summarize_study", "write_study_report"]

FORMAT = "gazeattn-study-1"


# ----------------------------------------------------------------------------------------------- collecting


def collect_runs(spec: StudySpec, out: str | Path, *, done: Mapping[str, str] | None = None
                 ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(records of the finished runs, keys of missing runs, keys of failed runs) over the whole grid of ``spec``.

    A record: ``world``, ``cell``, ``model``, ``seed``, ``run_dir`` (relative to ``out``), ``status`` (what this
    invocation did, per ``done``, else ``reused``), ``metrics`` (:func:`run_metrics`), ``test_gaze`` (the primary
    mode), ``n_clips``, ``gaze``, ``by_test_gaze``, ``train_seconds``, ``eval_seconds``, ``wall_seconds``.
    An ``eval.json`` written for another recipe does not count (the run is missing)."""
    from gazeattn.study.plan import EVAL_FILE, FAILED_FILE, canonical_record, expected_run

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
        if not isinstance(evaluation, dict) or canonical_record(evaluation.get("study")) != record:
            (failed if (run / FAILED_FILE).is_file() else missing).append(key)
            continue
        records.append({
            "world": world.name, "cell": cell.name, "model": cell.model, "seed": seed,
            "run_dir": run.relative_to(out).as_posix(), "status": done.get(key, "reused"),
            "metrics": {**run_metrics(evaluation), **training_diagnostics(run)}, "test_gaze": evaluation.get("test_gaze"),
            "n_clips": evaluation.get("n_clips"), "gaze": evaluation.get("gaze"),
            "by_test_gaze": evaluation.get("by_test_gaze"), **run_origin(run, evaluation),
            **{k: evaluation.get(k) for k in ("train_seconds", "eval_seconds", "wall_seconds")}})
    return records, missing, failed


def run_origin(run: Path, evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """``fingerprints`` and ``code_versions`` of a run: those of its training sessions (``provenance.json``) and of
    its evaluation (``eval.json``), distinct and in order; ``["unknown"]`` for a run written before they were
    recorded."""
    entries = read_provenance(run)
    made = evaluation.get("provenance")
    if isinstance(made, dict):
        entries = [*entries, made]
    return {"fingerprints": run_fingerprints(entries) or ["unknown"],
            "code_versions": run_code_versions(entries) or ["unknown"]}


def origins(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Which runs were computed where and by which code: ``{"fingerprints": {fingerprint: [run keys]},
    "code_versions": {version: [run keys]}, "mixed_floats", "mixed_code", "dirty"}``. Runs of one fingerprint
    and seed give the same numbers; across fingerprints they may differ, by much after many steps."""
    floats: dict[str, list[str]] = {}
    code: dict[str, list[str]] = {}
    for r in records:
        key = f"{r['world']}/{r['cell']}/s{r['seed']}"
        for fp in r.get("fingerprints") or ["unknown"]:
            floats.setdefault(fp, []).append(key)
        for version in r.get("code_versions") or ["unknown"]:
            code.setdefault(version, []).append(key)
    return {"fingerprints": floats, "code_versions": code, "mixed_floats": len(floats) > 1,
            "mixed_code": len(code) > 1, "dirty": any(v.endswith("(dirty)") for v in code)}


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


def _pair_comparisons(spec: StudySpec, world: str, values: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The paired differences a − b of each of ``spec.pairs`` (both cells finished) in every metric of COMPARED."""
    out = []
    for a, b in spec.pairs:
        if a not in values or b not in values:
            continue
        for metric in COMPARED:
            if metric in values[a] and metric in values[b]:
                diff, seeds = paired(values[a][metric], values[b][metric])
                out.append(_comparison(world, "pair", _name(a, spec.cell(a).model), _name(b, spec.cell(b).model),
                                       metric, diff, seeds, cell=a, other=b))
    return out


def summarize_study(spec: StudySpec, records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[dict]]:
    """(aggregates, comparisons) of the run records (a pure function).

    ``aggregates[world][cell]`` = ``{"model", "test_gaze", "seeds", "metrics": {key: Summary + "values":
    {seed: value}}}`` for every cell with at least one finished run. ``comparisons``: for every cell other than the
    baseline, the paired difference cell − baseline of each metric of COMPARED both have (``kind``
    "baseline"); the same for each of ``spec.pairs`` (``kind`` "pair", a − b); for every cell with test-time gaze,
    within each run: primary − shuffled, primary − uniform and
    measured − primary, of mean class and overall accuracy (``kind`` "ablation", with ``mode``)."""
    aggregates: dict[str, dict[str, Any]] = {}
    comparisons: list[dict[str, Any]] = []
    for world in spec.worlds:
        per_cell, values = _world_cells(spec, world.name, records)
        aggregates[world.name] = per_cell
        comparisons += _baseline_comparisons(spec, world.name, values)
        comparisons += _pair_comparisons(spec, world.name, values)
        comparisons += _ablation_comparisons(spec, world.name, per_cell, values)
    return aggregates, comparisons


def _world_cells(spec: StudySpec, world: str, records: Sequence[Mapping[str, Any]]
                 ) -> tuple[dict[str, Any], dict[str, dict[str, dict[int, float | None]]]]:
    """(aggregates of every cell of ``world`` with a finished run, values[cell][metric][seed])."""
    per_cell: dict[str, Any] = {}
    values: dict[str, dict[str, dict[int, float | None]]] = {}
    for cell in spec.cells:
        rows = [r for r in records if r["world"] == world and r["cell"] == cell.name]
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
    return per_cell, values


def _baseline_comparisons(spec: StudySpec, world: str, values) -> list[dict[str, Any]]:
    """Every other cell − the baseline cell, per metric of COMPARED both have (none without a baseline)."""
    base, out = spec.baseline, []
    if base is None or base not in values:
        return out
    b_name = _name(base, spec.cell(base).model)
    for cell in spec.cells:
        if cell.name == base or cell.name not in values:
            continue
        for metric in COMPARED:
            if metric in values[cell.name] and metric in values[base]:
                diff, seeds = paired(values[cell.name][metric], values[base][metric])
                out.append(_comparison(world, "baseline", _name(cell.name, cell.model), b_name,
                                       metric, diff, seeds, cell=cell.name, baseline=base))
    return out


def _ablation_comparisons(spec: StudySpec, world: str, per_cell: dict[str, Any], values) -> list[dict[str, Any]]:
    """Within the runs of every cell with test-time gaze: primary − each ablation (measured − primary), of the
    HEADLINE metrics."""
    out = []
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
                out.append(_comparison(
                    world, "ablation", f"{who} with {MODE_WORDS.get(a_mode, a_mode)}",
                    f"{who} with {MODE_WORDS.get(b_mode, b_mode)}", metric, diff, seeds, cell=cell.name,
                    mode=mode, primary=primary))
    return out


# ----------------------------------------------------------------------------------------------- writing


def write_study_report(result, spec: StudySpec, *, command: Sequence[str], machine: Mapping[str, Any]) -> None:
    """Write study.json, study.md and the plots for ``result`` (a :class:`gazeattn.study.runner.StudyResult`),
    filling in its ``report``, ``json_path``, ``md_path`` and ``plots``."""
    from gazeattn.report.plots import PlotsUnavailable, have_matplotlib

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
    from gazeattn.study.gaze_fraction import fraction_sections

    by_fraction = fraction_sections(spec, aggregates, out, plots=have_matplotlib() and not note)
    training = training_sections(spec, records, out, plots=have_matplotlib() and not note)
    spec_dict = spec.to_dict()
    for world, w in zip(spec.worlds, spec_dict["worlds"]):
        w["description"] = world.describe()
    report = {
        "format": FORMAT, "title": spec.title or f"Study {spec.source}".strip(), "spec": spec_dict,
        "command": list(command), "command_text": shlex.join(command), "machine": dict(machine),
        "machine_text": _machine_text(machine), "torch": machine.get("torch"), "wall_seconds": result.seconds,
        "grid_size": len(spec.grid()), "done": dict(result.done),
        "origins": origins(records), "runs": records, "missing": missing, "failed": failed, "aggregates": aggregates,
        "comparisons": comparisons, "selection": best_cells(aggregates), "statistics": STATISTICS, "plots": plots,
        "gaze_fraction": by_fraction, "training_curves": training,
        "plots_note": note}
    result.report = report
    result.json_path = write_text_atomic(out / "study.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    result.md_path = write_text_atomic(out / "study.md", markdown(report))


def training_sections(spec: StudySpec, records: Sequence[Mapping[str, Any]], out: Path,
                      plots: bool) -> dict[str, dict[str, Any]]:
    """World → {"table": markdown lines, "plot": path relative to ``out`` or None}: the cells' training curves
    (:mod:`gazeattn.study.training_curves`); the plots under ``out/plots`` when ``plots``."""
    from gazeattn.study.training_curves import cell_curves, curve_table, plot_training_curves

    sections = {}
    for world in spec.worlds:
        curves = cell_curves(records, out, world.name)
        if not curves:
            continue
        plot = None
        if plots:
            path = plot_training_curves(world.name, curves, out / "plots" / f"{world.name}-training.png")
            plot = path.relative_to(out).as_posix()
        sections[world.name] = {"table": curve_table(curves), "plot": plot}
    return sections


def _machine_text(machine: Mapping[str, Any]) -> str:
    parts = [f"{machine.get('cpu') or machine.get('machine')}, {machine.get('cpu_count')} CPU cores",
             f"torch {machine.get('torch')} ({machine.get('torch_threads')} threads)"]
    if machine.get("cuda"):
        parts.append(f"GPU {machine['cuda']}")
    if machine.get("load_average"):
        parts.append(f"load average at the end {machine['load_average'][0]}")
    return ", ".join(parts) + f"; {machine.get('platform')}"
