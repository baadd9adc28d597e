"""Where the wearer truly attends, from a synthetic world's ``synth_truth.json``, on the model's gaze grid.

Only evaluation reads this (training never does: the model must not see the truth). A world root without the
file (every real dataset) has no truth: :func:`read_truth` returns None. The truly attended object of a clip is
the acted-on object (the truth's ``target``), during the action proper (``action_frames`` [a0, a1)); its centre
per clip frame is normalised to the full frame, as gaze points are, so the crop that moves gaze
(:class:`gazeattn.data.transforms.CropFlip`) moves it too.

The truth cell of a slot is found exactly as a measured gaze cell is (:func:`gazeattn.data.targets.gaze_targets`
with the ``majority`` reduce): the most frequent cell of the target's centre over the slot's frames that lie in
the action and inside the crop, ties to the earliest; −1 when the slot has no such frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.data.begaze import FIXATION, UNTRACKED
from gazeattn.data.targets import GazeTargetConfig, gaze_targets
from gazeattn.data.transforms import CropFlip
from gazeattn.utils.errors import DataError

TRUTH_NAME = "synth_truth.json"  # the synthetic world's ground truth, beside the EGTEA folders
_MAJORITY = GazeTargetConfig(points="fixation", reduce="majority", missing="mask")


@dataclass(frozen=True)
class ClipTruth:
    """One clip's attended object: ``target_xy`` (n_frames, 2) normalised full-frame centres, ``action_frames``
    [a0, a1) clip frames of the action proper."""

    target_xy: np.ndarray
    action_frames: tuple[int, int]

    def slot_cells(self, start: int, frames: int, plan: CropFlip, strides: tuple[int, int, int]) -> np.ndarray:
        """(T',) truth cell of each slot of the window of ``frames`` clip frames from ``start`` seen through
        ``plan`` (−1: no action frame in the crop). Frames past the clip's end repeat its last frame, as the
        dataset pads pixels."""
        clip_frames = start + np.arange(frames)
        a0, a1 = self.action_frames
        types = np.where((clip_frames >= a0) & (clip_frames < a1), FIXATION, UNTRACKED)
        xy = plan.points(self.target_xy[np.minimum(clip_frames, len(self.target_xy) - 1)])
        crop = (plan.height, plan.width)
        return gaze_targets(xy, types, crop_size=crop, strides=strides, config=_MAJORITY)["gaze_cell"]


def read_truth(root: str | Path) -> dict[str, ClipTruth] | None:
    """Clip name → :class:`ClipTruth` from ``root/synth_truth.json``; None when the file is absent. A file that
    is not such a truth raises :class:`DataError` naming it."""
    path = Path(root) / TRUTH_NAME
    if not path.is_file():
        return None
    try:
        clips = json.loads(path.read_text(encoding="utf-8"))["clips"]
        out = {}
        for name, clip in clips.items():
            xy = np.asarray(clip["target"]["centre"], dtype=np.float64)
            a0, a1 = (int(v) for v in clip["action_frames"])
            if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0 or not np.isfinite(xy).all():
                raise ValueError(f"clip {name}: target centre must be a non-empty list of finite [x, y]")
            out[name] = ClipTruth(xy, (a0, a1))
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(path, f"is not a synthetic world's truth ({type(err).__name__}: {err})") from None
