"""Image and video files from uint8 RGB arrays, encoded with PyAV, written atomically (temp file + ``os.replace``).

An output that cannot be written raises :class:`~gazeattn.utils.errors.OutputError` naming it, and leaves no
partial file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gazeattn.utils.atomic import atomic_output

VIDEO_SUFFIXES = (".gif", ".mp4")


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write uint8 (H, W, 3) RGB as PNG at ``path``."""
    path = Path(path)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
    with atomic_output(path, durable=False) as tmp, av.open(str(tmp), "w", format="image2") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "rgb24"
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad (N, H, W, 3) with black to even H and W (yuv420p needs them)."""
    _, h, w, _ = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))


def _encode(path: Path, frames: np.ndarray, fps: float) -> None:
    suffix = path.suffix.lower()
    rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(24)
    with av.open(str(path), "w", format="gif" if suffix == ".gif" else "mp4") as container:
        if suffix == ".gif":
            stream = container.add_stream("gif", rate=rate)
            stream.pix_fmt = "rgb8"
        else:
            frames = _even(frames)
            stream = container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Encode uint8 (N, H, W, 3) as an animated GIF or an H.264 mp4 (yuv420p, odd sizes padded), by ``path``'s
    suffix (one of :data:`VIDEO_SUFFIXES`), at ``fps`` (24 when not positive)."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"a video must end in one of {VIDEO_SUFFIXES}, got {path.name!r}")
    with atomic_output(path, durable=False) as tmp:
        _encode(tmp, frames, fps)
    return path
