"""Writing small test videos whose frames can be identified after decoding."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_mp4(path: Path, frames: np.ndarray, fps: int = 24, lossless: bool = True, gop: int = 12) -> Path:
    """frames: uint8 (T, H, W, 3), even H and W."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0" if lossless else "23", "g": str(gop), "preset": "ultrafast"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def numbered_frames(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frame i is flat: red encodes i % 16 and green i // 16, in steps of 16 (robust to YUV rounding)."""
    if n > 256:
        raise ValueError("at most 256 numbered frames")
    i = np.arange(n)
    colour = np.stack([(i % 16) * 16 + 8, (i // 16) * 16 + 8, np.full(n, 128)], axis=1).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(colour[:, None, None, :], (n, height, width, 3)))


def frame_numbers(frames: np.ndarray) -> list[int]:
    """Invert :func:`numbered_frames`."""
    mean = frames.reshape(len(frames), -1, 3).mean(axis=1)
    low = np.clip(np.round((mean[:, 0] - 8) / 16), 0, 15).astype(int)
    high = np.clip(np.round((mean[:, 1] - 8) / 16), 0, 15).astype(int)
    return [int(h * 16 + l) for l, h in zip(low, high)]
