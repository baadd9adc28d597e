"""Plots for the demo report: learning curves and per-model accuracy bars, drawn with matplotlib (Agg).

matplotlib is an optional extra (``pip install 'gazeattn[report]'``). Without it every plot function raises
:class:`PlotsUnavailable` with that instruction; :func:`gazeattn.report.write_report` catches it and writes
the report without figures. All PNGs are written atomically (temp file + ``os.replace``).

Log records are the training JSON lines, e.g. ``{"kind": "train", "step": 100, "loss": 2.1, ...}`` and
``{"kind": "eval", "step": 400, "mean_class_accuracy": 55.0, "overall_accuracy": 60.0}``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from gazeattn.atomic import atomic_output

__all__ = [
    "PlotsUnavailable",
    "have_matplotlib",
    "series",
    "plot_learning_curves",
    "plot_eval_curves",
    "plot_accuracy_bars",
]

INSTALL_HINT = "install the report extra: pip install 'gazeattn[report]' (matplotlib)"
EVAL_METRICS = ("mean_class_accuracy", "overall_accuracy")


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed: no figures can be drawn."""


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    try:
        import matplotlib
    except ImportError as err:
        raise PlotsUnavailable(f"matplotlib is not installed; {INSTALL_HINT}") from err
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int) -> Path:
    """Save a figure as PNG atomically and close it."""
    path = Path(path)
    try:
        with atomic_output(path, durable=False) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def series(records: Sequence[Mapping[str, Any]], metric: str,
           kind: str | None = None) -> tuple[list[float], list[float]]:
    """(steps, values) of ``metric`` over the records of ``kind`` (any kind when None) that have a finite value,
    sorted by step."""
    points = []
    for r in records:
        if kind is not None and r.get("kind") != kind:
            continue
        step, value = r.get("step"), r.get(metric)
        if step is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if math.isfinite(float(value)):
            points.append((float(step), float(value)))
    points.sort(key=lambda p: p[0])
    return [p[0] for p in points], [p[1] for p in points]


def _line_figure(plt, curves: dict[str, tuple[list[float], list[float]]], *, title: str, ylabel: str,
                 size: tuple[float, float], markers: bool):
    fig, ax = plt.subplots(figsize=size)
    drawn = 0
    for name, (x, y) in curves.items():
        if not x:
            continue
        ax.plot(x, y, label=name, linewidth=1.5, marker="o" if markers else None, markersize=3)
        drawn += 1
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="best", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    fig.tight_layout()
    return fig


def plot_learning_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path, metric: str = "loss", *,
                         size: tuple[float, float] = (6.4, 4.0), dpi: int = 100) -> Path:
    """One line per model of training ``metric`` vs step (records with ``kind == "train"``) → PNG at ``path``.

    Models without the metric are left out of the legend; a figure with no data at all says so.
    """
    plt = _pyplot()
    curves = {name: series(records, metric, kind="train") for name, records in logs.items()}
    fig = _line_figure(plt, curves, title=f"training {metric}", ylabel=metric, size=size, markers=False)
    return _save(fig, path, dpi)


def plot_eval_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path, *,
                     metrics: Sequence[str] = EVAL_METRICS, size: tuple[float, float] = (6.4, 4.0),
                     dpi: int = 100) -> Path:
    """Evaluation accuracy (%) vs step (records with ``kind == "eval"``): one line per (model, metric);
    mean class accuracy solid, overall accuracy dashed, one colour per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size)
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    styles = ("-", "--", ":", "-.")
    drawn = 0
    for i, (name, records) in enumerate(logs.items()):
        for j, metric in enumerate(metrics):
            x, y = series(records, metric, kind="eval")
            if not x:
                continue
            label = f"{name} {metric.replace('_accuracy', '').replace('_', ' ')}"
            ax.plot(x, y, styles[j % len(styles)], color=colours[i % len(colours)], marker="o", markersize=3,
                    linewidth=1.5, label=label)
            drawn += 1
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("evaluation accuracy")
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="best", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no evaluations", ha="center", va="center", transform=ax.transAxes, color="grey")
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_accuracy_bars(results: Mapping[str, Mapping[str, Any]], path: str | Path, *,
                       size: tuple[float, float] = (6.4, 4.0), dpi: int = 100) -> Path:
    """Grouped bars per model: mean class accuracy and overall accuracy (%), each bar labelled with its value."""
    plt = _pyplot()
    names = list(results)
    fig, ax = plt.subplots(figsize=size)
    width = 0.38
    for j, (metric, label) in enumerate((("mean_class_accuracy", "mean class"), ("overall_accuracy", "overall"))):
        values = [float(results[n].get(metric) or 0.0) for n in names]
        xs = [i + (j - 0.5) * width for i in range(len(names))]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize="small", padding=2)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("accuracy (%)")
    top = max([float(results[n].get(m) or 0.0) for n in names for m in EVAL_METRICS] + [1.0])
    ax.set_ylim(0, top * 1.15)
    ax.set_title("test accuracy per model")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _save(fig, path, dpi)
