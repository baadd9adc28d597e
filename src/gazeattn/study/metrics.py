"""What a study measures of each run: the flat metrics of its evaluation, its training diagnostics, and how they
are named in sentences.

Metrics of a run (flat keys): ``mean_class_accuracy``, ``overall_accuracy`` (percent), ``gaze.cell_accuracy``
(percent), ``gaze.aae_deg``, ``gaze.auc``, ``gaze.f1`` when the model has a gaze head,
``gaze_truth.predicted_cell_accuracy`` / ``gaze_truth.measured_cell_accuracy`` (percent, against the truly
attended cell) on a synthetic world,
``test_gaze.<mode>.mean_class_accuracy`` / ``.overall_accuracy`` for every test-time gaze mode the evaluation
computed (the primary first; the ablations ``shuffled``, ``uniform``, ``measured``), and from the training log
``train.attn_z_sensitivity``, ``train.decision_z_sensitivity``, ``train.grad_ratio``. A run that held out validation
clips (``data.validation_fraction`` > 0) also has every evaluation metric of those clips under ``validation.``
(``validation.mean_class_accuracy``, ``validation.test_gaze.shuffled.overall_accuracy``, ...): what a tuning grid
selects each cell's setting on, the test split kept for the final numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from gazeattn.inference.test_gaze import COMPARED_WITH

HEADLINE = ("mean_class_accuracy", "overall_accuracy")

GAZE_KEYS = ("cell_accuracy", "aae_deg", "auc", "f1")

TRUTH_KEYS = ("predicted_cell_accuracy", "measured_cell_accuracy")

ABLATIONS = COMPARED_WITH  # the test-time gazes each run's primary mode is compared with

COMPARED = (*HEADLINE, "gaze.cell_accuracy", "gaze.auc", "gaze.f1", "gaze_truth.predicted_cell_accuracy")  # higher is better (AAE is summarised only)

MODE_WORDS = {"argmax": "its own z (argmax of q)", "expectation": "z = q (expectation)",
              "sample-mean": "z sampled (mean over samples)", "sample": "one sampled z",
              "shuffled": "z shuffled across clips", "uniform": "a uniform z", "measured": "the measured gaze as z",
              "none": "no attention"}

STATISTICS = ("Per cell: mean over seeds, sample standard deviation s (n − 1), and the 95 % confidence interval "
              "mean ± t(0.975, n − 1)·s/√n (Student t; one seed gives no interval). Comparisons are paired by seed "
              "(same seed: same synthetic world and split, same initialisation and batch order): the interval of "
              "the per-seed differences. An interval that includes 0 shows no difference. Ablations are paired "
              "within each run: the same trained model evaluated with its own test-time z and with z replaced.")

def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None

def run_metrics(evaluation: Mapping[str, Any]) -> dict[str, float | None]:
    """The flat metrics of one evaluation (see the module docstring), with its ``validation`` evaluation's under
    ``validation.`` when it has one."""
    metrics = _evaluation_metrics(evaluation)
    held = evaluation.get("validation")
    if isinstance(held, Mapping):
        metrics.update({f"validation.{k}": v for k, v in _evaluation_metrics(held).items()})
    return metrics

def _evaluation_metrics(evaluation: Mapping[str, Any]) -> dict[str, float | None]:
    metrics = {k: _num(evaluation.get(k)) for k in HEADLINE}
    gaze = evaluation.get("gaze")
    if isinstance(gaze, str):
        try:
            gaze = json.loads(gaze)
        except ValueError:
            gaze = None
    if isinstance(gaze, Mapping):
        metrics.update({f"gaze.{k}": _num(gaze.get(k)) for k in GAZE_KEYS if k in gaze})
    truth = evaluation.get("gaze_truth")
    if isinstance(truth, Mapping):
        metrics.update({f"gaze_truth.{k}": _num(truth.get(k)) for k in TRUTH_KEYS if truth.get(k) is not None})
    for mode, acc in (evaluation.get("by_test_gaze") or {}).items():
        if mode == "none" or not isinstance(acc, Mapping):
            continue
        for k in HEADLINE:
            metrics[f"test_gaze.{mode}.{k}"] = _num(acc.get(k))
    return metrics

DIAGNOSTICS = ("attn_z_sensitivity", "decision_z_sensitivity", "grad_ratio")

def training_diagnostics(run_dir: str | Path) -> dict[str, float | None]:
    """Means over the second half of training (train records of ``log.jsonl``) of the attention's z-sensitivity,
    the decision's z-sensitivity and the estimator/KL gradient ratio, as ``train.<key>``; {} without a log."""
    try:
        lines = (Path(run_dir) / "log.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "train":
            records.append(record)
    if not records:
        return {}
    last = max(_num(r.get("step")) or 0 for r in records)
    late = [r for r in records if (_num(r.get("step")) or 0) > last / 2]
    out = {}
    for key in DIAGNOSTICS:
        values = [v for v in (_num(r.get(key)) for r in late) if v is not None]
        if values:
            out[f"train.{key}"] = sum(values) / len(values)
    return out

def metric_label(key: str) -> str:
    """``test_gaze.shuffled.mean_class_accuracy`` → ``mean class accuracy with z shuffled across clips``;
    ``validation.<key>`` → the label of ``<key>`` followed by ``on the validation clips``."""
    if key.startswith("validation."):
        return f"{metric_label(key.removeprefix('validation.'))} on the validation clips"
    base = {"mean_class_accuracy": "mean class accuracy", "overall_accuracy": "overall accuracy",
            "gaze.cell_accuracy": "gaze cell accuracy", "gaze.aae_deg": "gaze AAE", "gaze.auc": "gaze AUC",
            "gaze.f1": "gaze F1", "gaze_truth.predicted_cell_accuracy": "predicted gaze on the attended cell",
            "gaze_truth.measured_cell_accuracy": "measured gaze on the attended cell",
            "train.attn_z_sensitivity": "attention z-sensitivity (training, 2nd half)",
            "train.decision_z_sensitivity": "decision z-sensitivity (training, 2nd half)",
            "train.grad_ratio": "estimator/KL gradient ratio (training, 2nd half)"}
    if key in base:
        return base[key]
    if key.startswith("test_gaze."):
        _, mode, metric = key.split(".", 2)
        return f"{base.get(metric, metric)} with {MODE_WORDS.get(mode, mode)}"
    return key

def _unit(key: str) -> str:
    return "degrees" if key.endswith("aae_deg") else "" if key.endswith(("auc", "f1")) else "points"
