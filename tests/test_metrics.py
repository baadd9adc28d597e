"""Metrics against hand-computed values (every expected number is worked out in the comments)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gazeattn.metrics import (
    action_report,
    aggregate_windows,
    angular_error_deg,
    cell_accuracy,
    cell_centers_xy,
    class_accuracies,
    confusion_matrix,
    gaze_report,
    heatmap_auc,
    heatmap_f1,
    heatmap_precision_recall_f1,
    mean_class_accuracy,
    overall_accuracy,
    topk_accuracy,
    xy_to_cells,
)

# ---------------------------------------------------------------------------------------------------- actions

# 3 classes, 7 samples.
TARGETS = [0, 0, 0, 1, 1, 2, 2]
PREDS = [0, 1, 0, 1, 2, 2, 0]
# class 0: predicted 0, 1, 0 -> row [2, 1, 0]
# class 1: predicted 1, 2    -> row [0, 1, 1]
# class 2: predicted 2, 0    -> row [1, 0, 1]
CM = [[2, 1, 0],
      [0, 1, 1],
      [1, 0, 1]]
# recall: 2/3, 1/2, 1/2; mean = (4/6 + 3/6 + 3/6) / 3 = 10/18 = 5/9 = 0.5556; overall = (2 + 1 + 1) / 7 = 4/7.


def test_confusion_matrix_hand_example():
    cm = confusion_matrix(TARGETS, PREDS, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, CM)
    np.testing.assert_allclose(class_accuracies(cm), [2 / 3, 1 / 2, 1 / 2])
    assert mean_class_accuracy(cm) == pytest.approx(5 / 9)
    assert mean_class_accuracy(cm, over="all") == pytest.approx(5 / 9)  # every class present: same
    assert overall_accuracy(cm) == pytest.approx(4 / 7)


def test_confusion_matrix_accepts_tensors_and_integral_floats():
    cm = confusion_matrix(torch.tensor(TARGETS), np.array(PREDS, dtype=np.float32), 3)
    np.testing.assert_array_equal(cm, CM)


@pytest.mark.parametrize(
    "targets, preds, num_classes, match",
    [
        ([0, 1], [0], 3, "differ in length"),
        ([0, 3], [0, 1], 3, r"targets\[1\] = 3 is outside \[0, 3\)"),
        ([0, 1], [0, -1], 3, r"predictions\[1\] = -1"),
        ([0, 1], [0, 1.5], 3, "integer"),
        ([[0, 1]], [[0, 1]], 3, "1-D"),
        ([0], [0], 0, "num_classes"),
    ],
)
def test_confusion_matrix_errors(targets, preds, num_classes, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(targets, preds, num_classes)


def test_absent_classes():
    # 4 classes; classes 2 and 3 never occur as targets (3 is predicted once).
    cm = confusion_matrix([0, 0, 1, 1, 1], [0, 3, 1, 1, 0], 4)
    np.testing.assert_array_equal(cm, [[1, 0, 0, 1], [1, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    acc = class_accuracies(cm)
    assert acc[0] == 0.5 and acc[1] == pytest.approx(2 / 3) and np.isnan(acc[2]) and np.isnan(acc[3])
    assert mean_class_accuracy(cm) == pytest.approx(7 / 12)  # (1/2 + 2/3) / 2
    assert mean_class_accuracy(cm, over="all") == pytest.approx(7 / 24)  # (1/2 + 2/3 + 0 + 0) / 4
    assert overall_accuracy(cm) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="over"):
        mean_class_accuracy(cm, over="some")


def test_empty_confusion_matrix_is_nan():
    cm = confusion_matrix([], [], 2)
    np.testing.assert_array_equal(cm, np.zeros((2, 2)))
    assert math.isnan(mean_class_accuracy(cm)) and math.isnan(overall_accuracy(cm))


def test_topk_accuracy_hand_example():
    logits = np.array([
        [0.0, 5.0, 4.0, 3.0, 2.0, 1.0],  # target 5 ranks 5th -> top-5 hit, top-1 miss
        [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],  # target 5 ranks 6th -> miss
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # target 1 tied with class 0, ties to the lower index -> rank 2
    ])
    targets = [5, 5, 1]
    assert topk_accuracy(targets, logits, k=5) == pytest.approx(2 / 3)
    assert topk_accuracy(targets, logits, k=1) == 0.0
    assert topk_accuracy(targets, logits, k=2) == pytest.approx(1 / 3)


def test_aggregate_windows_numpy_and_torch():
    # clip 7 has 3 windows, clip 3 has 1.
    clip_index = [7, 3, 7, 7]
    logits = [[1.0, 0.0], [5.0, 5.0], [2.0, 3.0], [6.0, -3.0]]
    # clip 3: [5, 5]; clip 7: ([1, 0] + [2, 3] + [6, -3]) / 3 = [9/3, 0/3] = [3, 0]. Sorted by id: 3, 7.
    ids, mean = aggregate_windows(np.array(clip_index), np.array(logits))
    np.testing.assert_array_equal(ids, [3, 7])
    np.testing.assert_allclose(mean, [[5.0, 5.0], [3.0, 0.0]])

    ids_t, mean_t = aggregate_windows(torch.tensor(clip_index), torch.tensor(logits, dtype=torch.float32))
    assert isinstance(mean_t, torch.Tensor) and mean_t.dtype == torch.float32
    assert ids_t.tolist() == [3, 7]
    torch.testing.assert_close(mean_t, torch.tensor([[5.0, 5.0], [3.0, 0.0]]))

    with pytest.raises(ValueError, match="N = len"):
        aggregate_windows([0, 1], np.zeros((3, 2)))


def test_action_report_from_logits():
    # Logits whose argmax is PREDS; the target is always 2nd or better, so top-5 (capped at 3 classes) is 100 %.
    logits = np.eye(3)[PREDS] * 2.0
    report = action_report(TARGETS, logits, 3, class_names=["cut", "open", "take"])
    assert report.mean_class_accuracy == pytest.approx(100 * 5 / 9)  # 55.56 %
    assert report.overall_accuracy == pytest.approx(100 * 4 / 7)  # 57.14 %
    assert report.top5_accuracy == 100.0
    assert report.confusion == CM
    assert report.per_class[0] == {"index": 0, "name": "cut", "support": 3, "accuracy": pytest.approx(200 / 3)}
    assert [c["support"] for c in report.per_class] == [3, 2, 2]
    assert json.loads(report.to_json())["confusion"] == CM


def test_action_report_from_predictions_with_absent_class_is_strict_json():
    report = action_report([0, 0, 1], [0, 1, 1], 3)
    assert report.top5_accuracy is None
    # class 0: 1/2, class 1: 1/1, class 2 absent -> mean (50 + 100) / 2 = 75 %; overall 2/3.
    assert report.mean_class_accuracy == pytest.approx(75.0)
    assert report.overall_accuracy == pytest.approx(200 / 3)
    data = json.loads(report.to_json())
    assert data["per_class"][2] == {"index": 2, "name": "2", "support": 0, "accuracy": None}
    assert action_report([0, 0, 1], [0, 1, 1], 3, over="all").mean_class_accuracy == pytest.approx(50.0)
    with pytest.raises(ValueError, match="class names"):
        action_report([0], [0], 3, class_names=["a"])


# ---------------------------------------------------------------------------------------------------- gaze


def test_cells_and_centres():
    # 2 x 3 grid: (x, y) = (0.5, 0.75) -> col floor(1.5) = 1, row floor(1.5) = 1 -> 1*3 + 1 = 4.
    np.testing.assert_array_equal(xy_to_cells([[0.5, 0.75], [1.0, 1.0], [-0.1, 0.0]], 2, 3), [4, 5, 0])
    np.testing.assert_allclose(cell_centers_xy([4], 2, 3), [[0.5, 0.75]])


def test_cell_accuracy_ignores_missing():
    # slots with target -1 are skipped: 2 correct out of 3 measured.
    assert cell_accuracy([[3, 1, 0], [5, 5, 2]], [[3, -1, 0], [-1, 4, 2]]) == pytest.approx(3 / 4)
    assert cell_accuracy([1, 2], [1, -1]) == 1.0
    assert math.isnan(cell_accuracy([1, 2], [-1, -1]))


def test_aae_centre_to_right_edge_is_half_fov():
    # d = (W/2) / tan 30 deg; the right-edge centre is W/2 pixels off-axis: atan((W/2) / d) = 30 deg exactly.
    err = angular_error_deg([[0.5, 0.5]], [[1.0, 0.5]], 640, 480)
    assert err.mean == pytest.approx(30.0, abs=1e-9)
    assert angular_error_deg([[0.5, 0.5]], [[0.0, 0.5]], 224, 224, fov_deg=90.0).mean == pytest.approx(45.0)


def test_aae_vertical_uses_the_same_focal_distance():
    # (0.5, 1.0) on 640x480: 240 px below the centre, d = 320 / tan 30 = 320*sqrt(3): atan(0.75 / sqrt 3) = 23.413 deg.
    err = angular_error_deg([[0.5, 0.5]], [[0.5, 1.0]], 640, 480)
    assert err.mean == pytest.approx(23.41322444637054)


def test_aae_symmetric_zero_and_per_point(rng):
    a, b = rng.uniform(0, 1, (20, 2)), rng.uniform(0, 1, (20, 2))
    ab, ba = angular_error_deg(a, b, 640, 480), angular_error_deg(b, a, 640, 480)
    np.testing.assert_allclose(ab.per_point, ba.per_point)
    assert ab.per_point.shape == (20,) and ab.mean == pytest.approx(ab.per_point.mean())
    assert np.all(angular_error_deg(a, a, 640, 480).per_point == 0.0)
    # Rays start at the image centre (not the corner, a bug elsewhere): corner (0, 0) vs centre on a square frame,
    # ray (-1, -1, sqrt 3) vs (0, 0, 1) in units of W/2: acos(sqrt(3/5)) = 39.2315 deg.
    assert angular_error_deg([[0, 0]], [[0.5, 0.5]], 100, 100).mean == pytest.approx(39.23152048359226)
    assert math.isnan(angular_error_deg(np.zeros((0, 2)), np.zeros((0, 2)), 640, 480).mean)
    with pytest.raises(ValueError, match="finite"):
        angular_error_deg([[np.nan, 0.5]], [[0.5, 0.5]], 640, 480)


def test_auc_peak_constant_minimum_and_ties():
    fix = [[0.5, 0.5]]  # the centre cell (1, 1) of a 3 x 3 map
    peak = np.zeros((1, 3, 3))
    peak[0, 1, 1] = 1.0
    assert heatmap_auc(peak, fix) == 1.0
    assert heatmap_auc(np.full((1, 3, 3), 0.2), fix) == 0.5  # all 8 negatives tied: 0.5 * 8 / 8
    minimum = np.ones((1, 3, 3))
    minimum[0, 1, 1] = 0.0
    assert heatmap_auc(minimum, fix) == 0.0
    # positive 0.5; 4 cells below (0.1), 2 tied (0.5), 2 above (0.9): (4 + 0.5 * 2) / 8 = 5/8.
    ties = np.array([[[0.1, 0.1, 0.9], [0.5, 0.5, 0.5], [0.1, 0.1, 0.9]]])
    assert heatmap_auc(ties, fix) == pytest.approx(5 / 8)
    # mean over frames: (1 + 5/8) / 2 = 13/16; invariant to a monotone transform (log).
    both = np.concatenate([peak + 0.01, ties])
    assert heatmap_auc(both, fix * 2) == pytest.approx(13 / 16)
    assert heatmap_auc(np.log(both), fix * 2) == pytest.approx(13 / 16)


def test_f1_hand_example_3x3():
    maps = np.array([
        # frame A, max 1: cells >= 0.5 are (1,0)=0.6, (1,1)=1.0, (2,1)=0.5 -> 3 predicted; fixation (1,1) -> TP 1, FP 2
        [[0.1, 0.2, 0.1], [0.6, 1.0, 0.3], [0.0, 0.5, 0.1]],
        # frame B, max 4 -> normalised (0,0)=0.5, (2,2)=1: 2 predicted; fixation (0,1) missed -> FP 2, FN 1
        [[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 4.0]],
    ])
    fixations = [[0.5, 0.5], [0.5, 0.1]]
    # TP 1, FP 4, FN 1: P = 1/5, R = 1/2, F1 = 2 * 0.2 * 0.5 / 0.7 = 2/7.
    prf = heatmap_precision_recall_f1(maps, fixations)
    assert prf.precision == pytest.approx(0.2) and prf.recall == pytest.approx(0.5)
    assert prf.f1 == pytest.approx(2 / 7)
    assert heatmap_f1(maps, fixations) == pytest.approx(2 / 7)
    # threshold 0.55: frame A predicts (1,0), (1,1) -> TP 1, FP 1; frame B predicts (2,2) -> FP 1, FN 1.
    # P = 1/3, R = 1/2, F1 = 2 * (1/6) / (5/6) = 2/5.
    assert heatmap_f1(maps, fixations, threshold=0.55) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="probabilities"):
        heatmap_f1(maps - 1.0, fixations)


def _tiny_gaze_example():
    # N = 1 clip, T' = 3 slots, 2 x 2 grid; cell = row * 2 + col.
    logits = np.array([[
        [[2.0, 0.0], [0.0, 0.0]],  # slot 0: argmax cell 0, truth cell 0 (correct)
        [[0.0, 1.0], [3.0, 0.0]],  # slot 1: argmax cell 2, truth cell 1 (wrong)
        [[9.0, 0.0], [0.0, 0.0]],  # slot 2: no fixation (-1), ignored
    ]])
    cells = np.array([[0, 1, -1]])
    return logits, cells


def test_gaze_report_tiny_hand_example():
    logits, cells = _tiny_gaze_example()
    report = gaze_report(logits, cells, frame_size=(224, 224))
    assert report.n_slots == 2
    assert report.cell_accuracy == pytest.approx(50.0)
    # AUC: slot 0, score 2 above all 3 negatives -> 1; slot 1, score 1 above 2 zeros, below the 3 -> 2/3.
    assert report.auc == pytest.approx((1 + 2 / 3) / 2)  # 5/6
    # softmax normalised to max: slot 0 -> [1, e^-2, e^-2, e^-2]: only cell 0 >= 0.5 (TP);
    # slot 1 -> [e^-3, e^-2, 1, e^-3]: only cell 2 (FP), cell 1 missed (FN). P = R = F1 = 1/2.
    assert (report.precision, report.recall, report.f1) == pytest.approx((0.5, 0.5, 0.5))
    # AAE: slot 0 is exact (0 deg). Slot 1: predicted centre (0.25, 0.75), true centre (0.75, 0.25); in units of W/2
    # on a square frame the rays are (-0.5, 0.5, sqrt 3) and (0.5, -0.5, sqrt 3): cos = 2.5 / 3.5 = 5/7,
    # acos(5/7) = 44.4153 deg. Mean over the 2 slots = 22.2077 deg.
    assert report.aae_deg == pytest.approx(44.415308597192976 / 2)
    data = json.loads(report.to_json())
    assert data["n_slots"] == 2 and data["cell_accuracy"] == pytest.approx(50.0)


def test_gaze_report_with_points_and_tensors():
    logits, cells = _tiny_gaze_example()
    # measured points inside the true cells; NaN where there is no fixation is fine.
    xy = np.array([[[0.25, 0.25], [0.75, 0.25], [np.nan, np.nan]]])
    report = gaze_report(torch.tensor(logits), torch.tensor(cells), torch.tensor(xy), frame_size=(224, 224))
    assert report.aae_deg == pytest.approx(44.415308597192976 / 2)  # the same points as the cell centres here
    xy[0, 0] = [0.5, 0.5]  # slot 0 truth now the image centre; prediction (0.25, 0.25): (-0.5, -0.5, sqrt 3) vs axis
    # acos(sqrt 3 / sqrt 3.5) = 22.2077 deg -> mean (22.2077 + 44.4153) / 2
    report = gaze_report(logits, cells, xy, frame_size=(224, 224))
    assert report.aae_deg == pytest.approx((math.degrees(math.acos(math.sqrt(3 / 3.5))) + 44.415308597192976) / 2)
    with pytest.raises(ValueError, match="gaze_cell"):
        gaze_report(logits, np.array([[0, 4, -1]]), frame_size=(224, 224))


def test_gaze_report_without_fixations_is_nan_and_null():
    logits, _ = _tiny_gaze_example()
    report = gaze_report(logits, np.full((1, 3), -1), frame_size=(224, 224))
    assert report.n_slots == 0 and math.isnan(report.cell_accuracy) and math.isnan(report.aae_deg)
    data = json.loads(report.to_json())
    assert data["n_slots"] == 0
    assert all(data[k] is None for k in ("cell_accuracy", "aae_deg", "auc", "precision", "recall", "f1"))
