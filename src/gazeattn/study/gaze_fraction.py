"""A study's accuracy against the share of training clips with measured gaze (``data.gaze_fraction``): the
cells that differ only in that share form one curve, a table per world and a plot per world with 95 % bands.

A curve is the cells of one model with the same overrides apart from ``data.gaze_fraction`` (its name: the first
cell's name without a trailing ``-g<percent>``); cells that do not set the share and whose variant reads no gaze
(``i3d``: ``Variant.reads_gaze`` is False) are drawn as flat references. Pure functions over ``study.json``'s
aggregates, plus the plot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from gazeattn.study.spec import StudySpec
from gazeattn.train.variants import VARIANTS

__all__ = ["fraction_curves", "fraction_table", "plot_fractions", "fraction_sections", "FRACTION_KEY"]

FRACTION_KEY = "data.gaze_fraction"
_SUFFIX = re.compile(r"-g\d+$")


def fraction_curves(spec: StudySpec, cells: Mapping[str, Any], metric: str = "mean_class_accuracy"
                    ) -> tuple[dict[str, list[tuple[float, dict[str, Any]]]], dict[str, dict[str, Any]]]:
    """(curves, references) of one world's aggregates ``cells``: curve name → [(fraction, summary)] sorted by
    fraction, for curves with at least two fractions; reference cell → summary for the cells without gaze."""
    groups: dict[tuple, list[tuple[float, str]]] = {}
    references = {}
    for cell in spec.cells:
        if cell.name not in cells:
            continue
        summary = cells[cell.name]["metrics"].get(metric)
        if summary is None or summary.get("mean") is None:
            continue
        if FRACTION_KEY in cell.overrides:
            rest = tuple(sorted((k, repr(v)) for k, v in cell.overrides.items() if k != FRACTION_KEY))
            groups.setdefault((cell.model, rest), []).append((float(cell.overrides[FRACTION_KEY]), cell.name))
        elif not VARIANTS[cell.model].reads_gaze:  # never reads gaze: a flat reference
            references[cell.name] = summary
    curves = {}
    for points in groups.values():
        if len(points) < 2:
            continue
        points.sort()
        name = _SUFFIX.sub("", points[0][1])
        curves[name] = [(f, cells[c]["metrics"][metric]) for f, c in points]
    return curves, references


def fraction_table(curves: Mapping[str, list[tuple[float, dict[str, Any]]]],
                   references: Mapping[str, dict[str, Any]]) -> list[str]:
    """Markdown lines: one row per fraction, one column per curve (mean ± half-width, seeds), references below."""
    fractions = sorted({f for points in curves.values() for f, _ in points}, reverse=True)
    names = list(curves)
    lines = ["| gaze on training clips | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for fraction in fractions:
        row = [_cell({f: s for f, s in curves[n]}.get(fraction)) for n in names]
        lines.append(f"| {100 * fraction:g} % | " + " | ".join(row) + " |")
    for name, summary in references.items():
        lines.append(f"| {name} (no gaze) | " + " | ".join([_cell(summary)] * len(names)) + " |")
    return lines


def _cell(summary: Mapping[str, Any] | None) -> str:
    if not summary or summary.get("mean") is None:
        return "–"
    half = summary.get("half_width")
    spread = f" ± {half:.1f}" if half is not None else ""
    return f"{summary['mean']:.1f}{spread} ({summary.get('n', 0)})"


def plot_fractions(world: str, curves: Mapping[str, list[tuple[float, dict[str, Any]]]],
                   references: Mapping[str, dict[str, Any]], path: str | Path) -> Path:
    """Mean class accuracy against the gaze fraction, one line per curve with its 95 % band, references flat.
    Raises :class:`gazeattn.report.plots.PlotsUnavailable` without matplotlib."""
    from gazeattn.report.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    for name, points in curves.items():
        xs = [100 * f for f, _ in points]
        means = [s["mean"] for _, s in points]
        line = ax.plot(xs, means, marker="o", label=name)[0]
        lo = [s["lo"] if s.get("lo") is not None else s["mean"] for _, s in points]
        hi = [s["hi"] if s.get("hi") is not None else s["mean"] for _, s in points]
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
    for name, s in references.items():
        line = ax.axhline(s["mean"], linestyle="--", color="gray", label=f"{name} (no gaze)")
        if s.get("lo") is not None:
            ax.axhspan(s["lo"], s["hi"], color=line.get_color(), alpha=0.1)
    ax.set_xlabel("training clips with measured gaze (%)")
    ax.set_ylabel("mean class accuracy on the test split (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(f"world {world}: accuracy against the gaze budget\nmean over seeds, band: 95 % CI")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def fraction_sections(spec: StudySpec, aggregates: Mapping[str, Mapping[str, Any]], out: Path,
                      plots: bool) -> dict[str, dict[str, Any]]:
    """World → {"table": markdown lines, "plot": path relative to ``out`` or None} for the worlds with a curve;
    the plots are written under ``out/plots`` when ``plots`` (matplotlib present)."""
    sections = {}
    for world, cells in aggregates.items():
        curves, references = fraction_curves(spec, cells)
        if not curves:
            continue
        plot = None
        if plots:
            path = plot_fractions(world, curves, references, out / "plots" / f"{world}-gaze-fraction.png")
            plot = path.relative_to(out).as_posix()
        sections[world] = {"table": fraction_table(curves, references), "plot": plot}
    return sections
