"""Evaluation metrics: action recognition (:mod:`.actions`) and gaze prediction (:mod:`.gaze`). Pure functions."""

from gazeattn.metrics.actions import (
    ActionReport,
    action_report,
    aggregate_windows,
    class_accuracies,
    confusion_matrix,
    mean_class_accuracy,
    overall_accuracy,
    topk_accuracy,
)
from gazeattn.metrics.gaze import (
    AngularErrors,
    GazeReport,
    PrecisionRecallF1,
    angular_error_deg,
    cell_accuracy,
    cell_centers_xy,
    gaze_report,
    heatmap_auc,
    heatmap_f1,
    heatmap_precision_recall_f1,
    xy_to_cells,
)

__all__ = [
    "ActionReport",
    "AngularErrors",
    "GazeReport",
    "PrecisionRecallF1",
    "action_report",
    "aggregate_windows",
    "angular_error_deg",
    "cell_accuracy",
    "cell_centers_xy",
    "class_accuracies",
    "confusion_matrix",
    "gaze_report",
    "heatmap_auc",
    "heatmap_f1",
    "heatmap_precision_recall_f1",
    "mean_class_accuracy",
    "overall_accuracy",
    "topk_accuracy",
    "xy_to_cells",
]
