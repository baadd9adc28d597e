"""Gaze readers of the generic layout, by format name: each offers ``frame_table(path, *, n_frames, fps, width,
height, ...)`` → float32 ``(n_frames, 3)`` = ``[x / width, y / height, type]`` per video frame (x, y in the pixels
the format measures in, normalised to [0, 1) of the frame), with the types of :mod:`gazeattn.data.begaze`
(UNTRACKED 0, FIXATION 1, SACCADE 2, OTHER 3, TRUNCATED 4).

:data:`GAZE_READERS` holds BeGaze only, through :class:`BegazeFrames`, a small adapter of
:func:`~gazeattn.data.begaze.parse_begaze`; the registry of every format (``gazeattn.data.gaze_formats.FORMATS``,
same signature) replaces it by one import here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazeattn.data.begaze import UNTRACKED, parse_begaze


class BegazeFrames:
    """An SMI BeGaze export as a per-video-frame table (:func:`~gazeattn.data.begaze.parse_begaze`). The file's
    ``Frame`` column is the video's frame index (BeGaze numbers the scene video's frames, so ``fps`` is not needed)
    and its pixel columns are pixels of the SMI scene camera, 1280 × 960 (``GAZE_RESOLUTION``), normalised by
    it whatever the video's size (as in EGTEA, whose 640 × 480 videos have gaze in 1280 × 960 pixels). Frames past
    the file's last are untracked; rows past ``n_frames`` are dropped."""

    def frame_table(self, path: str | Path, *, n_frames: int, width: int | None = None, height: int | None = None,
                    fps: float | None = None, compat: str = "clean", **_unused) -> np.ndarray:
        table = parse_begaze(path, compat=compat)  # x / 1280, y / 960, type; row = frame
        out = np.zeros((n_frames, 3), np.float32)
        out[:, 2] = UNTRACKED
        n = min(n_frames, len(table))
        out[:n] = table[:n]
        return out


# name -> reader; the gaze_formats registry plugs in here:
#     from gazeattn.data.gaze_formats import FORMATS as GAZE_READERS
GAZE_READERS = {"begaze": BegazeFrames()}
