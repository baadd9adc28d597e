"""Plots for reports: learning curves drawn with matplotlib (Agg), and the two helpers other figures use.

matplotlib is an optional extra (``pip install 'gazeattn[report]'``). Without it every plot function raises
:class:`PlotsUnavailable` with that instruction; reports check :func:`have_matplotlib` and are written without
figures, saying so. All PNGs are written atomically (temp file + ``os.replace``).

Log records are the training JSON lines, e.g. ``{"kind": "train", "step": 100, "loss": 2.1, ...}``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from gazeattn.utils.atomic import atomic_output

__all__ = ["PlotsUnavailable", "have_matplotlib", "pyplot", "save_figure", "series", "plot_learning_curves"]

INSTALL_HINT = "install the report extra: pip install 'gazeattn[report]' (matplotlib)"


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed: no figures can be drawn."""


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    try:
        import matplotlib
    except ImportError as err:
        raise PlotsUnavailable(f"matplotlib is not installed; {INSTALL_HINT}") from err
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int) -> Path:
    """Save a figure as PNG atomically and close it."""
    path = Path(path)
    try:
        with atomic_output(path, durable=False) as tmp:  # removes its temporary file on any failure
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
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
    plt = pyplot()
    curves = {name: series(records, metric, kind="train") for name, records in logs.items()}
    fig = _line_figure(plt, curves, title=f"training {metric}", ylabel=metric, size=size, markers=False)
    return save_figure(fig, path, dpi)
