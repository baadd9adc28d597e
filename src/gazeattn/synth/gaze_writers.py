"""The synthetic world's gaze in the formats other than BeGaze (``gazeattn synth --layout generic --gaze-format``):
Project Aria MPS eye gaze, Ego-Exo4D 2D gaze and Ego4D gaze, each written from the world's true per-frame gaze so
that :mod:`gazeattn.data.gaze_formats` reads back the same positions.

The true per-frame gaze (:func:`true_frame_table`) is the table the BeGaze world reads: the clean per-frame table
of :mod:`gazeattn.data.begaze` of the simulated samples at the two decimals the BeGaze writer writes, on the
video's frames (24 fps). A frame *has gaze* in it when its type is FIXATION, SACCADE or TRUNCATED (a measured
point); UNTRACKED frames and OTHER frames (blinks, tracker lost: no measurement) have none. Every writer puts a
frame with gaze at its position and a frame without gaze as its format marks a sample without gaze. The formats
carry no eye-movement labels, so a frame read back is FIXATION (its point in the frame) or TRUNCATED (outside it):
BeGaze's SACCADE frames read as FIXATION, its OTHER frames as UNTRACKED, and the rare BeGaze TRUNCATED frame whose
out-of-frame samples average to a point inside the frame (samples beyond opposite sides) as FIXATION.

Files, in ``gaze/`` (``<stem>``: the video's stem), besides ``<stem>.toml`` (``format = "..."``):

- ``aria-mps``: ``<stem>.csv``, an MPS ``general_eye_gaze.csv`` in the Gen1 layout: one row per frame with gaze,
  at the frame's capture time (µs of the device clock), yaw/pitch of the point that lands on the frame's pixel at
  :data:`ARIA_DEPTH_M` (``depth_m`` empty, as in the real Gen1 files: the reader's default depth, 1 m, is that
  depth); a frame without gaze has no row (the reader refuses NaN angles; real MPS files have one row per eye
  camera frame and no blink flag, so a gap in the rows is how missing gaze appears). ``<stem>.calibration.json``:
  the synthetic camera of :func:`synthetic_aria_camera`. ``<stem>.frame_times.csv``:
  ``frame_index,capture_timestamp_ns`` of every video frame, frame i at ``t0 + round(i * 1e9 / fps)`` ns.
  Points whose ray the fisheye cannot represent (beyond 90 degrees: never for the world's out-of-frame points,
  which lie within 0.25 of a frame side) would have no row.
- ``egoexo4d``: ``<stem>.csv`` with the documented columns ``x, y``: pixels of the 1408 x 1408 frame the reader
  normalises by (x * 1408, y * 1408 of the normalised position: the aspect of the video does not matter), one row
  per 10 Hz sample, row k at k / 10 s taking the frame nearest to it, ``round(k * fps / 10)``; a row without gaze
  has empty x and y. Read back, frame i takes the row nearest to it (within 50 ms): the 10 Hz sampling, not the
  writer, makes frames take a neighbour's gaze (at 24 fps, frame i reads frame ``round(round(i * 10 / 24) * 2.4)``).
- ``ego4d``: ``<stem>.csv`` with Ego4D's documented columns, one row per video frame at
  ``canonical_timestamp_s = i / fps`` (the video's rate; real files are at about 200 Hz), ``norm_pos_x = x``,
  ``norm_pos_y = 1 - y`` (origin bottom-left), ``world_index = i``, ``confidence`` 1; a frame without gaze has
  empty norm_pos and confidence 0. The columns Ego4D leaves unpopulated are empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from gazeattn.data.begaze import (EVENT_BLINK, EVENT_FIXATION, EVENT_NONE, EVENT_SACCADE, FIXATION, SACCADE,
                                  TRUNCATED, BegazeSamples, clean_table)
from gazeattn.data.gaze_formats import aria_mps, egoexo4d
from gazeattn.data.gaze_formats.aria_calibration import (AriaCamera, cad_t_cpf_sensor, device_calibration_json,
                                                         invert)
from gazeattn.data.gaze_formats.fisheye624 import Fisheye624
from gazeattn.synth.begaze_writer import written_px

ARIA_DEPTH_M = aria_mps.DEFAULT_DEPTH_M  # the depth the yaw/pitch are computed at (the reader's default)
ARIA_BUILD = "DVT-S"
# Aria Gen1's RGB camera (the real device calibration in tests/data/aria/aea_snippet): f / image side, and the
# FISHEYE624 distortion terms (k0..k5, p0, p1, s0..s3: in normalised units, so they hold at any image size)
ARIA_F_PER_SIDE = 607.0129968791215 / 1408
ARIA_K = (0.4049855059199108, -0.4960655170834019, 0.2366889743579386, 0.9948191490966187, -1.573948083968366,
          0.6086728193625544)
ARIA_P = (-0.0003672190538065101, -0.0007413905358394097)
ARIA_S = (-0.0005839984838196491, -0.0002193412417918993, 0.0001936268547567258, -0.0002042473404798113)
ARIA_HEADER = ("tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf,yaw_low_rads_cpf,pitch_low_rads_cpf,"
               "yaw_high_rads_cpf,pitch_high_rads_cpf,depth_m,session_uid")
EGO4D_HEADER = ("component_idx,component_timestamp_s,canonical_timestamp_s,world_index,confidence,norm_pos_x,"
                "norm_pos_y,base_data,gaze_point_3d_x,gaze_point_3d_y,gaze_point_3d_z,eye_center0_3d_x,"
                "eye_center0_3d_y,eye_center0_3d_z,gaze_normal0_x,gaze_normal0_y,gaze_normal0_z,eye_center1_3d_x,"
                "eye_center1_3d_y,eye_center1_3d_z,gaze_normal1_x,gaze_normal1_y,gaze_normal1_z")
_EVENT_CODE = {"Fixation": EVENT_FIXATION, "Saccade": EVENT_SACCADE, "Blink": EVENT_BLINK, "-": EVENT_NONE}


@dataclass(frozen=True, eq=False)
class Recording:
    """One video's true gaze and what a writer needs to place it."""

    stem: str
    table: np.ndarray  # float32 (n_frames, 3): x / width, y / height, type (true_frame_table)
    fps: float
    width: int  # of the video
    height: int
    t0_ns: int  # the device clock's time of frame 0 (aria-mps)

    @property
    def has_gaze(self) -> np.ndarray:
        """(n_frames,) bool: a measured point (FIXATION, SACCADE or TRUNCATED)."""
        return np.isin(self.table[:, 2], (FIXATION, SACCADE, TRUNCATED))


def true_frame_table(gaze: dict[str, np.ndarray], n_frames: int) -> np.ndarray:
    """The per-frame table (float32 ``(n_frames, 3)``) that BeGaze's clean reader gives for the simulated samples
    ``gaze`` (:func:`~gazeattn.synth.gaze.simulate_gaze`) written as the BeGaze writer writes them."""
    n = len(gaze["frame"])
    samples = BegazeSamples(path="", version=1, time_us=np.arange(n, dtype=np.int64),
                            x_px=written_px(gaze["x"] * 1280), y_px=written_px(gaze["y"] * 960),
                            frame=np.asarray(gaze["frame"], dtype=np.int64),
                            event=np.array([_EVENT_CODE[e] for e in gaze["event"]], dtype=np.uint8),
                            line=np.arange(n, dtype=np.int64))
    table = clean_table(samples) if n else np.zeros((0, 3), np.float32)
    out = np.zeros((n_frames, 3), dtype=np.float32)
    m = min(n_frames, table.shape[0])
    out[:m] = table[:m]
    return out


def synthetic_aria_camera(width: int, height: int) -> AriaCamera:
    """An Aria-like RGB camera whose upright image is ``width`` x ``height`` (the synthetic video): Aria Gen1's
    FISHEYE624 RGB camera scaled so that its 1408-pixel side becomes the video's longer side (focal length
    607.0 px * side / 1408; the same distortion terms, so the same field of view, about 110 degrees across that
    side), principal point at the centre of the raw image, which is the upright one turned back (``height`` x
    ``width``); the camera's pose in the device frame and the CPF are the CAD's of a DVT-S device (the real
    calibration's pose is 1.1 degrees from it)."""
    f = ARIA_F_PER_SIDE * max(width, height)
    raw_w, raw_h = height, width  # the raw image is the upright one turned 90 degrees counter-clockwise
    model = Fisheye624(fx=f, fy=f, cx=(raw_w - 1) / 2, cy=(raw_h - 1) / 2, k=ARIA_K, p=ARIA_P, s=ARIA_S)
    t_device_cpf = invert(cad_t_cpf_sensor(ARIA_BUILD, "camera-slam-left"))
    return AriaCamera(label="camera-rgb", model=model, width=raw_w, height=raw_h,
                      t_device_camera=t_device_cpf @ cad_t_cpf_sensor(ARIA_BUILD, "camera-rgb"),
                      t_device_cpf=t_device_cpf)


def _write(path: Path, lines: list[str], written: list[Path]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    written.append(path)


def write_aria_mps(gaze_dir: Path, rec: Recording, written: list[Path]) -> int:
    """The Aria MPS files of ``rec`` (module docstring); the number of gaze rows."""
    camera = synthetic_aria_camera(rec.width, rec.height)
    n = rec.table.shape[0]
    times_ns = rec.t0_ns + np.round(np.arange(n) * 1e9 / rec.fps).astype(np.int64)
    frames = np.flatnonzero(rec.has_gaze)
    px = rec.table[frames, :2].astype(np.float64) * (rec.width, rec.height)
    with np.errstate(invalid="ignore"):
        yaw, pitch = camera.pixel_to_yaw_pitch(px, ARIA_DEPTH_M, upright=True)
        ok = (np.abs(yaw) < aria_mps.MAX_ABS_ANGLE) & (np.abs(pitch) < aria_mps.MAX_ABS_ANGLE)
    uid = f"synthetic-{rec.stem}"
    rows = [f"{(int(times_ns[i]) + 500) // 1000},{y!r},{p!r},{y!r},{p!r},{y!r},{p!r},,{uid}"
            for i, y, p in zip(frames[ok].tolist(), yaw[ok].tolist(), pitch[ok].tolist())]
    _write(gaze_dir / f"{rec.stem}.csv", [ARIA_HEADER] + rows, written)
    _write(gaze_dir / f"{rec.stem}.frame_times.csv",
           ["frame_index,capture_timestamp_ns"] + [f"{i},{t}" for i, t in enumerate(times_ns.tolist())], written)
    path = gaze_dir / f"{rec.stem}.calibration.json"
    path.write_text(device_calibration_json(camera, build=ARIA_BUILD) + "\n", encoding="utf-8")
    written.append(path)
    return len(rows)


def egoexo4d_source_frames(n_frames: int, fps: float) -> np.ndarray:
    """The video frame each 10 Hz row of an ``egoexo4d`` file is written from: row k at k / 10 s takes frame
    ``round(k * fps / 10)``, rows up to the one nearest the last frame."""
    n_rows = int(np.rint((n_frames - 1) * egoexo4d.GAZE_HZ / fps)) + 1 if n_frames else 0
    return np.minimum(np.rint(np.arange(n_rows) * fps / egoexo4d.GAZE_HZ).astype(np.int64), n_frames - 1)


def write_egoexo4d(gaze_dir: Path, rec: Recording, written: list[Path]) -> int:
    """The Ego-Exo4D 2D gaze file of ``rec`` (module docstring); the number of rows with gaze."""
    source = egoexo4d_source_frames(rec.table.shape[0], rec.fps)
    has = rec.has_gaze[source]
    xy = rec.table[source, :2].astype(np.float64) * (egoexo4d.WIDTH, egoexo4d.HEIGHT)
    rows = [f"{x!r},{y!r}" if h else "," for (x, y), h in zip(xy.tolist(), has.tolist())]
    _write(gaze_dir / f"{rec.stem}.csv", ["x,y"] + rows, written)
    return int(has.sum())


def write_ego4d(gaze_dir: Path, rec: Recording, written: list[Path]) -> int:
    """The Ego4D gaze file of ``rec`` (module docstring); the number of rows with gaze."""
    has = rec.has_gaze
    empty = "," * 16  # base_data .. gaze_normal1_z: unpopulated
    rows = []
    for i, ((x, y), h) in enumerate(zip(rec.table[:, :2].astype(np.float64).tolist(), has.tolist())):
        t = repr(i / rec.fps)
        pos = f"1.0,{x!r},{1.0 - y!r}" if h else "0.0,,"
        rows.append(f"0,{t},{t},{i},{pos}{empty}")
    _write(gaze_dir / f"{rec.stem}.csv", [EGO4D_HEADER] + rows, written)
    return int(has.sum())


GazeWriter = Callable[[Path, Recording, list], int]
GAZE_WRITERS: dict[str, GazeWriter] = {"aria-mps": write_aria_mps, "egoexo4d": write_egoexo4d,
                                       "ego4d": write_ego4d}
GAZE_FORMATS = ("begaze", *GAZE_WRITERS)  # what --gaze-format takes; begaze: the BeGaze writer


def write_recording_gaze(fmt: str, gaze_dir: Path, rec: Recording, written: list[Path]) -> int:
    """``rec``'s gaze in format ``fmt`` (not begaze) and ``gaze/<stem>.toml`` naming it; the rows with gaze."""
    n = GAZE_WRITERS[fmt](gaze_dir, rec, written)
    _write(gaze_dir / f"{rec.stem}.toml", [f'format = "{fmt}"'], written)
    return n
