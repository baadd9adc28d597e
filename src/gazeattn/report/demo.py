"""The demo's page: ``OUT/report.md`` from the study's markdown, learning curves and gaze pictures.

Layout written under ``out``::

    report.md
    plots/loss.png  plots/acc.png  plots/decision_z_sensitivity.png      (when matplotlib is installed)

Without matplotlib the page is still written, with a note saying how to get the figures. Links are relative to
``out`` (the pictures must lie under it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from gazeattn.report import plots
from gazeattn.utils.atomic import write_text_atomic

CURVES = ("loss", "acc", "decision_z_sensitivity")

INTRO = ("The demo's cells on its synthetic EGTEA world, one world per seed: `direct` (Min & Corso's direct "
         "optimization with the project's attention head) and `i3d` without gaze, and `gumbel` (Li et al.'s "
         "Gumbel-Softmax with the same head) when asked for. The study below is the demo's; its runs are in "
         "`study/runs/`. Its sentences come from this run's own intervals: on another CPU the per-seed numbers "
         "differ (the floats do), and only what the intervals show on both should be taken away.")
GAZE = ("Where the models look on a test clip: for each window, its temporal slots side by side (the middle frame "
        "of each), the predicted gaze q above the attention map; the green box is the slot's most likely cell. The "
        "top of each picture ranks the predicted actions and names the true one; its legend says what the colours "
        "mean.")


def _link(path: Path, out: Path) -> str:
    return Path(path).relative_to(out).as_posix().replace(" ", "%20")


def write_demo_report(out: str | Path, study_markdown: str, logs: Mapping[str, Sequence[dict]],
                      pictures: Mapping[str, str | Path], command: Sequence[str]) -> Path:
    """Write ``out/report.md``: the intro, ``study_markdown`` (the study's page, its title line dropped, its plot
    links made relative to ``out``), training curves of ``logs`` (per cell, the first seed's log records), the
    ``pictures`` (caption → PNG under ``out``) and the command that reproduces it. Returns the page's path."""
    out = Path(out)
    lines = ["# gazeattn demo", "", INTRO, ""]
    body = study_markdown.split("\n", 1)[1] if "\n" in study_markdown else ""
    lines += [body.replace("](plots/", "](study/plots/"), ""]
    lines += ["## Learning curves (first seed)", ""]
    if plots.have_matplotlib():
        for metric in CURVES:
            png = plots.plot_learning_curves(logs, out / "plots" / f"{metric}.png", metric=metric)
            lines += [f"![training {metric}]({_link(png, out)})", ""]
    else:
        lines += ["> matplotlib is not installed (`pip install 'gazeattn[report]'`): no figures.", ""]
    lines += ["## Gaze", "", GAZE, ""]
    for caption, png in pictures.items():
        lines += [f"### {caption}", "", f"![{caption}]({_link(Path(png), out)})", ""]
    lines += ["## Reproduce", "", "```sh", " ".join(command), "```", ""]
    return write_text_atomic(out / "report.md", "\n".join(lines))
