"""Rendering a clip's scene with numpy: antialiased shapes from signed distances, the counter (cropped at the
camera offset when the camera moves), the arm and the hand. Coordinates: see :mod:`gazeattn.synth.scene`."""

from __future__ import annotations

import numpy as np

from gazeattn.synth.scene import ClipScene


def _signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Approximate signed distance in pixels (positive inside)."""
    if shape == "circle":
        return r - np.sqrt(dx * dx + dy * dy)
    if shape == "square":
        return 0.85 * r - np.maximum(np.abs(dx), np.abs(dy))
    if shape == "diamond":
        return (1.2 * r - (np.abs(dx) + np.abs(dy))) / np.sqrt(2.0)
    if shape == "bottle":  # tall ellipse
        a, b = 0.6 * r, 1.15 * r
        return a * (1.0 - np.sqrt((dx / a) ** 2 + (dy / b) ** 2))
    if shape == "triangle":  # pointing up, inradius 0.7 r, centred on its centroid
        return 0.7 * r - np.maximum(dy, np.maximum(-0.5 * dy - 0.866 * dx, -0.5 * dy + 0.866 * dx))
    if shape == "bar":  # a long horizontal block
        return np.minimum(1.35 * r - np.abs(dx), 0.42 * r - np.abs(dy))
    if shape == "oval":  # wide ellipse
        a, b = 1.15 * r, 0.75 * r
        return b * (1.0 - np.sqrt((dx / a) ** 2 + (dy / b) ** 2))
    if shape == "cross":  # a plus sign
        ax, ay = np.abs(dx), np.abs(dy)
        return np.maximum(np.minimum(1.1 * r - ax, 0.38 * r - ay), np.minimum(0.38 * r - ax, 1.1 * r - ay))
    raise ValueError(f"unknown shape {shape!r}")


def _rim(sd: np.ndarray) -> np.ndarray:
    """A band about 1.5 px wide just inside the outline."""
    return np.minimum(sd, 1.0 - sd)


def _blend(frame: np.ndarray, cx: float, cy: float, extent: float, colour: np.ndarray, sd_fn) -> None:
    """Alpha-blend a shape into ``frame`` (H, W, 3) inside its bounding box; pixel centres at j + 0.5."""
    h, w = frame.shape[:2]
    x0, x1 = max(int(np.floor(cx - extent - 1)), 0), min(int(np.ceil(cx + extent + 1)), w)
    y0, y1 = max(int(np.floor(cy - extent - 1)), 0), min(int(np.ceil(cy + extent + 1)), h)
    if x0 >= x1 or y0 >= y1:
        return
    dx = (np.arange(x0, x1) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1) + 0.5 - cy)[:, None]
    alpha = np.clip(sd_fn(dx, dy) + 0.5, 0.0, 1.0)[..., None]
    patch = frame[y0:y1, x0:x1]
    patch += alpha * (colour - patch)


def _counter(scene: ClipScene, i: int) -> np.ndarray:
    """Frame i's counter (H, W, 3) float32: the background, or with a moving camera its bilinear crop at the offset."""
    if scene.camera_px is None:
        return scene.background.copy()
    m = scene.margin_px
    h, w = scene.background.shape[0] - 2 * m, scene.background.shape[1] - 2 * m
    # frame pixel p shows counter point p - offset: the crop starts at m - offset
    x0, y0 = m - scene.camera_px[i, 0], m - scene.camera_px[i, 1]
    ix, iy = int(np.floor(x0)), int(np.floor(y0))
    fx, fy = np.float32(x0 - ix), np.float32(y0 - iy)
    b = scene.background
    return ((1 - fy) * ((1 - fx) * b[iy:iy + h, ix:ix + w] + fx * b[iy:iy + h, ix + 1:ix + w + 1])
            + fy * ((1 - fx) * b[iy + 1:iy + h + 1, ix:ix + w] + fx * b[iy + 1:iy + h + 1, ix + 1:ix + w + 1]))


EXTENT = {"bar": 1.45}  # half-size of a shape's bounding box in units of r (1.3 for the others)


def render_clip(scene: ClipScene) -> np.ndarray:
    """Render the clip: (T, H, W, 3) uint8 RGB. Draw order: counter, distractors, target, arm, hand."""
    h, w = scene.background.shape[0] - 2 * scene.margin_px, scene.background.shape[1] - 2 * scene.margin_px
    out = np.empty((scene.n_frames, h, w, 3), dtype=np.uint8)
    skin = np.array(scene.skin, dtype=np.float32)
    sleeve = np.array(scene.sleeve, dtype=np.float32)
    draw_order = list(scene.objects[1:]) + [scene.objects[0]]
    hr = scene.hand_radius_px
    arm_w = 0.55 * hr
    for i in range(scene.n_frames):
        frame = _counter(scene, i)
        for obj in draw_order:
            cx, cy = obj.centre[i, 0] * w, obj.centre[i, 1] * h
            r = float(obj.radius_px[i])
            col = np.array(obj.colour, dtype=np.float32)
            ext = EXTENT.get(obj.shape, 1.3) * r
            _blend(frame, cx, cy, ext, col, lambda dx, dy, s=obj.shape, r=r: _signed_distance(s, dx, dy, r))
            # a darker rim keeps touching objects apart
            _blend(frame, cx, cy, ext, 0.6 * col,
                   lambda dx, dy, s=obj.shape, r=r: _rim(_signed_distance(s, dx, dy, r)))
        hx, hy = scene.hand_centre[i, 0] * w, scene.hand_centre[i, 1] * h
        bx, by = scene.arm_base[i, 0] * w, scene.arm_base[i, 1] * h
        # arm: a capsule from the hand to below the bottom edge
        seg = np.array([bx - hx, by - hy])
        seg_len2 = float(seg @ seg) + 1e-9

        def arm_sd(dx, dy, seg=seg, seg_len2=seg_len2):
            s = np.clip((dx * seg[0] + dy * seg[1]) / seg_len2, 0.0, 1.0)
            return arm_w - np.sqrt((dx - s * seg[0]) ** 2 + (dy - s * seg[1]) ** 2)

        mx, my = (hx + bx) / 2, (hy + by) / 2
        ext = float(np.sqrt(seg_len2)) / 2 + arm_w
        if scene.arm:
            _blend(frame, mx, my, ext, sleeve, lambda dx, dy: arm_sd(dx + mx - hx, dy + my - hy))
        _blend(frame, hx, hy, 1.2 * hr, skin,
               lambda dx, dy: hr - np.sqrt((dx / 1.15) ** 2 + (dy / 0.9) ** 2))
        out[i] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return out
