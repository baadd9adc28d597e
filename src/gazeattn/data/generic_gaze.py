"""One video's gaze in the generic layout: which file, which format, which of the format's keywords, read through
the registry of gaze formats (:data:`gazeattn.data.gaze_formats.FORMATS`: ``begaze``, ``aria-mps``, ``egoexo4d``,
``ego4d``) into the per-video-frame table ``[x / width, y / height, type]`` (float32, one row per video frame).

Files, in ``ROOT/gaze/`` (``<stem>``: the video's stem)::

    <stem>.<ext>                  the gaze file (any extension but the three below); none: no gaze
    <stem>.toml                   optional: format = "aria-mps" and the format's keywords (below)
    <stem>.calibration.json       aria-mps: the device calibration (found without a <stem>.toml key)
    <stem>.frame_times.csv        optional: each video frame's capture time (a capture_timestamp_ns column, in the
                                  gaze file's clock), instead of frame i at start_s + i / fps

The format: ``format`` of ``<stem>.toml``, else ``gaze_format`` of ``ROOT/dataset.toml``, else ``begaze``.
The keywords of ``<stem>.toml`` (:data:`KEYWORDS`; others are an error naming the file): ``calibration`` and
``frame_times`` (paths relative to ``gaze/``), ``start_s`` (the gaze clock's time of video frame 0, seconds;
aria-mps), ``upright`` (aria-mps: the video is the upright image, default true), ``default_depth_m`` (aria-mps),
``min_confidence`` and ``glc_saccades`` (ego4d). Frames: BeGaze files number their own (24 fps) frames; every other
format is put on the video's frames by timestamp at the video's frame rate (or ``frame_times``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from gazeattn.data.gaze_formats import FORMATS
from gazeattn.data.gaze_formats.aria_mps import read_frame_times
from gazeattn.utils.errors import DataError

DEFAULT_FORMAT = "begaze"
SIDE_FILES = (".toml", ".calibration.json", ".frame_times.csv")  # beside a gaze file, never gaze files themselves
KEYWORDS = {"format": str, "calibration": str, "frame_times": str, "start_s": (int, float), "upright": bool,
            "default_depth_m": (int, float), "min_confidence": (int, float), "glc_saccades": bool}


def gaze_file(gaze_dir: Path, stem: str) -> Path | None:
    """``gaze_dir/<stem>.<ext>``, not a side file; None without one; two are an error naming both."""
    if not gaze_dir.is_dir():
        return None
    found = [p for p in sorted(gaze_dir.glob(f"{stem}.*")) if p.is_file() and p.stem == stem
             and not p.name.endswith(SIDE_FILES)]
    if len(found) > 1:
        raise DataError(gaze_dir, f"{len(found)} gaze files for video {stem!r}: {', '.join(p.name for p in found)} "
                                  "(keep one)")
    return found[0] if found else None


def read_settings(path: Path) -> dict:
    """A TOML file's table (``{}`` when absent); unreadable TOML or a key of the wrong type names the file."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise DataError(path, f"cannot read as TOML: {err}") from None
    return data


def check_format(name: object, where: Path) -> str:
    if name not in FORMATS:
        raise DataError(where, f"gaze format {name!r} is not one of {', '.join(FORMATS)}")
    return str(name)


def video_settings(gaze_dir: Path, stem: str, default_format: str) -> tuple[str, dict]:
    """The video's gaze format and its keywords (paths resolved, side files found)."""
    path = gaze_dir / f"{stem}.toml"
    settings = read_settings(path)
    for key, value in settings.items():
        if key not in KEYWORDS:
            raise DataError(path, f"unknown key {key!r} (known: {', '.join(KEYWORDS)})")
        if not isinstance(value, KEYWORDS[key]) or (KEYWORDS[key] != bool and isinstance(value, bool)):
            raise DataError(path, f"{key} has the wrong type ({type(value).__name__}: {value!r})")
    fmt = check_format(settings.pop("format", default_format), path if path.is_file() else gaze_dir)
    for key, suffix in (("calibration", ".calibration.json"), ("frame_times", ".frame_times.csv")):
        if key in settings:
            settings[key] = gaze_dir / settings[key]
        elif (gaze_dir / f"{stem}{suffix}").is_file() and (key != "calibration" or FORMATS[fmt].needs_calibration):
            settings[key] = gaze_dir / f"{stem}{suffix}"
    return fmt, settings


def video_gaze_table(path: Path, fmt: str, settings: dict, *, n_frames: int, fps: float,
                     compat: str = "clean") -> np.ndarray:
    """The table of gaze file ``path`` in format ``fmt`` on a video of ``n_frames`` frames at ``fps``."""
    kwargs = dict(settings)
    if fmt == "begaze":  # its Frame column numbers the scene video's frames itself
        kwargs.update(compat=compat, n_frames=n_frames)
    elif "frame_times" in kwargs:
        times = read_frame_times(kwargs.pop("frame_times"))
        if len(times) != n_frames:
            raise DataError(path, f"{len(times)} frame times for a video of {n_frames} frames")
        kwargs["frame_times_s"] = times
    else:
        kwargs.update(n_frames=n_frames, fps=fps)
    try:
        return FORMATS[fmt].frame_table(path, **kwargs)
    except TypeError as err:  # a keyword this format does not take
        raise DataError(path, f"gaze format {fmt!r}: {err}") from None
