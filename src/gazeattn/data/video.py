"""Decoding the frames a sample needs, from an mp4 (PyAV) or from a folder of JPEGs.

Only the requested window is decoded: the reader seeks to the key frame before the window and decodes
forward, so a 24-frame window of a 2,801-frame clip costs about one GOP, not the whole clip.
Frames come out as uint8 arrays (T, H, W, 3) in RGB order, optionally resized by FFmpeg's scaler.
Every failure raises :class:`~gazeattn.utils.errors.DataError` naming the file.

Colour conversion and resizing go through one :class:`~av.video.reformatter.VideoReformatter` per call.
``frame.reformat``/``frame.to_ndarray(format=...)`` build a fresh swscale context for every frame, which
costs more than decoding a small frame (0.43 ms vs 0.23 ms at 128×96); a reformatter keeps its context while
the frame size and format stay the same, and gives the same pixels (same scaler, same flags).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from gazeattn.utils.errors import DataError

# Seeking costs a container seek plus a partial GOP; below this many frames, decoding from 0 is cheaper.
_SEEK_THRESHOLD = 32


@dataclass(frozen=True)
class VideoInfo:
    n_frames: int
    width: int
    height: int
    fps: float


def _open(path: Path):
    try:
        if path.stat().st_size == 0:
            raise DataError(path, "video file is empty (0 bytes)")
        container = av.open(str(path))
    except DataError:
        raise
    except (av.FFmpegError, OSError) as err:
        raise DataError(path, f"cannot open video: {err}") from err
    if not container.streams.video:
        container.close()
        raise DataError(path, "no video stream")
    return container


def probe_video(path: str | Path, *, count: bool = False) -> VideoInfo:
    """Read a video's header. With ``count=True`` decode every frame to count them (detects truncation)."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        n = stream.frames
        if count or n <= 0:
            try:
                n = sum(1 for _ in container.decode(stream))
            except av.FFmpegError as err:
                raise DataError(path, f"video is corrupt: {err}") from err
        return VideoInfo(n_frames=int(n), width=stream.codec_context.width, height=stream.codec_context.height, fps=fps)


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side``, aspect ratio kept (rounded)."""
    if width <= height:
        return short_side, max(1, round(height * short_side / width))
    return max(1, round(width * short_side / height)), short_side


def _frame_index(frame, time_base: Fraction, start_pts: int, fps: float) -> int:
    return int(round(float((frame.pts - start_pts) * time_base) * fps))


def read_video_frames(
    path: str | Path,
    start: int,
    count: int,
    *,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    threads: bool = True,
) -> np.ndarray:
    """Decode clip frames ``start .. start+count-1`` (0-based) as uint8 (n, H, W, 3), n <= count.

    ``size`` = (width, height), or ``short_side`` (aspect kept), resizes with FFmpeg's bilinear scaler
    during decoding. Fewer than ``count`` frames come back when the video ends first; the caller decides
    whether that is acceptable.
    """
    path = Path(path)
    if start < 0 or count < 1:
        raise ValueError(f"bad frame window start={start} count={count}")
    out: list[np.ndarray] = []
    reformatter = VideoReformatter()
    with _open(path) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        time_base = stream.time_base or Fraction(1, 24)
        start_pts = stream.start_time or 0
        try:
            if start >= _SEEK_THRESHOLD:
                target = start_pts + int(start / fps / time_base)
                container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                index = _frame_index(frame, time_base, start_pts, fps) if frame.pts is not None else None
                if index is None:
                    raise DataError(path, "frame without a timestamp; cannot locate frames")
                if index < start:
                    continue
                if index >= start + count:
                    break
                if size is None and short_side is not None:
                    size = scaled_size(frame.width, frame.height, short_side)
                out.append(_to_array(reformatter, frame, "rgb24", size))
        except av.FFmpegError as err:
            raise DataError(path, f"video is corrupt near frame {start + len(out)}: {err}") from err
    if not out:
        return np.zeros((0, size[1] if size else 0, size[0] if size else 0, 3), np.uint8)
    return np.stack(out)


def _to_array(reformatter: VideoReformatter, frame, fmt: str, size: tuple[int, int] | None) -> np.ndarray:
    """``frame`` as a uint8 array in ``fmt``, resized bilinearly to ``size`` = (width, height) when given."""
    if size is None or (frame.width, frame.height) == tuple(size):
        return reformatter.reformat(frame, format=fmt).to_ndarray()
    return reformatter.reformat(frame, width=size[0], height=size[1], format=fmt,
                                interpolation="BILINEAR").to_ndarray()


def read_jpeg(
    path: Path, *, gray: bool = False, size: tuple[int, int] | None = None, short_side: int | None = None,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """One JPEG as uint8 (H, W, 3) RGB, or (H, W) when ``gray`` (flow u/v images).

    Pass the same ``reformatter`` for a run of same-sized images to reuse its scaler context."""
    fmt = "gray" if gray else "rgb24"
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            if size is None and short_side is not None:
                size = scaled_size(frame.width, frame.height, short_side)
            return _to_array(reformatter or VideoReformatter(), frame, fmt, size)
    except (av.FFmpegError, StopIteration, OSError) as err:
        raise DataError(path, f"cannot decode image: {err}") from err


def count_frame_files(folder: Path) -> int:
    """Number of ``%04d.jpg`` frames in a frame folder (the highest contiguous index from 0001)."""
    n = 0
    while (folder / f"{n + 1:04d}.jpg").is_file():
        n += 1
    return n


def read_folder_frames(
    folder: str | Path,
    start: int,
    count: int,
    *,
    gray: bool = False,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
) -> np.ndarray:
    """Frames ``start .. start+count-1`` (0-based) from ``folder/%04d.jpg`` (1-based files); stops at the last file."""
    folder = Path(folder)
    frames = []
    reformatter = VideoReformatter()
    for i in range(start, start + count):
        path = folder / f"{i + 1:04d}.jpg"
        if not path.is_file():
            break
        frames.append(read_jpeg(path, gray=gray, size=size, short_side=short_side, reformatter=reformatter))
    if not frames:
        raise DataError(folder, f"no frame {start + 1:04d}.jpg in frame folder")
    return np.stack(frames)
