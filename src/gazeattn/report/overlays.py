"""Pictures of where a model looks: a prediction's gaze and attention over the frames it saw, and measured gaze.

    pred = load_predictor(run).predict("clip.mp4")                 # gazeattn.inference
    write_overlay(pred, "clip.png", truth=3)                        # a contact sheet; .gif / .mp4: every frame

Every picture is laid out to be read at a glance: panels of at least :data:`PANEL_PX` pixels (nearest-neighbour
enlarged, so grid cells stay crisp), the predicted actions with their probabilities (and the true one, where
known), a legend, and slot/frame labels. In the panels:

- **gaze q** (red heat): the gaze head's distribution q of the frame's temporal slot, scaled to the slot's
  maximum; the green box is the slot's most likely cell (argmax of q);
- **attention** (red heat): the attention map of the z the classifier used (``attention_map(z)``), from the
  slot's minimum to its maximum, with the same green box; a model without attention (``gaze-aux``: a gaze head
  whose maps the classifier ignores) gets :func:`no_attention_panel`, marked "NO ATTENTION".

Text is drawn with the bitmap font of :mod:`gazeattn.report.font` (no matplotlib needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from gazeattn.data.begaze import FIXATION, SACCADE
from gazeattn.inference.predictor import Prediction
from gazeattn.report.draw import (CELL, draw_cell, draw_cross, draw_label, heat_scale, heatmap_overlay,
                                  resize_nearest, stack, to_uint8)
from gazeattn.report.font import LINE_HEIGHT, draw_text, fit_text, text_width, wrap_text
from gazeattn.report.images import VIDEO_SUFFIXES, save_png, write_video

__all__ = ["OVERLAY_SUFFIXES", "PANEL_PX", "no_attention_panel", "panel_pair", "ranking_lines", "contact_sheet",
           "overlay_frames", "write_overlay", "measured_gaze_sheet"]

OVERLAY_SUFFIXES = (*VIDEO_SUFFIXES, ".png")
PANEL_PX = 256  # the smallest side of a panel on a picture
TEXT = 2  # font scale of every word: 10×14-pixel capitals, 20-pixel lines
LINE = LINE_HEIGHT * TEXT
INK, MUTED, TRUE_INK = (25, 25, 25), (95, 95, 95), (0, 130, 0)
BAR = (70, 110, 200)
GAP, MARGIN = 8, 12
HEAT_ALPHA = 0.6


def _cell_thickness(size: int) -> int:
    return max(1, round(size / 100))


def _percent(p: float) -> str:
    return f"{100 * p:.1f}%"


# -- panels ------------------------------------------------------------------------------------------------------

def no_attention_panel(frame: np.ndarray) -> np.ndarray:
    """The attention panel of a model without attention: the frame greyed and darkened, "NO ATTENTION" written."""
    grey = (frame.astype(np.float32).mean(-1, keepdims=True) * 0.35).astype(np.uint8)
    return draw_label(np.repeat(grey, 3, axis=-1), ["NO", "ATTENTION"], colour=(255, 255, 255))


def _require_maps(pred: Prediction) -> None:
    if pred.gaze is None:
        raise ValueError("this model has no gaze head (attention='none'): there is no gaze to draw")
    if pred.frames is None:
        raise ValueError("the prediction kept no frames; call predict(..., keep_frames=True)")


def _slot(pred: Prediction, i: int) -> int:
    return min(i // pred.t_stride, pred.gaze.shape[1] - 1)  # type: ignore[union-attr]


def _panels(pred: Prediction, w: int, i: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Window w, frame i, enlarged to size²: (frame + gaze q, frame + attention), the slot's argmax cell outlined in
    both; a model without attention gets :func:`no_attention_panel` on the right."""
    frame = resize_nearest(pred.frames[w, i], size)  # type: ignore[index]
    grid = pred.gaze.shape[2:]  # type: ignore[union-attr]
    slot = _slot(pred, i)
    cell = int(pred.gaze_cells()[w, slot])  # type: ignore[index]
    thickness = _cell_thickness(size)
    gaze = draw_cell(heatmap_overlay(frame, pred.gaze[w, slot], alpha=HEAT_ALPHA), cell, grid,  # type: ignore[index]
                     thickness=thickness)
    if pred.attention is None:
        return gaze, no_attention_panel(frame)
    a = pred.attention[w, slot].astype(np.float64)
    attention = heatmap_overlay(frame, a - a.min(), alpha=HEAT_ALPHA)  # min-max: relative within the slot
    return gaze, draw_cell(attention, cell, grid, thickness=thickness)


def panel_pair(pred: Prediction, w: int, i: int, *, size: int | None = None, gutter: int = 4) -> np.ndarray:
    """Window w, frame i as uint8 (size, 2·size + gutter, 3): [gaze q | attention] with a white gutter; ``size``
    None: the crop as the model saw it (no enlarging)."""
    _require_maps(pred)
    size = pred.frames.shape[2] if size is None else size  # type: ignore[union-attr]
    left, right = _panels(pred, w, i, size)
    return np.concatenate([left, np.full((size, gutter, 3), 255, np.uint8), right], axis=1)


# -- text blocks -------------------------------------------------------------------------------------------------

def _text(lines: Sequence[str | tuple[str, tuple[int, int, int]]], width: int, *, indent: int = 0) -> np.ndarray:
    """White block ``width`` wide with ``lines`` (str or (str, colour)) wrapped to it."""
    rows: list[tuple[str, tuple[int, int, int]]] = []
    for line in lines:
        text, colour = (line, INK) if isinstance(line, str) else line
        rows += [(part, colour) for part in wrap_text(text, width - indent, TEXT)]
    block = np.full((LINE * len(rows), width, 3), 255, np.uint8)
    for k, (text, colour) in enumerate(rows):
        draw_text(block, text, (indent, k * LINE), colour, TEXT)
    return block


def _centred(lines: Sequence[str], width: int, colour=INK) -> np.ndarray:
    block = np.full((LINE * len(lines), width, 3), 255, np.uint8)
    for k, line in enumerate(lines):
        line = fit_text(line, width, TEXT)
        draw_text(block, line, ((width - text_width(line, TEXT)) // 2, k * LINE), colour, TEXT)
    return block


def ranking_lines(pred: Prediction, truth: int | None = None) -> list[str]:
    """The words of a picture's prediction block: the ranked classes with probabilities, then the true class."""
    lines = [f"{k}. {r.name}  {_percent(r.probability)}" + ("  (true)" if r.label == truth else "")
             for k, r in enumerate(pred.top, 1)]
    if truth is not None:
        rank = 1 + int(np.sum(pred.probabilities > pred.probabilities[truth]))
        lines.append(f"True action: {pred.class_names[truth]} (ranked {rank} of {len(pred.class_names)}, "
                     f"{_percent(float(pred.probabilities[truth]))})")
    return lines


def _ranking(pred: Prediction, truth: int | None, width: int) -> np.ndarray:
    """The ranked classes, one per line, each with a bar as long as its probability; the true one in green."""
    lines = ranking_lines(pred, truth)
    ranked, rest = lines[:len(pred.top)], lines[len(pred.top):]
    names = [f"{k}. {r.name}" for k, r in enumerate(pred.top, 1)]
    name_w = min(max(text_width(n, TEXT) for n in names), width // 2)
    bar_x = name_w + 2 * GAP
    bar_max = max(40, width - bar_x - text_width("100.0%  (true)", TEXT) - 2 * GAP)
    block = np.full((LINE * len(ranked), width, 3), 255, np.uint8)
    for k, (name, r) in enumerate(zip(names, pred.top)):
        colour = TRUE_INK if r.label == truth else INK
        y = k * LINE
        draw_text(block, fit_text(name, name_w, TEXT), (0, y), colour, TEXT)
        length = max(1, round(bar_max * r.probability))
        block[y + 2:y + LINE - 6, bar_x:bar_x + length] = BAR
        tail = _percent(r.probability) + ("  (true)" if r.label == truth else "")
        draw_text(block, tail, (bar_x + length + GAP, y), colour, TEXT)
    if not rest:
        return block
    return stack([block, _text([(rest[0], TRUE_INK if truth == pred.top[0].label else INK)], width)], axis=0)


def _legend(width: int, *, attention: bool, measured: bool = False) -> np.ndarray:
    """Swatches and what they mean, one item per line (wrapped beside its swatch)."""
    sw = 3 * LINE
    heat = heat_scale(sw, LINE - 4)
    box = np.full((LINE - 4, sw, 3), 255, np.uint8)
    draw_cell(box, 0, (1, 1), colour=CELL, thickness=3)
    items: list[tuple[np.ndarray, str]] = []
    if measured:
        cross = np.full((LINE - 4, sw, 3), 128, np.uint8)
        draw_cross(cross, (0.5, 0.5), size=LINE // 2 - 3, thickness=3)
        items += [(cross, "red cross: the measured gaze at the frame shown (fixation or saccade)"),
                  (box, "green box: the slot's target cell (slots with a fixation in the crop)")]
    else:
        scale = ("gaze q scaled to the slot's maximum; attention from the slot's minimum to its maximum"
                 if attention else "gaze q scaled to the slot's maximum")
        items += [(heat, f"red heat, low to high: {scale}"),
                  (box, "green box: the slot's most likely gaze cell (argmax of q)")]
        if not attention:
            dark = np.full((LINE - 4, sw, 3), 45, np.uint8)
            items.append((dark, "NO ATTENTION: this model's classifier does not use the gaze (attention 'none', "
                                "gaze-aux); only q is drawn"))
    rows = []
    for swatch, words in items:
        text = _text([words], width - sw - GAP)
        pad = np.full((text.shape[0], sw, 3), 255, np.uint8)
        pad[2:2 + swatch.shape[0]] = swatch
        rows.append(stack([pad, text], axis=1, gap=GAP))
    return stack(rows, axis=0, gap=4)


def _margin(image: np.ndarray, pad: int = MARGIN) -> np.ndarray:
    return np.pad(image, ((pad, pad), (pad, pad), (0, 0)), constant_values=255)


# -- a prediction ------------------------------------------------------------------------------------------------

def _panel_size(pred: Prediction) -> int:
    return max(PANEL_PX, int(pred.frames.shape[2]))  # type: ignore[union-attr]


def _window_block(pred: Prediction, w: int, size: int, label_w: int) -> np.ndarray:
    """One window: a heading, then the slots as columns (their middle frames), gaze q above attention."""
    t = pred.frames.shape[1]  # type: ignore[union-attr]
    slots = pred.gaze.shape[1]  # type: ignore[union-attr]
    start = pred.starts[w]
    own = np.exp(pred.window_logits[w] - pred.window_logits[w].max())
    own /= own.sum()
    best = int(np.argmax(own))
    width = label_w + slots * (size + GAP)
    heading = _text([f"Window {w + 1} of {len(pred.starts)}, video frames {start}-{start + t - 1}; on its own it "
                     f"predicts {pred.class_names[best]} ({_percent(float(own[best]))})"], width)
    heads, gazes, attentions = [], [], []
    for s in range(slots):
        i = min(s * pred.t_stride + pred.t_stride // 2, t - 1)
        first, last = start + s * pred.t_stride, start + min((s + 1) * pred.t_stride, t) - 1
        peak = _percent(float(pred.gaze[w, s].max()))  # type: ignore[index]  # a flat q is red all over: say so
        heads.append(_centred([f"slot {s + 1}", f"frames {first}-{last}", f"max q {peak}"], size, MUTED))
        g, a = _panels(pred, w, i, size)
        gazes.append(g)
        attentions.append(a)
    row_label = lambda words: _text([words], label_w)  # noqa: E731
    label_pad = np.full((size // 2 - LINE // 2, label_w, 3), 255, np.uint8)
    rows = [stack([np.full((heads[0].shape[0], label_w, 3), 255, np.uint8), *heads], axis=1, gap=GAP),
            stack([stack([label_pad, row_label("gaze q")], axis=0), *gazes], axis=1, gap=GAP),
            stack([stack([label_pad, row_label("attention")], axis=0), *attentions], axis=1, gap=GAP)]
    return stack([heading, *rows], axis=0, gap=4)


def contact_sheet(pred: Prediction, *, title: str | None = None, truth: int | None = None,
                  max_windows: int = 4) -> np.ndarray:
    """One picture of a prediction: title, ranked classes (``truth``: the true class index, marked), legend, then
    one block per window (at most ``max_windows``, evenly spaced): a column per slot (its middle frame), gaze q
    above attention, panels at least :data:`PANEL_PX` pixels."""
    _require_maps(pred)
    size = _panel_size(pred)
    label_w = text_width("attention", TEXT) + GAP
    slots = pred.gaze.shape[1]  # type: ignore[union-attr]
    width = label_w + slots * (size + GAP) - GAP
    n_windows = len(pred.starts)
    chosen = np.unique(np.linspace(0, n_windows - 1, min(max_windows, n_windows)).round().astype(int))
    header = [_text([title or f"{pred.video.name}", (f"test gaze {pred.test_gaze}; {n_windows} window(s) of "
                                                     f"{pred.window_frames} frames; predicted for the whole video:",
                                                     MUTED)], width),
              _ranking(pred, truth, width),
              _legend(width, attention=pred.attention is not None)]
    windows = [_window_block(pred, int(w), size, label_w) for w in chosen]
    return _margin(stack([*header, *windows], axis=0, gap=2 * GAP))


def overlay_frames(pred: Prediction, *, title: str | None = None, truth: int | None = None) -> np.ndarray:
    """Every frame the model saw as uint8 (N, H, W, 3), N = windows × frames: a heading (title, the top class, the
    true one, the frame), [gaze q | attention] panels of at least :data:`PANEL_PX` pixels, and a legend."""
    _require_maps(pred)
    size = _panel_size(pred)
    width = 2 * size + GAP
    top = pred.top[0]
    said = [title or pred.video.name, f"predicted: {top.name} ({_percent(top.probability)})"]
    if truth is not None:
        said.append((f"true: {pred.class_names[truth]}", TRUE_INK if truth == top.label else INK))
    header = _text(said, width)
    heads = stack([_centred(["gaze q"], size), _centred(["attention"], size)], axis=1, gap=GAP)
    legend = _legend(width, attention=pred.attention is not None)
    n_windows, t = pred.frames.shape[:2]  # type: ignore[union-attr]
    wheres, panels = [], []
    for w in range(n_windows):
        for i in range(t):
            frame_no = pred.starts[w] + i
            repeat = " (last frame repeated)" if frame_no >= pred.n_frames else ""
            slot = _slot(pred, i)
            peak = _percent(float(pred.gaze[w, slot].max()))  # type: ignore[index]
            wheres.append(_text([(f"frame {frame_no}{repeat}: window {w + 1}, slot {slot + 1}, max q {peak}",
                                  MUTED)], width))
            panels.append(stack(list(_panels(pred, w, i, size)), axis=1, gap=GAP))
    # a padded frame's longer line may wrap once more: every frame gets the tallest line block, one size throughout
    rows = max(where.shape[0] for where in wheres)
    return np.stack([_margin(stack([header, np.pad(where, ((0, rows - where.shape[0]), (0, 0), (0, 0)),
                                                   constant_values=255), heads, pair, legend], axis=0, gap=GAP))
                     for where, pair in zip(wheres, panels)])


def write_overlay(pred: Prediction, path: str | Path, *, fps: float | None = None, title: str | None = None,
                  truth: int | None = None) -> Path:
    """Write the pictures of ``pred`` at ``path``: ``.gif`` / ``.mp4`` every frame (:func:`overlay_frames`, at the
    video's fps unless ``fps``), ``.png`` a :func:`contact_sheet`. Atomic; an unwritable path raises
    :class:`~gazeattn.utils.errors.OutputError` naming it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OVERLAY_SUFFIXES:
        raise ValueError(f"overlay must end in one of {OVERLAY_SUFFIXES}, got {path.name!r}")
    if suffix == ".png":
        return save_png(path, contact_sheet(pred, title=title, truth=truth))
    return write_video(path, overlay_frames(pred, title=title, truth=truth), fps if fps is not None else pred.fps)


# -- measured gaze -----------------------------------------------------------------------------------------------

def measured_gaze_sheet(dataset, indices: list[int], *, class_names: Sequence[str] | None = None,
                        title: str = "Measured gaze on training clips") -> np.ndarray:
    """One block per clip of ``dataset`` (a :class:`~gazeattn.data.dataset.EgteaClips`): its name and action, then
    the first frame of each temporal slot with the measured gaze (red cross) and the slot's target cell (green)."""
    size = max(PANEL_PX, dataset.config.crop)
    stride = dataset.config.strides[0]
    blocks = []
    for index in indices:
        item = dataset[index]
        rgb = item["rgb"].permute(1, 2, 3, 0).numpy()  # (C, T, H, W) -> (T, H, W, C)
        t_slots, gh, gw = item["gaze_target"].shape
        width = t_slots * (size + GAP) - GAP
        label = int(item["label"])
        action = class_names[label] if class_names is not None else f"class {label}"
        name = dataset.entries[int(item["clip_index"])].clip.name
        heads, panels = [], []
        for s in range(t_slots):
            f = s * stride
            img = resize_nearest(to_uint8(rgb[f]), size)
            if item["gaze_mask"][s]:
                draw_cell(img, int(item["gaze_cell"][s]), (gh, gw), thickness=_cell_thickness(size))
            if int(item["gaze_type"][f]) in (FIXATION, SACCADE):
                draw_cross(img, tuple(item["gaze_xy"][f].tolist()), size=size // 20, thickness=3)
            heads.append(_centred([f"slot {s + 1}: frame {int(item['start']) + f}"], size, MUTED))
            panels.append(img)
        blocks.append(stack([_text([f"{name}: {action}"], width), stack(heads, axis=1, gap=GAP),
                             stack(panels, axis=1, gap=GAP)], axis=0, gap=4))
    width = max(b.shape[1] for b in blocks)
    return _margin(stack([_text([title], width), _legend(width, attention=True, measured=True), *blocks],
                         axis=0, gap=2 * GAP))
