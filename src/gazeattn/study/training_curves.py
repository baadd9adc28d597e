"""A study's training curves: per world, each cell's training accuracy (and loss) against the step, the mean over
its seeds with every seed drawn faintly, read from the runs' ``log.jsonl``; the held-out clips' accuracy where a
run evaluated them during training (``run.eval_every``).

They show what a final number cannot: whether a cell (the baseline included) was still learning when its
schedule ended, i.e. whether it was given enough steps. Pure functions over the run folders, plus the plot.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from gazeattn.report.plots import pyplot, save_figure, series

__all__ = ["read_train_log", "mean_curve", "cell_curves", "curve_table", "plot_training_curves", "CURVE_METRICS"]

CURVE_METRICS = ("acc", "loss")  # training records' accuracy (share of the batch right) and total loss


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """The records of one ``log.jsonl`` (unreadable lines and a missing file give none: a figure, not a check)."""
    records = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return records
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def mean_curve(runs: Sequence[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    """The mean over runs at the steps every run logged (runs of one cell log the same steps)."""
    if not runs:
        return [], []
    common = set(runs[0][0])
    for steps, _ in runs[1:]:
        common &= set(steps)
    steps = sorted(common)
    by_run = [dict(zip(s, v)) for s, v in runs]
    return steps, [sum(r[s] for r in by_run) / len(by_run) for s in steps]


def cell_curves(records: Sequence[Mapping[str, Any]], out: Path, world: str, metric: str = "acc",
                kind: str = "train") -> dict[str, list[tuple[list[float], list[float]]]]:
    """Cell → one (steps, values) per finished seed of ``world``, ``metric`` of the records of ``kind``."""
    curves: dict[str, list[tuple[list[float], list[float]]]] = {}
    for r in records:
        if r["world"] != world:
            continue
        steps, values = series(read_train_log(out / r["run_dir"] / "log.jsonl"), metric, kind=kind)
        if steps:
            curves.setdefault(r["cell"], []).append((steps, values))
    return curves


def _at(steps: list[float], values: list[float], fraction: float) -> float:
    """The value at the last logged step not past ``fraction`` of the curve's last step (nan when none)."""
    if not steps:
        return math.nan
    limit = fraction * steps[-1]
    picked = [v for s, v in zip(steps, values) if s <= limit]
    return picked[-1] if picked else math.nan


def curve_table(curves: Mapping[str, list[tuple[list[float], list[float]]]], window: int = 5) -> list[str]:
    """Markdown: per cell, its mean training accuracy (mean over the last ``window`` records of each seed, %) at
    half and at the end of training, and the change over the second half: a cell still rising at the end was
    stopped while learning."""
    lines = ["| cell | seeds | steps | train acc at half (%) | at the end (%) | change over the second half |",
             "|---|---:|---:|---:|---:|---:|"]
    for cell, runs in curves.items():
        steps, values = mean_curve(runs)
        if not steps:
            continue
        smooth = _smoothed(values, window)
        half, end = 100 * _at(steps, smooth, 0.5), 100 * smooth[-1]
        lines.append(f"| `{cell}` | {len(runs)} | {int(steps[-1])} | {half:.1f} | {end:.1f} | {end - half:+.1f} |")
    return lines


def _smoothed(values: list[float], window: int) -> list[float]:
    """The trailing mean over ``window`` records (fewer at the start)."""
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]


def plot_training_curves(world: str, curves: Mapping[str, list[tuple[list[float], list[float]]]], path: Path,
                         metric: str = "acc", *, window: int = 5, dpi: int = 100) -> Path:
    """One colour per cell: each seed a thin faint line, the mean over seeds (a trailing mean over ``window``
    records) a thick one."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
    for i, (cell, runs) in enumerate(curves.items()):
        colour = colours(i % colours.N)
        for steps, values in runs:
            ax.plot(steps, values, color=colour, linewidth=0.6, alpha=0.3)
        steps, values = mean_curve(runs)
        seeds = f"{len(runs)} seed" + ("s" if len(runs) > 1 else "")
        ax.plot(steps, _smoothed(values, window), color=colour, linewidth=2.0, label=f"{cell} ({seeds})")
    ax.set_xlabel("step")
    ax.set_ylabel({"acc": "training accuracy (share of the batch)", "loss": "training loss"}.get(metric, metric))
    ax.set_title(f"{world}: training {metric} (mean over seeds, smoothed; thin: each seed)")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="best", fontsize="x-small", ncol=2 if len(curves) > 6 else 1)
    fig.tight_layout()
    return save_figure(fig, path, dpi)
