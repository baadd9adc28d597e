import numpy as np
import pytest

from gazeattn.data.begaze import FIXATION, SACCADE, UNTRACKED
from gazeattn.data.targets import GazeTargetConfig, gaze_targets, grid_shape
from gazeattn.data.transforms import CropFlip, center_crop, random_crop_flip


def _dot_frame(h, w, xy):
    """A frame with one bright 1-pixel dot at the pixel containing normalised point xy."""
    img = np.zeros((1, h, w), np.float32)
    img[0, int(xy[1] * h), int(xy[0] * w)] = 1.0
    return img


def _dot_position(img):
    r, c = np.argwhere(img[0] > 0.5)[0]
    return c, r


@pytest.mark.parametrize("trial", range(20))
def test_crop_and_flip_move_gaze_with_pixels(rng, trial):
    h, w, crop = 60, 80, 48
    plan = random_crop_flip(w, h, crop, rng, flip_prob=0.5)
    # a point that lands inside the crop
    px = rng.integers(plan.x0, plan.x0 + crop)
    py = rng.integers(plan.y0, plan.y0 + crop)
    xy = np.array([(px + 0.5) / w, (py + 0.5) / h])
    out = plan.frames(_dot_frame(h, w, xy))
    col, row = _dot_position(out)
    moved = plan.points(xy[None])[0]
    assert int(moved[0] * crop) == col and int(moved[1] * crop) == row


def test_flip_is_an_involution_and_negates_flow():
    plan = CropFlip(10, 8, 1, 2, 6, 6, flip=True)
    xy = np.array([[0.35, 0.6]])
    twice = CropFlip(6, 6, 0, 0, 6, 6, flip=True).points(plan.points(xy))
    assert np.allclose(twice, CropFlip(10, 8, 1, 2, 6, 6).points(xy))
    flow = np.zeros((1, 8, 10, 2), np.float32)
    flow[..., 0], flow[..., 1] = 0.5, -0.25
    out = plan.flow(flow)
    assert np.all(out[..., 0] == -0.5) and np.all(out[..., 1] == -0.25)


def test_center_crop_and_size_errors():
    plan = center_crop(341, 256, 224)
    assert (plan.x0, plan.y0, plan.width, plan.height, plan.flip) == (58, 16, 224, 224, False)
    with pytest.raises(ValueError, match="larger than the resized frame"):
        center_crop(100, 80, 96)


def test_grid_shape_is_derived():
    assert grid_shape(24, 224, 224) == (3, 7, 7)
    assert grid_shape(16, 112, 112) == (2, 4, 4)
    assert grid_shape(24, 96, 96, (4, 16, 16)) == (6, 6, 6)


def _targets(xy, types, **cfg):
    return gaze_targets(np.asarray(xy, float), np.asarray(types), crop_size=(224, 224), strides=(8, 32, 32),
                        config=GazeTargetConfig(**cfg))


def test_targets_majority_first_and_masking():
    xy = np.full((24, 2), 0.5)
    types = np.full(24, FIXATION)
    xy[0] = [0.01, 0.01]  # first frame of slot 0 in cell 0
    types[8:16] = SACCADE  # slot 1: only saccades
    types[16:] = UNTRACKED
    xy[16:] = [2.0, 2.0]
    out = _targets(xy, types)
    assert out["gaze_target"].shape == (3, 7, 7)
    assert list(out["gaze_mask"]) == [True, False, False]
    assert out["gaze_cell"][0] == 3 * 7 + 3  # majority at the centre cell
    assert _targets(xy, types, reduce="first")["gaze_cell"][0] == 0
    tracked = _targets(xy, types, points="tracked")
    assert list(tracked["gaze_mask"]) == [True, True, False] and tracked["gaze_cell"][1] == 24
    uniform = _targets(xy, types, missing="uniform")
    assert uniform["gaze_mask"].all() and np.allclose(uniform["gaze_target"][2], 1 / 49)
    assert uniform["gaze_cell"][2] == -1
    center = _targets(xy, types, missing="center")
    assert center["gaze_target"][2].argmax() == 24 and np.isclose(center["gaze_target"][2].sum(), 1)


def test_points_outside_crop_do_not_count():
    xy = np.full((24, 2), 1.2)  # outside the crop
    out = _targets(xy, np.full(24, FIXATION))
    assert not out["gaze_mask"].any() and (out["gaze_cell"] == -1).all()


def test_histogram_target_is_a_distribution():
    xy = np.zeros((8, 2))
    xy[:6] = [0.1, 0.1]
    xy[6:] = [0.9, 0.9]
    out = gaze_targets(xy, np.full(8, FIXATION), crop_size=(224, 224), strides=(8, 32, 32),
                       config=GazeTargetConfig(reduce="histogram"))
    t = out["gaze_target"][0].reshape(-1)
    assert np.isclose(t.sum(), 1) and np.isclose(t[0], 0.75) and np.isclose(t[48], 0.25)
