"""The demo's report: a markdown page with the per-model results table, learning curves and gaze overlays.

``results[model]`` is a model's evaluation JSON (see :func:`gazeattn.train.evaluate.evaluate`):
``{"mean_class_accuracy", "overall_accuracy", "n_clips", "gaze": {...} | JSON string | None}`` plus an
optional ``"train_seconds"``. ``logs[model]`` holds its training log records (the JSON lines of
``log.jsonl``). ``overlays[model]`` is a PNG (gaze pictures) linked into the page. ``meta`` describes the run:
``"command"`` (str or argv list) and ``"config"`` (any JSON-able dict) are shown as code blocks, every other
key as a line of the summary; ``"title"`` replaces the heading.

Layout written under ``out_dir``::

    report.md
    plots/loss.png  plots/eval_accuracy.png  plots/accuracy.png     (when matplotlib is installed)

Without matplotlib the page is still written, with a note saying how to get the figures. Every file is
written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from gazeattn import plots
from gazeattn.atomic import write_text_atomic

__all__ = ["Column", "COLUMNS", "gaze_metrics", "table_rows", "format_table", "markdown_table", "write_report",
           "write_text_atomic"]

log = logging.getLogger(__name__)


PLOTS_DIR = "plots"


def gaze_metrics(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """A result's gaze metrics as a dict (evaluation stores them as a JSON string); None when absent."""
    gaze = result.get("gaze")
    if gaze is None:
        return None
    if isinstance(gaze, str):
        try:
            gaze = json.loads(gaze)
        except json.JSONDecodeError:
            return None
    return dict(gaze) if isinstance(gaze, Mapping) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


class Column:
    """A table column: its header and how to read and format a cell from (model, result)."""

    def __init__(self, header: str, get, fmt: str = "{:.2f}", *, optional: bool = False):
        self.header, self.get, self.fmt, self.optional = header, get, fmt, optional

    def cell(self, name: str, result: Mapping[str, Any]) -> str:
        value = self.get(name, result)
        if isinstance(value, str):
            return value
        value = _number(value)
        return "–" if value is None else self.fmt.format(value)


def _gaze(key: str):
    return lambda _name, r: (gaze_metrics(r) or {}).get(key)


COLUMNS: tuple[Column, ...] = (
    Column("model", lambda name, _r: name),
    Column("mean class acc (%)", lambda _n, r: r.get("mean_class_accuracy")),
    Column("overall acc (%)", lambda _n, r: r.get("overall_accuracy")),
    Column("gaze cell acc (%)", _gaze("cell_accuracy"), optional=True),
    Column("gaze AAE (°)", _gaze("aae_deg"), optional=True),
    Column("train s", lambda _n, r: r.get("train_seconds"), "{:.1f}", optional=True),
    Column("test clips", lambda _n, r: r.get("n_clips"), "{:.0f}", optional=True),
)


def _columns(results: Mapping[str, Mapping[str, Any]]) -> list[Column]:
    """All columns, dropping optional ones no model has a value for."""
    keep = []
    for col in COLUMNS:
        if col.optional and all(col.cell(n, r) == "–" for n, r in results.items()):
            continue
        keep.append(col)
    return keep


def table_rows(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows of formatted cells), one row per model in ``results`` order."""
    cols = _columns(results)
    return [c.header for c in cols], [[c.cell(n, r) for c in cols] for n, r in results.items()]


def format_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Plain-text table for the terminal: model left-aligned, numbers right-aligned."""
    headers, rows = table_rows(results)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    headers, rows = table_rows(results)
    out = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
           "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"]
    out += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _link(target: Path, out_dir: Path) -> str:
    """A link from report.md to ``target``: relative when possible, POSIX separators, spaces escaped."""
    try:
        rel = os.path.relpath(Path(target).resolve(), out_dir.resolve())
    except ValueError:  # another drive on Windows
        rel = str(Path(target).resolve())
    return Path(rel).as_posix().replace(" ", "%20")


def _command_text(command: Any) -> str:
    if isinstance(command, (list, tuple)):
        return shlex.join(str(c) for c in command)
    return str(command)


def _make_plots(out_dir: Path, results, logs,
                curve_metrics: Sequence[str]) -> tuple[list[tuple[str, Path]], str | None]:
    """Draw every figure; returns ([(caption, png)], note) where note says why figures are missing."""
    figures: list[tuple[str, Path]] = []
    folder = out_dir / PLOTS_DIR
    try:
        if results:
            figures.append(("Test accuracy per model", plots.plot_accuracy_bars(results, folder / "accuracy.png")))
        if logs:
            for metric in curve_metrics:
                if any(plots.series(records, metric, kind="train")[0] for records in logs.values()):
                    figures.append((f"Training {metric}",
                                    plots.plot_learning_curves(logs, folder / f"{metric}.png", metric=metric)))
            if any(plots.series(records, m, kind="eval")[0] for records in logs.values() for m in plots.EVAL_METRICS):
                figures.append(("Evaluation accuracy during training",
                                plots.plot_eval_curves(logs, folder / "eval_accuracy.png")))
    except plots.PlotsUnavailable as err:
        log.warning("report without figures: %s", err)
        return figures, f"Figures were not drawn: {err}."
    return figures, None


def write_report(
    out_dir: str | Path,
    results: Mapping[str, Mapping[str, Any]],
    logs: Mapping[str, Sequence[Mapping[str, Any]]],
    overlays: Mapping[str, str | Path],
    meta: Mapping[str, Any],
    *,
    curve_metrics: Sequence[str] = ("loss",),
) -> Path:
    """Write ``out_dir/report.md`` (and its figures under ``out_dir/plots``); returns the report's path.

    ``curve_metrics``: training-log metrics drawn as learning curves (one figure each, where any model logs it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, note = _make_plots(out_dir, results, logs, curve_metrics)

    lines = [f"# {meta.get('title', 'gazeattn demo report')}", ""]
    lines += ["## Results", ""]
    if results:
        lines += [markdown_table(results), ""]
        lines += ["Accuracies are percentages over the test clips (a clip's logits are averaged over its windows); "
                  "mean class accuracy is the mean per-class recall. Gaze metrics are measured on slots with a "
                  "fixation inside the crop.", ""]
    else:
        lines += ["No model was evaluated.", ""]

    lines += ["## Plots", ""]
    if note:
        lines += [f"> {note}", ""]
    for caption, png in figures:
        lines += [f"### {caption}", "", f"![{caption}]({_link(png, out_dir)})", ""]
    if not figures and not note:
        lines += ["No data to plot.", ""]

    if overlays:
        lines += ["## Gaze", "", "Predicted gaze (red) over the centre crop; outlined cells: argmax of each slot.", ""]
        for name, png in overlays.items():
            lines += [f"### {_md_escape(name)}", "", f"![{name} gaze]({_link(Path(png), out_dir)})", ""]

    summary = {k: v for k, v in meta.items() if k not in ("title", "command", "config")}
    if summary or "config" in meta:
        lines += ["## Configuration", ""]
        for key, value in summary.items():
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            lines.append(f"- **{_md_escape(str(key))}**: {_md_escape(shown)}")
        if summary:
            lines.append("")
        if "config" in meta:
            lines += ["```json", json.dumps(meta["config"], indent=2, sort_keys=True, default=str), "```", ""]

    if "command" in meta:
        lines += ["## Reproduce", "", "```sh", _command_text(meta["command"]), "```", ""]

    return write_text_atomic(out_dir / "report.md", "\n".join(lines).rstrip() + "\n")
