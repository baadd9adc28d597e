"""Drawing on uint8 RGB images (H, W, 3) with numpy: heat maps, grid cells, gaze crosses, labels, layout.

Every function draws in place where it says so and returns the image; none needs anything beyond numpy
(text: :mod:`gazeattn.report.font`).
"""

from __future__ import annotations

import numpy as np

from gazeattn.report.font import ADVANCE, LINE_HEIGHT, draw_text

HEAT = (255, 0, 0)  # the colour heat maps are blended towards (red)
CELL = (0, 255, 0)  # outlines of grid cells (green)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """[-1, 1] float (H, W, 3) → uint8."""
    return np.clip((frame + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def resize_nearest(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """(H, W, ...) → (h, w, ...) by nearest neighbour (``size`` an int: square); cells stay crisp."""
    h, w = (size, size) if isinstance(size, int) else size
    rows = np.minimum(np.arange(h) * image.shape[0] // h, image.shape[0] - 1)
    cols = np.minimum(np.arange(w) * image.shape[1] // w, image.shape[1] - 1)
    return image[rows][:, cols]


def draw_cross(image: np.ndarray, xy: tuple[float, float], colour=HEAT, size: int = 4,
               thickness: int = 1) -> np.ndarray:
    """A cross of arms ``size`` px at normalised (x, y); points outside the image are not drawn."""
    h, w = image.shape[:2]
    x, y = int(xy[0] * w), int(xy[1] * h)
    if 0 <= x < w and 0 <= y < h:
        lo, hi = -(thickness // 2), thickness - thickness // 2
        image[max(0, y - size):y + size + 1, max(0, x + lo):x + hi] = colour
        image[max(0, y + lo):y + hi, max(0, x - size):x + size + 1] = colour
    return image


def draw_cell(image: np.ndarray, cell: int, grid: tuple[int, int], colour=CELL, thickness: int = 1) -> np.ndarray:
    """The outline (``thickness`` px, inside the cell) of flat cell index ``cell`` of an (H', W') grid laid over
    the image; a negative index draws nothing."""
    if cell < 0:
        return image
    h, w = image.shape[:2]
    gh, gw = grid
    r, c = divmod(int(cell), gw)
    y0, y1 = r * h // gh, min((r + 1) * h // gh, h) - 1
    x0, x1 = c * w // gw, min((c + 1) * w // gw, w) - 1
    t = max(1, min(thickness, (y1 - y0 + 1) // 2, (x1 - x0 + 1) // 2))
    image[y0:y0 + t, x0:x1 + 1] = colour
    image[y1 - t + 1:y1 + 1, x0:x1 + 1] = colour
    image[y0:y1 + 1, x0:x0 + t] = colour
    image[y0:y1 + 1, x1 - t + 1:x1 + 1] = colour
    return image


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a (h, w) non-negative map, upsampled by nearest neighbour and scaled to its maximum, over the image
    towards :data:`HEAT` (red): weight ``alpha`` where the map is largest, none where it is 0. A new image."""
    up = resize_nearest(heat, image.shape[:2])
    up = up / up.max() if up.max() > 0 else up
    out = image.astype(np.float32)
    out[..., 0] = (1 - alpha * up) * out[..., 0] + alpha * up * HEAT[0]
    out[..., 1:] = (1 - alpha * up[..., None]) * out[..., 1:]
    return out.clip(0, 255).astype(np.uint8)


def heat_scale(width: int, height: int, alpha: float = 0.6, grey: int = 128) -> np.ndarray:
    """A legend swatch (height, width, 3): mid-grey blended as :func:`heatmap_overlay` does, from 0 (left) to the
    map's maximum (right)."""
    base = np.full((height, width, 3), grey, np.uint8)
    return heatmap_overlay(base, np.tile(np.linspace(0.0, 1.0, width), (height, 1)), alpha=alpha)


def draw_label(image: np.ndarray, lines: list[str], colour=(255, 255, 255)) -> np.ndarray:
    """Write ``lines`` centred on the image, at the largest integer scale at which the longest fits 90 % of the
    width (at least 1 pixel per dot)."""
    h, w = image.shape[:2]
    longest = max(len(line) for line in lines)
    scale = max(1, int(0.9 * w) // (ADVANCE * longest))
    line_h = LINE_HEIGHT * scale
    top = max(0, (h - line_h * len(lines)) // 2)
    for k, line in enumerate(lines):
        left = max(0, (w - (ADVANCE * len(line) - 1) * scale) // 2)
        draw_text(image, line, (left, top + k * line_h), colour, scale)
    return image


def tile(images: list[np.ndarray], columns: int, pad: int = 2, background: int = 30) -> np.ndarray:
    """Arrange equally sized images in a grid with ``pad``-pixel gutters of grey ``background``."""
    h, w = images[0].shape[:2]
    rows = (len(images) + columns - 1) // columns
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), background, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return canvas


def stack(blocks: list[np.ndarray], *, axis: int, gap: int = 0, background: int = 255) -> np.ndarray:
    """Blocks (H, W, 3) placed below each other (``axis=0``) or side by side (``axis=1``), ``gap`` pixels apart,
    top/left aligned, the rest filled with ``background``."""
    across = 1 - axis
    size = max(b.shape[across] for b in blocks)
    along = sum(b.shape[axis] for b in blocks) + gap * (len(blocks) - 1)
    shape = (along, size, 3) if axis == 0 else (size, along, 3)
    canvas = np.full(shape, background, np.uint8)
    at = 0
    for b in blocks:
        if axis == 0:
            canvas[at:at + b.shape[0], :b.shape[1]] = b
        else:
            canvas[:b.shape[0], at:at + b.shape[1]] = b
        at += b.shape[axis] + gap
    return canvas
