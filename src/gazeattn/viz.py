"""Pictures a user can look at: gaze points and grid cells drawn on frames, saved as PNG with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from gazeattn.atomic import atomic_output


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write uint8 (H, W, 3) RGB as PNG, atomically (temp file + rename)."""
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


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """[-1, 1] float (H, W, 3) → uint8."""
    return np.clip((frame + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def draw_cross(image: np.ndarray, xy: tuple[float, float], colour=(255, 0, 0), size: int = 4) -> np.ndarray:
    """A cross at normalised (x, y); points outside the image are not drawn."""
    h, w = image.shape[:2]
    x, y = int(xy[0] * w), int(xy[1] * h)
    if 0 <= x < w and 0 <= y < h:
        image[max(0, y - size):y + size + 1, x] = colour
        image[y, max(0, x - size):x + size + 1] = colour
    return image


def draw_cell(image: np.ndarray, cell: int, grid: tuple[int, int], colour=(0, 255, 0)) -> np.ndarray:
    """The outline of flat cell index ``cell`` of an (H', W') grid laid over the image."""
    if cell < 0:
        return image
    h, w = image.shape[:2]
    gh, gw = grid
    r, c = divmod(int(cell), gw)
    y0, y1 = r * h // gh, min((r + 1) * h // gh, h) - 1
    x0, x1 = c * w // gw, min((c + 1) * w // gw, w) - 1
    image[y0, x0:x1 + 1] = colour
    image[y1, x0:x1 + 1] = colour
    image[y0:y1 + 1, x0] = colour
    image[y0:y1 + 1, x1] = colour
    return image


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a (h, w) non-negative map, upsampled by nearest neighbour, over the image in red."""
    h, w = image.shape[:2]
    rows = np.minimum(np.arange(h) * heat.shape[0] // h, heat.shape[0] - 1)
    cols = np.minimum(np.arange(w) * heat.shape[1] // w, heat.shape[1] - 1)
    up = heat[rows][:, cols]
    up = up / up.max() if up.max() > 0 else up
    out = image.astype(np.float32)
    out[..., 0] = (1 - alpha * up) * out[..., 0] + alpha * up * 255
    out[..., 1:] = (1 - alpha * up[..., None]) * out[..., 1:]
    return out.clip(0, 255).astype(np.uint8)


# 5×7 capitals for the few words pictures need ("NO ATTENTION"); a row per string, '#' = ink
_GLYPHS = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "I": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "#####"),
    "N": ("#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    " ": (".....",) * 7,
}


def draw_label(image: np.ndarray, lines: list[str], colour=(255, 255, 255)) -> np.ndarray:
    """Write capital ``lines`` (letters of ``_GLYPHS``) centred on the image, at the largest integer scale that fits
    90 % of its width (at least 1 pixel per dot; longer lines are clipped)."""
    h, w = image.shape[:2]
    longest = max(len(line) for line in lines)
    scale = max(1, int(0.9 * w) // (6 * longest))
    line_h = 8 * scale
    top = max(0, (h - line_h * len(lines)) // 2)
    for k, line in enumerate(lines):
        glyphs = [_GLYPHS[ch] for ch in line.upper()]  # KeyError: a letter without a glyph
        left = max(0, (w - (6 * len(line) - 1) * scale) // 2)
        for j, glyph in enumerate(glyphs):
            for r, row in enumerate(glyph):
                for c, dot in enumerate(row):
                    if dot == "#":
                        y, x = top + k * line_h + r * scale, left + (6 * j + c) * scale
                        image[y:y + scale, x:x + scale] = colour
    return image


def tile(images: list[np.ndarray], columns: int, pad: int = 2) -> np.ndarray:
    """Arrange equally sized images in a grid with a dark gutter."""
    h, w = images[0].shape[:2]
    rows = (len(images) + columns - 1) // columns
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 30, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return canvas
