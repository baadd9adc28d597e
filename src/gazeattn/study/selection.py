"""Choosing each model variant's setting on the validation clips: in a tuning grid (cells that differ only in, say,
learning rate × steps, on one world, a few seeds, with ``data.validation_fraction`` > 0), the cell of each variant
whose mean validation mean class accuracy over its seeds is highest. The test split plays no part in the choice;
the chosen cell's test numbers are reported beside it as the final ones.

:func:`best_cells` is a pure function of the study's aggregates (:func:`gazeattn.study.report.summarize_study`).
"""

from __future__ import annotations

from typing import Any, Mapping

from gazeattn.study.metrics import metric_label

__all__ = ["SELECT_ON", "best_cells", "selection_line"]

SELECT_ON = {"validation": "validation.mean_class_accuracy"}  # what `gazeattn study --select-on` may name


def best_cells(aggregates: Mapping[str, Mapping[str, Any]], metric: str = "validation.mean_class_accuracy"
               ) -> list[dict[str, Any]]:
    """Per world and model variant (in the aggregates' order), the cell with the highest mean ``metric`` over its
    seeds (a tie goes to the cell listed first); cells without the metric take no part. Each row: ``world``,
    ``model``, ``cell``, ``metric``, ``mean``, ``seeds`` (how many), ``candidates`` (cells compared) and
    ``test_mean`` (the chosen cell's mean of the same metric on the test split, or None)."""
    rows = []
    for world, cells in aggregates.items():
        by_model: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for name, agg in cells.items():
            summary = agg["metrics"].get(metric)
            if summary and summary.get("mean") is not None:
                by_model.setdefault(agg["model"], []).append((name, summary))
        for model, candidates in by_model.items():
            name, summary = max(candidates, key=lambda c: c[1]["mean"])  # max keeps the first of equal means
            test = cells[name]["metrics"].get(metric.removeprefix("validation."))
            rows.append({"world": world, "model": model, "cell": name, "metric": metric, "mean": summary["mean"],
                         "seeds": summary.get("n"), "candidates": len(candidates),
                         "test_mean": test.get("mean") if test and metric.startswith("validation.") else None})
    return rows


def selection_line(row: Mapping[str, Any]) -> str:
    """``[world] gaze-direct: cell lr3 (mean class accuracy on the validation clips 61.2 over 2 seeds, best of 4
    cells; test 58.0)``."""
    test = "" if row["test_mean"] is None else f"; test {row['test_mean']:.1f}"
    return (f"[{row['world']}] {row['model']}: cell {row['cell']} ({metric_label(row['metric'])} {row['mean']:.1f} "
            f"over {row['seeds']} seed(s), best of {row['candidates']} cell(s){test})")
