"""Project Aria Machine Perception Services (MPS) eye gaze: ``general_eye_gaze.csv`` and
``personalized_eye_gaze.csv`` (the same columns; personalized is corrected by the wearer's in-session
calibration), in all three layouts, told apart by the header:

- **Gen1**: ``tracking_timestamp_us, yaw_rads_cpf, pitch_rads_cpf, depth_m`` (+ ``yaw_low/high``,
  ``pitch_low/high``, ``session_uid``); ``depth_m`` is empty or 0 when unknown.
- **Gen1 with vergence**: ``left_yaw_rads_cpf, right_yaw_rads_cpf, pitch_rads_cpf, depth_m`` and the eye origins
  ``tx/ty/tz_left_eye_cpf``, ``tx/ty/tz_right_eye_cpf``; no combined yaw: it is derived from the two rays.
- **Gen2**: ``yaw_rads_cpf, pitch_rads_cpf``, per-eye ``left/right_yaw_rads_cpf`` and ``left/right_pitch_rads_cpf``
  and the eye origins; no depth: the spatial gaze point is the vergence point of the two eye rays.

Angles are radians in the central pupil frame (CPF: x left, y up, z forward from the wearer). A (yaw, pitch) is the
direction ``(tan yaw, tan pitch, 1) / |.|`` (yaw: angle of the ray's projection on the x-z plane with z; pitch: on
the y-z plane), and the gaze point at depth d is d times that unit vector. Timestamps are µs of the device clock
(the clock of the recording's camera frames), read as seconds.

Decoding, exactly as Aria's own library (projectaria_tools ``mps.read_eyegaze``) does:

- Gen1 vergence combined yaw: the two rays from the eyes at x = +-IPD/2 (IPD 63 mm) meet, in the x-z plane, at
  x / z = (tan(left_yaw) + tan(right_yaw)) / 2, so yaw = atan((tan l + tan r) / 2); depth is the file's.
- Gen2 spatial gaze point: per-eye directions ``(sin y cos p, sin p, cos y cos p)`` from the file's eye origins;
  the midpoint of the shortest segment between the two rays, valid unless the rays are closer than 0.75 degrees
  to parallel, diverge or meet behind an eye, miss each other by more than 3 cm, or meet farther than 6 m along
  the mean direction. depth = distance from the eyes' midpoint to that point when valid, else 0 (unknown).
  The rays are ~7 degrees apart, so the solve magnifies float32 rounding ~100-fold: it is computed with the
  library's own roundings (its float32 parse of the per-eye angles and eye origins, glibc's ``sinf``/``cosf``,
  double from there, the point and depth rounded to float32; :mod:`~gazeattn.data.gaze_formats.aria_float32`),
  which reproduces the library's point and depth bit for bit on the sample files. The decoded ``yaw``,
  ``pitch`` and per-eye fields stay the float64 of the file's decimals.

The 3D point used for a pixel (:func:`gaze_points_cpf`): the Gen2 spatial point when valid, else the point along
(yaw, pitch) at the file's depth when it is known (> 0), else at ``default_depth_m`` = 1.0 m: the depth that
Aria's and Ego-Exo4D's tutorials use when depth is missing (``depth_m = eye_gaze.depth or 1.0``). The depth
matters only through parallax: the RGB camera sits about 5 cm from the CPF origin, so a point at 1 m and one at
3 m along the same ray differ by a few pixels.

Pixels and frames (:func:`frame_table`): points go through the device calibration
(:mod:`~gazeattn.data.gaze_formats.aria_calibration`; required: without one the reader stops, it never guesses a
field of view) to pixels of the raw or the upright RGB image, and samples go to video frames by
:mod:`~gazeattn.data.gaze_formats.align`'s nearest-timestamp rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.data.gaze_formats.align import frame_rows, frame_times, nearest_sample
from gazeattn.data.gaze_formats.aria_calibration import AriaCamera, read_device_calibration
from gazeattn.data.gaze_formats.aria_float32 import library_float32, sincosf
from gazeattn.data.gaze_formats.csvfile import CsvRows, non_decreasing, read_rows, require
from gazeattn.utils.errors import DataError

WHAT = "Aria MPS eye gaze"
DEFAULT_DEPTH_M = 1.0
IPD_M = 0.063  # Gen1 vergence: the eyes at x = +-IPD/2
GEN1, GEN1_VERGENCE, GEN2 = "gen1", "gen1-vergence", "gen2"
EYE_COLUMNS = ("tx_left_eye_cpf", "ty_left_eye_cpf", "tz_left_eye_cpf",
               "tx_right_eye_cpf", "ty_right_eye_cpf", "tz_right_eye_cpf")
LAYOUT_COLUMNS = {
    GEN1: ("tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf", "depth_m"),
    GEN1_VERGENCE: ("tracking_timestamp_us", "left_yaw_rads_cpf", "right_yaw_rads_cpf", "pitch_rads_cpf", "depth_m",
                    *EYE_COLUMNS),
    GEN2: ("tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf", "left_yaw_rads_cpf", "right_yaw_rads_cpf",
           "left_pitch_rads_cpf", "right_pitch_rads_cpf", *EYE_COLUMNS),
}
# Gen2 vergence guards (those of the eye-tracking pipeline that writes the files)
VERGENCE_MIN_ANGLE_DEG = 0.75
VERGENCE_MAX_MISS_M = 0.03
VERGENCE_MAX_DEPTH_M = 6.0
MAX_ABS_ANGLE = np.pi / 2  # |yaw|, |pitch| < 90 degrees: the tan convention needs it


@dataclass(frozen=True, eq=False)
class EyeGaze:
    """The rows of one MPS eye-gaze file, decoded (see the module docstring); arrays of one entry per row."""

    path: str
    layout: str  # GEN1, GEN1_VERGENCE or GEN2
    time_us: np.ndarray  # int64, device clock
    yaw: np.ndarray  # float64 rad, CPF (Gen1 vergence: derived)
    pitch: np.ndarray
    depth_m: np.ndarray  # float64; 0 = unknown (as the library: empty fields read as 0)
    spatial_point_cpf: np.ndarray  # (n, 3); zeros where not valid
    spatial_point_valid: np.ndarray  # bool; Gen2 only
    left_yaw: np.ndarray | None = None  # vergence fields, NaN-free where present
    right_yaw: np.ndarray | None = None
    left_pitch: np.ndarray | None = None  # Gen2
    right_pitch: np.ndarray | None = None
    left_eye_cpf: np.ndarray | None = None  # (n, 3)
    right_eye_cpf: np.ndarray | None = None
    lines: np.ndarray | None = None  # 1-based line of each row

    def __len__(self) -> int:
        return int(self.time_us.shape[0])

    @property
    def time_s(self) -> np.ndarray:
        return self.time_us.astype(np.float64) * 1e-6


def detect_layout(rows: CsvRows) -> str:
    """GEN2, GEN1_VERGENCE or GEN1 from the header's columns; DataError (line 1) naming what is missing."""
    has = rows.has
    if has("left_yaw_rads_cpf") and has("right_yaw_rads_cpf"):
        layout = GEN2 if has("left_pitch_rads_cpf") or has("right_pitch_rads_cpf") else GEN1_VERGENCE
    else:
        layout = GEN1
    require(rows, LAYOUT_COLUMNS[layout], what=f"{WHAT} ({layout})")
    return layout


def unit_direction(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit vectors ``(..., 3)`` of (yaw, pitch): (tan yaw, tan pitch, 1) normalised."""
    v = np.stack([np.tan(yaw), np.tan(pitch), np.ones_like(np.asarray(yaw, dtype=np.float64))], axis=-1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _eye_direction(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """The library's eye direction: float32 sin/cos (glibc's) of float32 angles, the products in double."""
    sin_yaw, cos_yaw = (v.astype(np.float64) for v in sincosf(yaw))
    sin_pitch, cos_pitch = (v.astype(np.float64) for v in sincosf(pitch))
    return np.stack([sin_yaw * cos_pitch, sin_pitch, cos_yaw * cos_pitch], axis=-1)


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot product of (n, 3) arrays summed left to right, as Eigen sums a Vector3d's."""
    return (u[:, 0] * v[:, 0] + u[:, 1] * v[:, 1]) + u[:, 2] * v[:, 2]


def vergence_point(left_origin: np.ndarray, left_yaw: np.ndarray, left_pitch: np.ndarray, right_origin: np.ndarray,
                   right_yaw: np.ndarray, right_pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points (n, 3), valid (n,), depth (n,)): the midpoint of the shortest segment between the two eye rays and
    its distance from the eyes' midpoint, with the validity rules of the module docstring and the library's
    arithmetic (inputs taken as float32, as its ``float`` fields hold them; results rounded to float32, returned
    as float64); invalid rows get zeros."""
    inputs = [np.asarray(v, dtype=np.float64).astype(np.float32)
              for v in (left_origin, left_yaw, left_pitch, right_origin, right_yaw, right_pitch)]
    with np.errstate(all="ignore"):  # absurd eye origins (1e300 m) give inf/nan: such rows come out not valid
        return _vergence_point(*inputs)


def _vergence_point(left_origin, left_yaw, left_pitch, right_origin, right_yaw, right_pitch):  # see vergence_point
    d1, d2 = _eye_direction(left_yaw, left_pitch), _eye_direction(right_yaw, right_pitch)
    left_origin, right_origin = left_origin.astype(np.float64), right_origin.astype(np.float64)
    c = np.clip(_dot(d1, d2), -1.0, 1.0)
    denom = 1.0 - c * c
    p12 = left_origin - right_origin
    a, b = _dot(d1, p12), _dot(d2, p12)
    t = (c * b - a) / denom
    s = (b - c * a) / denom
    p_left = left_origin + t[:, None] * d1
    p_right = right_origin + s[:, None] * d2
    point = 0.5 * (p_left + p_right)
    fused = d1 + d2
    fused /= np.maximum(np.sqrt(_dot(fused, fused)), 1e-300)[:, None]
    centre = 0.5 * (left_origin + right_origin)
    miss = p_left - p_right
    valid = ((c <= np.cos(VERGENCE_MIN_ANGLE_DEG * np.pi / 180.0)) & (denom >= 1e-12) & (t >= 0) & (s >= 0)
             & (np.sqrt(_dot(miss, miss)) <= VERGENCE_MAX_MISS_M)
             & (_dot(fused, point - centre) <= VERGENCE_MAX_DEPTH_M))
    depth = np.sqrt(_dot(point - centre, point - centre)).astype(np.float32).astype(np.float64)
    point = point.astype(np.float32).astype(np.float64)
    return np.where(valid[:, None], point, 0.0), valid, np.where(valid, depth, 0.0)


def _angles(rows: CsvRows, name: str) -> np.ndarray:
    v = rows.floats(name)
    bad = np.flatnonzero(np.abs(v) >= MAX_ABS_ANGLE)
    if bad.size:
        k = int(bad[0])
        raise DataError(rows.path, f"column {name!r}: {v[k]!r} rad is not an angle within +-90 degrees",
                        int(rows.lines[k]))
    return v


def _gen2_vergence(rows: CsvRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gen2's (point, valid, depth) from the per-eye fields as the library parses them (float32, its rounding);
    the columns have been checked to hold numbers."""
    lib = {name: library_float32(rows.text(name)) for name in
           ("left_yaw_rads_cpf", "right_yaw_rads_cpf", "left_pitch_rads_cpf", "right_pitch_rads_cpf", *EYE_COLUMNS)}
    eyes = np.stack([lib[c] for c in EYE_COLUMNS], axis=-1)
    return vergence_point(eyes[:, :3], lib["left_yaw_rads_cpf"], lib["left_pitch_rads_cpf"],
                          eyes[:, 3:], lib["right_yaw_rads_cpf"], lib["right_pitch_rads_cpf"])


def read_eye_gaze(path: str | os.PathLike) -> EyeGaze:
    """Read and decode an MPS eye-gaze CSV of any layout; DataError naming the file and line on any malformation
    (see :mod:`~gazeattn.data.gaze_formats.csvfile`), on angles beyond +-90 degrees, negative depths, and
    timestamps that go backwards."""
    rows = read_rows(path, what=WHAT)
    layout = detect_layout(rows)
    time_us = rows.integers("tracking_timestamp_us")
    non_decreasing(rows, time_us, "tracking_timestamp_us")
    pitch = _angles(rows, "pitch_rads_cpf")
    n = len(rows)
    spatial, valid = np.zeros((n, 3)), np.zeros(n, dtype=bool)
    extra: dict = {}
    if layout in (GEN1_VERGENCE, GEN2):
        extra["left_yaw"], extra["right_yaw"] = _angles(rows, "left_yaw_rads_cpf"), _angles(rows, "right_yaw_rads_cpf")
        eyes = np.stack([rows.floats(c) for c in EYE_COLUMNS], axis=-1)
        extra["left_eye_cpf"], extra["right_eye_cpf"] = eyes[:, :3], eyes[:, 3:]
    if layout == GEN1:
        yaw = _angles(rows, "yaw_rads_cpf")
    elif layout == GEN1_VERGENCE:
        yaw = np.arctan(0.5 * (np.tan(extra["left_yaw"]) + np.tan(extra["right_yaw"])))
    else:
        yaw = _angles(rows, "yaw_rads_cpf")
        extra["left_pitch"] = _angles(rows, "left_pitch_rads_cpf")
        extra["right_pitch"] = _angles(rows, "right_pitch_rads_cpf")
        spatial, valid, depth = _gen2_vergence(rows)
    if layout != GEN2:
        depth = rows.floats("depth_m", empty=0.0)
        bad = np.flatnonzero(depth < 0)
        if bad.size:
            k = int(bad[0])
            raise DataError(rows.path, f"column 'depth_m': negative depth {depth[k]!r}", int(rows.lines[k]))
    return EyeGaze(path=rows.path, layout=layout, time_us=time_us, yaw=yaw, pitch=pitch, depth_m=depth,
                   spatial_point_cpf=spatial, spatial_point_valid=valid, lines=rows.lines, **extra)


def gaze_points_cpf(gaze: EyeGaze, *, default_depth_m: float = DEFAULT_DEPTH_M,
                    use_spatial_point: bool = True) -> np.ndarray:
    """The 3D gaze point of each row in the CPF (m): the Gen2 spatial point when valid (and
    ``use_spatial_point``), else the point along (yaw, pitch) at the row's depth when known (> 0), else at
    ``default_depth_m``."""
    depth = np.where(gaze.depth_m > 0, gaze.depth_m, default_depth_m)
    points = unit_direction(gaze.yaw, gaze.pitch) * depth[:, None]
    if use_spatial_point:
        points = np.where(gaze.spatial_point_valid[:, None], gaze.spatial_point_cpf, points)
    return points


def read_frame_times(path: str | os.PathLike) -> np.ndarray:
    """Frame timestamps in seconds (device clock) from a CSV with a ``capture_timestamp_ns`` column (as the
    per-frame timestamps Aria's tools export, e.g. ``frame_index,capture_timestamp_ns``), in file order;
    DataError on malformation or timestamps that do not increase."""
    rows = read_rows(path, what="frame timestamps")
    require(rows, ("capture_timestamp_ns",), what="frame timestamps")
    t = rows.integers("capture_timestamp_ns")
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        raise DataError(rows.path, "capture_timestamp_ns does not increase", int(rows.lines[int(back[0]) + 1]))
    return t.astype(np.float64) * 1e-9


def gaze_pixels(gaze: EyeGaze, camera: AriaCamera, *, upright: bool,
                default_depth_m: float = DEFAULT_DEPTH_M) -> np.ndarray:
    """Pixels ``(n, 2)`` of each row's gaze point in the camera's raw or upright image (NaN behind the camera)."""
    with np.errstate(all="ignore"):  # absurd depths or eye origins: inf/nan pixels, which the table drops
        return camera.project_cpf(gaze_points_cpf(gaze, default_depth_m=default_depth_m), upright=upright)


def frame_table(path: str | os.PathLike, *, calibration: str | os.PathLike | AriaCamera | None = None,
                n_frames: int | None = None, fps: float | None = None, frame_times_s: np.ndarray | None = None,
                start_s: float = 0.0, upright: bool = True, default_depth_m: float = DEFAULT_DEPTH_M,
                max_gap_s: float | None = None, width: int | None = None, height: int | None = None) -> np.ndarray:
    """The per-frame gaze table (float32 ``(n_frames, 3)``: x / width, y / height, type) of an MPS eye-gaze file
    on the frames of an RGB video.

    ``calibration``: the device calibration JSON (or an :class:`AriaCamera`); required. Frames: ``frame_times_s``
    in the gaze file's clock (e.g. :func:`read_frame_times`), or ``fps`` and ``n_frames`` with frame i at
    ``start_s + i / fps`` s of that clock. ``upright``: pixels of the video rotated 90 degrees clockwise (as
    datasets publish it) or of the raw sensor image. ``width``/``height``, when given, must equal that image's
    size (a check that the video is the camera's). Alignment: :mod:`~gazeattn.data.gaze_formats.align`. Frames
    that all lie before or after the gaze are a DataError (clocks that do not match), not an untracked table."""
    if calibration is None:
        raise DataError(path, "Aria eye gaze needs the device calibration (--calibration "
                              "device_calibration.json) to put gaze on pixels; no field of view is assumed")
    camera = calibration if isinstance(calibration, AriaCamera) else read_device_calibration(calibration)
    w, h = camera.image_size(upright)
    if (width is not None and width != w) or (height is not None and height != h):
        raise DataError(path, f"the video is {width}x{height} but the calibration's "
                              f"{'upright ' if upright else ''}image is {w}x{h}")
    gaze = read_eye_gaze(path)
    t = frame_times(n_frames=n_frames, fps=fps, frame_times_s=frame_times_s, start_s=start_s)
    px = gaze_pixels(gaze, camera, upright=upright, default_depth_m=default_depth_m)
    index = nearest_sample(gaze.time_s, t, max_gap_s)
    g0, g1 = gaze.time_s[0], gaze.time_s[-1]
    if t.size and not (index >= 0).any() and (t[-1] < g0 or t[0] > g1):
        raise DataError(path, f"the video's frames ({t[0]:.3f} .. {t[-1]:.3f} s) and the gaze ({g0:.3f} .. "
                              f"{g1:.3f} s of the device clock) do not overlap: give the frames' capture "
                              "timestamps (frame_times_s, --frame-times) or the time of frame 0 (start_s, --start)")
    return frame_rows(index, px[:, 0], px[:, 1], np.ones(len(gaze), dtype=bool), width=w, height=h)
