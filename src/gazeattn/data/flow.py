"""Frame and optical-flow extraction into the reference's frame folders (``gazeattn prepare``).

For each ``ROOT/cropped_clips/<session>/<clip>.mp4``::

    FRAMES/images_rgb/<clip>/%04d.jpg          N frames, resized to 340×256 by default (1-based names)
    FRAMES/images_flow/<clip>/{u,v}/%04d.jpg   N − 1 flow fields: file i is the flow from frame i to i + 1

Flow is computed on the resized frames in grey (TV-L1 by default, as the reference's data; Farneback as a
faster option), clipped to ±``bound`` pixels (20) and stored as 8-bit grey JPEGs with q = round((f + bound)·255
/ (2·bound)), so 0 ↦ −bound, 255 ↦ +bound and the dataset's x·2/255 − 1 gives f / bound in [−1, 1].

Resumable: each clip is written to a hidden temp folder beside its final folder and renamed when complete, so
a folder that exists is complete and a rerun skips it. JPEGs are written with PyAV's mjpeg encoder. Flow needs
OpenCV (``pip install opencv-contrib-python-headless``: TV-L1 lives in the contrib ``optflow`` module), an
optional extra; frames alone do not.
"""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
from av.video.reformatter import VideoReformatter
import numpy as np

from gazeattn.utils.errors import DataError

__all__ = ["FLOW_METHODS", "FlowUnavailable", "PrepareConfig", "flow_function", "quantize_flow", "write_jpeg",
           "decode_resized", "prepare_clip", "list_clips", "clip_done"]

FLOW_METHODS = ("tvl1", "farneback", "none")
OPENCV_PACKAGE = "opencv-contrib-python-headless"

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # grey (H, W) uint8 ×2 -> (H, W, 2) float32 pixels


class FlowUnavailable(RuntimeError):
    """OpenCV (or its contrib TV-L1) is missing; the message names the pip package to install."""


@dataclass(frozen=True)
class PrepareConfig:
    size: tuple[int, int] = (340, 256)  # (width, height) of the stored frames
    flow: str = "tvl1"
    bound: float = 20.0
    quality: int = 2  # mjpeg qscale (2 = best)

    def __post_init__(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise ValueError(f"flow must be one of {FLOW_METHODS}, got {self.flow!r}")
        if self.bound <= 0 or min(self.size) < 2:
            raise ValueError(f"bad prepare config: size {self.size}, bound {self.bound}")


def flow_function(method: str) -> FlowFn:
    """A ``(prev_grey, next_grey) -> (H, W, 2)`` flow in pixels, from OpenCV. Raises :class:`FlowUnavailable`."""
    try:
        import cv2  # noqa: PLC0415 -- optional extra
    except ImportError as err:
        raise FlowUnavailable(f"optical flow needs OpenCV: pip install {OPENCV_PACKAGE}") from err
    cv2.setNumThreads(1)  # parallelism comes from --workers
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    if method == "tvl1":
        if not hasattr(cv2, "optflow"):
            raise FlowUnavailable(f"TV-L1 flow needs OpenCV's contrib modules: pip install {OPENCV_PACKAGE} "
                                  "(or use --flow farneback)")
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: tvl1.calc(a, b, None)
    raise ValueError(f"unknown flow method {method!r}")


def quantize_flow(flow: np.ndarray, bound: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 2) float flow in pixels → (u, v) uint8 images, ±bound ↦ 0..255."""
    q = np.round((np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound)))
    q = q.astype(np.uint8)
    return np.ascontiguousarray(q[..., 0]), np.ascontiguousarray(q[..., 1])


class _JpegWriter:
    """JPEG files from uint8 RGB (H, W, 3) or grey (H, W) arrays with PyAV's mjpeg encoder."""

    def __init__(self, width: int, height: int, quality: int):
        self.ctx = av.CodecContext.create("mjpeg", "w")
        self.ctx.width, self.ctx.height = width, height
        self.ctx.pix_fmt = "yuvj444p"  # full-range: a grey image keeps its exact luma
        self.ctx.time_base = Fraction(1, 24)
        self.ctx.qmin = self.ctx.qmax = quality
        self.pts = 0

    def write(self, path: Path, image: np.ndarray) -> None:
        fmt = "gray" if image.ndim == 2 else "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt).reformat(format="yuvj444p")
        frame.pts = self.pts
        self.pts += 1
        path.write_bytes(b"".join(bytes(p) for p in self.ctx.encode(frame)))


def write_jpeg(path: str | Path, image: np.ndarray, quality: int = 2) -> None:
    """One JPEG (RGB (H, W, 3) or grey (H, W) uint8)."""
    _JpegWriter(image.shape[1], image.shape[0], quality).write(Path(path), image)


def decode_resized(video: Path, size: tuple[int, int]):
    """Yield the video's frames as uint8 RGB (H, W, 3) at ``size`` = (width, height)."""
    reformatter = VideoReformatter()  # one scaler context for the whole clip (see gazeattn.data.video)
    try:
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                yield reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24",
                                           interpolation="BILINEAR").to_ndarray()
    except (av.FFmpegError, OSError) as err:
        raise DataError(video, f"cannot decode video: {err}") from err


@dataclass(frozen=True)
class PrepareJob:
    """One clip to prepare: frames ``first .. first+count-1`` of ``video`` (count None: to its end) into the folders
    named ``name``."""

    video: Path
    name: str
    first: int = 0
    count: int | None = None


def list_jobs(root: Path, *, format: str = "egtea") -> list[PrepareJob]:
    """The clips of the dataset at ``root``: EGTEA, every mp4 of ``cropped_clips/`` (:func:`list_clips`); another
    format, every clip its catalog lists (``clips()``) whose video exists, as a span of its video."""
    if format == "egtea":
        return [PrepareJob(video, video.stem) for video in list_clips(root)]
    from gazeattn.data.source import open_dataset

    catalog = open_dataset(root, format=format)
    jobs = []
    for clip in catalog.clips():
        src = catalog.resolve(clip)
        if src.video is not None:
            jobs.append(PrepareJob(src.video, clip.name, src.video_first_frame, clip.n_frames))
    return jobs


def list_clips(root: Path) -> list[Path]:
    """Every ``ROOT/cropped_clips/<session>/<clip>.mp4``, sorted."""
    clips_dir = root / "cropped_clips"
    if not clips_dir.is_dir():
        raise DataError(clips_dir, "no cropped_clips folder (is ROOT an EGTEA Gaze+ folder?)")
    return sorted(clips_dir.glob("*/*.mp4"))


def _targets(frames_root: Path, clip: str) -> tuple[Path, Path]:
    return frames_root / "images_rgb" / clip, frames_root / "images_flow" / clip


def clip_done(frames_root: Path, clip: str, flow: bool) -> bool:
    rgb_dir, flow_dir = _targets(frames_root, clip)
    return rgb_dir.is_dir() and (not flow or flow_dir.is_dir())


def _fresh_tmp(final: Path) -> Path:
    tmp = final.with_name(f".{final.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)  # left over from an interrupted run
    tmp.mkdir(parents=True)
    return tmp


def prepare_clip(video: Path | PrepareJob, frames_root: Path, config: PrepareConfig,
                 flow_fn: FlowFn | None = None) -> str:
    """Write one clip's frame (and flow) folders; returns "skipped" or "done". ``flow_fn`` overrides OpenCV.
    ``video``: a clip's mp4 (all its frames, folders named by its stem) or a :class:`PrepareJob`."""
    job = video if isinstance(video, PrepareJob) else PrepareJob(Path(video), Path(video).stem)
    video, clip = job.video, job.name
    want_flow = config.flow != "none"
    if clip_done(frames_root, clip, want_flow):
        return "skipped"
    rgb_dir, flow_dir = _targets(frames_root, clip)
    if want_flow and flow_fn is None:
        flow_fn = flow_function(config.flow)
    write_rgb, write_flow = not rgb_dir.is_dir(), want_flow and not flow_dir.is_dir()
    rgb_tmp = _fresh_tmp(rgb_dir) if write_rgb else None
    flow_tmp = _fresh_tmp(flow_dir) if write_flow else None
    if flow_tmp is not None:
        (flow_tmp / "u").mkdir()
        (flow_tmp / "v").mkdir()
    writer = _JpegWriter(config.size[0], config.size[1], config.quality)
    prev = None
    n = 0
    end = None if job.count is None else job.first + job.count
    for n, rgb in enumerate(itertools.islice(decode_resized(video, config.size), job.first, end), start=1):
        if rgb_tmp is not None:
            writer.write(rgb_tmp / f"{n:04d}.jpg", rgb)
        if flow_tmp is not None:
            grey = np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8))
            if prev is not None:
                u, v = quantize_flow(flow_fn(prev, grey), config.bound)  # type: ignore[misc]
                writer.write(flow_tmp / "u" / f"{n - 1:04d}.jpg", u)
                writer.write(flow_tmp / "v" / f"{n - 1:04d}.jpg", v)
            prev = grey
    if n == 0:
        raise DataError(video, "video has no frames")
    for tmp, final in ((rgb_tmp, rgb_dir), (flow_tmp, flow_dir)):
        if tmp is not None:
            os.replace(tmp, final)
    return "done"
