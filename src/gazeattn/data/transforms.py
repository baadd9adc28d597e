"""Spatial augmentation that moves gaze exactly as it moves pixels.

Frames are first resized by the decoder (shorter side to S, aspect kept), then cropped and optionally
flipped here. Gaze points are normalised coordinates of the full frame, x, y in [0, 1] with x·W the
continuous horizontal pixel coordinate (pixel j covers [j, j+1)). Uniform resizing leaves normalised
coordinates unchanged; a crop at (x0, y0) of size (w, h) maps x → (x·W − x0)/w; a horizontal flip maps
x → 1 − x (pixel j ↔ w − 1 − j). A flip also negates the horizontal optical-flow component.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropFlip:
    """A crop box in a (frame_width, frame_height) frame and whether to mirror it horizontally."""

    frame_width: int
    frame_height: int
    x0: int
    y0: int
    width: int
    height: int
    flip: bool = False

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W[, C]) → (T, height, width[, C])."""
        if frames.shape[1:3] != (self.frame_height, self.frame_width):
            raise ValueError(f"frames are {frames.shape[2]}x{frames.shape[1]}, crop planned for "
                             f"{self.frame_width}x{self.frame_height}")
        out = frames[:, self.y0 : self.y0 + self.height, self.x0 : self.x0 + self.width]
        if self.flip:
            out = out[:, :, ::-1]
        return np.ascontiguousarray(out)

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Normalised full-frame points (..., 2) → normalised crop points (may fall outside [0, 1))."""
        xy = np.asarray(xy, dtype=np.float64)
        x = (xy[..., 0] * self.frame_width - self.x0) / self.width
        y = (xy[..., 1] * self.frame_height - self.y0) / self.height
        if self.flip:
            x = 1.0 - x
        return np.stack([x, y], axis=-1)

    def flow(self, flow: np.ndarray) -> np.ndarray:
        """Flow (T, H, W, 2) as signed values (u, v): cropped, mirrored, and u negated when flipped."""
        out = self.frames(flow)
        if self.flip:
            out = out.copy()
            out[..., 0] = -out[..., 0]
        return out


def _check_fits(frame_width: int, frame_height: int, crop: int) -> None:
    if crop > frame_width or crop > frame_height:
        raise ValueError(f"crop {crop} is larger than the resized frame {frame_width}x{frame_height}; "
                         "raise the resize short side or lower the crop size")


def random_crop_flip(
    frame_width: int, frame_height: int, crop: int, rng: np.random.Generator, *, flip_prob: float = 0.5
) -> CropFlip:
    """A uniformly placed crop×crop box and a flip with probability ``flip_prob``."""
    _check_fits(frame_width, frame_height, crop)
    x0 = int(rng.integers(0, frame_width - crop + 1))
    y0 = int(rng.integers(0, frame_height - crop + 1))
    flip = bool(rng.random() < flip_prob)
    return CropFlip(frame_width, frame_height, x0, y0, crop, crop, flip)


def center_crop(frame_width: int, frame_height: int, crop: int) -> CropFlip:
    _check_fits(frame_width, frame_height, crop)
    return CropFlip(frame_width, frame_height, (frame_width - crop) // 2, (frame_height - crop) // 2, crop, crop)


def to_unit_range(frames: np.ndarray) -> np.ndarray:
    """uint8 → float32 in [-1, 1] (x·2/255 − 1, as the reference for RGB and flow alike)."""
    return frames.astype(np.float32) * (2.0 / 255.0) - 1.0
