"""Gaze files of several datasets, each read into the one per-frame table that the rest of ``data`` uses.

The contract. Every format in :data:`FORMATS` has a ``frame_table(path, *, n_frames, fps | frame_times_s, ...)``
that returns a float32 array ``(n_frames, 3)``: row i is video frame i, columns x / width, y / height (the gaze
in the frame, normalised: (0, 0) top-left, (1, 1) bottom-right), and the type of :mod:`gazeattn.data.begaze`:
UNTRACKED 0 (no gaze, at (0, 0)), FIXATION 1, SACCADE 2, OTHER 3, TRUNCATED 4 (valid gaze outside the frame,
its unclamped position kept). Formats without fixation/saccade labels (all but BeGaze) give FIXATION to every
tracked in-frame frame. Frames are given by ``fps`` and ``n_frames`` (frame i at i / fps s in the gaze file's
clock; Aria: ``start_s + i / fps``) or by ``frame_times_s`` (one per frame, increasing). Gaze is put on frames by
timestamp (:mod:`~gazeattn.data.gaze_formats.align`: the nearest sample within half the coarser sampling period,
else untracked). ``width``/``height`` exist where the file is in pixels: ``egoexo4d`` (the frame its pixels refer
to, 1408 x 1408 by default) and ``aria-mps`` (a check against the calibration's image); ``ego4d`` is already
normalised and ``begaze`` fixed at 1280 x 960, so they take none. Any malformation of a file is a
:class:`~gazeattn.utils.errors.DataError` naming the file and its 1-based line; a caller's mistake (no fps and no
frame times) is a ValueError.

Formats (name: module, what it reads, its own keywords):

- ``begaze``: :mod:`gazeattn.data.begaze`, SMI BeGaze exports of EGTEA Gaze+ (24 fps session frames; ``compat``);
  ``n_frames`` pads with untracked rows or cuts; ``fps``, when given, must be 24.
- ``aria-mps``: :mod:`~gazeattn.data.gaze_formats.aria_mps`, Project Aria MPS eye gaze (Gen1, Gen1 with
  vergence, Gen2; general or personalized); needs ``calibration`` (the device calibration JSON); ``upright``
  (default True), ``start_s``, ``default_depth_m`` (1.0).
- ``egoexo4d``: :mod:`~gazeattn.data.gaze_formats.egoexo4d`, Ego-Exo4D's projected 2D gaze (1408 x 1408 upright
  pixels at 10 Hz; ``fps`` defaults to 30).
- ``ego4d``: :mod:`~gazeattn.data.gaze_formats.ego4d`, Ego4D gaze CSVs (normalised, y flipped; ``min_confidence``).

:data:`FORMATS` is a :class:`~gazeattn.utils.registry.Registry` (names in registration order; an unknown name is a
ValueError listing the names; it serves as the allowed-value list, e.g. argparse ``choices``); a new format is one
:func:`register_format` call. Use::

    fmt = FORMATS["aria-mps"]
    table = fmt.frame_table(path, n_frames=n, fps=30.0, calibration="device_calibration.json")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gazeattn.data.begaze import FPS as BEGAZE_FPS
from gazeattn.data.begaze import parse_begaze
from gazeattn.data.gaze_formats import aria_mps, ego4d, egoexo4d
from gazeattn.utils.registry import Registry


def begaze_frame_table(path: str | os.PathLike, *, n_frames: int | None = None, fps: float | None = None,
                       frame_times_s: np.ndarray | None = None, compat: str = "clean") -> np.ndarray:
    """:func:`gazeattn.data.begaze.parse_begaze` under the common contract: rows are the export's own 24 fps
    session frames (its ``Frame`` column), padded with untracked rows or cut to ``n_frames`` when given."""
    if frame_times_s is not None:
        raise ValueError("BeGaze exports carry their own frame numbers: give n_frames (and fps=24), not frame times")
    if fps is not None and fps != BEGAZE_FPS:
        raise ValueError(f"BeGaze session frames are at {BEGAZE_FPS} fps, got fps={fps}")
    table = parse_begaze(path, compat=compat)
    if n_frames is None:
        return table
    out = np.zeros((n_frames, 3), dtype=np.float32)
    m = min(n_frames, table.shape[0])
    out[:m] = table[:m]
    return out


@dataclass(frozen=True)
class GazeFormat:
    """A gaze file format: its name, its reader (the contract above) and what it needs."""

    name: str
    frame_table: Callable[..., np.ndarray]
    description: str
    needs_calibration: bool = False  # True: frame_table needs calibration=PATH (the device calibration JSON)


FORMATS: Registry[GazeFormat] = Registry("gaze format")


def register_format(fmt: GazeFormat) -> GazeFormat:
    """Add a format under its name (a ValueError if taken); ``FORMATS`` is also the allowed-value list."""
    return FORMATS.add(fmt.name, fmt)


register_format(GazeFormat("begaze", begaze_frame_table, "SMI BeGaze export (EGTEA Gaze+), 1280x960 px, 24 fps"))
register_format(GazeFormat("aria-mps", aria_mps.frame_table,
                           "Project Aria MPS eye gaze CSV (yaw/pitch in the CPF) + device calibration",
                           needs_calibration=True))
register_format(GazeFormat("egoexo4d", egoexo4d.frame_table,
                           "Ego-Exo4D projected 2D gaze CSV (x, y px of the 1408x1408 upright frame, 10 Hz)"))
register_format(GazeFormat("ego4d", ego4d.frame_table,
                           "Ego4D gaze CSV (norm_pos_x/y, bottom-left origin, timestamps)"))

__all__ = ["FORMATS", "GazeFormat", "begaze_frame_table", "register_format"]
