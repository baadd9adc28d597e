"""Pictures a person can read: the bitmap font, and overlays with enlarged panels, action names and a legend.

Predictions are built by hand (a 2-window, 3-slot, 4×4-cell gaze grid on 32² crops), so every pixel that matters
is known without a model.
"""

from __future__ import annotations

import string
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gazeattn.inference import Prediction, Ranked
from gazeattn.report.draw import CELL, HEAT
from gazeattn.report.font import ADVANCE, draw_text, fit_text, text_width, wrap_text
from gazeattn.report.overlays import (PANEL_PX, contact_sheet, measured_gaze_sheet, no_attention_panel,
                                      overlay_frames, panel_pair, ranking_lines)

NAMES = ("Open fridge", "Take cup", "Pour milk", "Put salt/pepper")


def _ink(text: str) -> np.ndarray:
    return draw_text(np.zeros((10, ADVANCE * len(text), 3), np.uint8), text, (0, 0), (255, 255, 255))[..., 0] > 0


def test_every_printable_character_has_its_own_glyph():
    printable = string.digits + string.ascii_letters + string.punctuation
    glyphs = {c: _ink(c).tobytes() for c in printable}
    assert len(set(glyphs.values())) == len(printable)  # no two characters look the same
    assert all(_ink(c).any() for c in printable)
    assert not _ink(" ").any()
    assert np.array_equal(_ink("é"), _ink("?"))  # a character without a glyph is shown as "?"


def test_text_is_clipped_fitted_and_wrapped_to_a_width():
    image = np.zeros((12, 20, 3), np.uint8)
    draw_text(image, "Wash hands", (-3, 6), (255, 0, 0), scale=2)  # hangs over three edges: clipped, no error
    assert image[..., 0].any() and not image[..., 1:].any()
    assert text_width("abc", 2) == (3 * ADVANCE - 1) * 2
    cut = fit_text("Put salt/pepper on the tomato", 100, 2)
    assert cut.endswith("...") and text_width(cut, 2) <= 100
    lines = wrap_text("the slot's most likely gaze cell (argmax of q)", 150, 2)
    assert len(lines) > 1 and all(text_width(line, 2) <= 150 for line in lines)
    assert " ".join(lines) == "the slot's most likely gaze cell (argmax of q)"


def _prediction(*, attention: bool = True, crop: int = 32) -> Prediction:
    rng = np.random.default_rng(0)
    w, t, slots, grid = 2, 24, 3, (4, 4)
    logits = rng.normal(size=(w, len(NAMES)))
    mean = logits.mean(0)
    probs = np.exp(mean - mean.max()) / np.exp(mean - mean.max()).sum()
    order = np.argsort(-probs, kind="stable")
    gaze = rng.random((w, slots, *grid)) ** 4
    gaze /= gaze.sum(axis=(2, 3), keepdims=True)
    frames = rng.integers(60, 200, size=(w, t, crop, crop, 3), dtype=np.uint8)
    return Prediction(
        video=Path("clip.mp4"), class_names=NAMES, probabilities=probs, window_logits=logits,
        top=tuple(Ranked(int(c), NAMES[c], float(probs[c])) for c in order), starts=(0, 24), window_frames=t,
        n_frames=50, fps=24.0, test_gaze="argmax", gaze=gaze, gaze_z=None,
        attention=(np.roll(gaze, 1, axis=-1) * 16 + 0.5) if attention else None, frames=frames, t_stride=8)


def _find(image: np.ndarray, block: np.ndarray) -> list[tuple[int, int]]:
    """Top-left corners where ``block`` appears in ``image`` (row bytes matched, then the whole block)."""
    first = block[0].tobytes()
    hits = []
    for y in range(image.shape[0] - block.shape[0] + 1):
        row = image[y].tobytes()
        at = row.find(first)
        while at >= 0:
            if at % 3 == 0 and np.array_equal(image[y:y + block.shape[0], at // 3:at // 3 + block.shape[1]], block):
                hits.append((y, at // 3))
            at = row.find(first, at + 1)
    return hits


def test_ranking_names_the_actions_with_probabilities_and_the_true_one():
    pred = _prediction()
    truth = pred.top[2].label
    lines = ranking_lines(pred, truth)
    assert len(lines) == len(NAMES) + 1
    for k, (line, r) in enumerate(zip(lines, pred.top), 1):
        assert line.startswith(f"{k}. {r.name}  {100 * r.probability:.1f}%")
        assert line.endswith("(true)") == (r.label == truth)
    assert lines[-1] == (f"True action: {NAMES[truth]} (ranked 3 of {len(NAMES)}, "
                         f"{100 * pred.probabilities[truth]:.1f}%)")
    assert ranking_lines(pred) == [line.removesuffix("  (true)") for line in lines[:-1]]


def test_contact_sheet_shows_every_slot_enlarged_with_the_argmax_cell():
    pred = _prediction()
    sheet = contact_sheet(pred, truth=1)
    assert PANEL_PX >= 256 and sheet.shape[1] > 3 * PANEL_PX
    for w in range(2):
        for s in range(3):
            pair = panel_pair(pred, w, s * 8 + 4, size=PANEL_PX, gutter=0)
            gaze, attention = pair[:, :PANEL_PX], pair[:, PANEL_PX:]
            assert len(_find(sheet, gaze)) == 1 and len(_find(sheet, attention)) == 1
            cell = int(pred.gaze_cells()[w, s])
            r, c = divmod(cell, 4)
            y, x = r * PANEL_PX // 4, c * PANEL_PX // 4 + PANEL_PX // 8
            assert tuple(gaze[y, x]) == tuple(attention[y, x]) == CELL  # the outline, in both panels


def test_contact_sheet_of_a_model_without_attention_says_so():
    pred = _prediction(attention=False)
    sheet = contact_sheet(pred)
    frame = pred.frames[1, 2 * 8 + 4]
    big = np.kron(frame, np.ones((PANEL_PX // 32, PANEL_PX // 32, 1), np.uint8))
    assert len(_find(sheet, no_attention_panel(big))) == 1
    raw = panel_pair(pred, 0, 0)  # as the model saw it: 32 px panels and a 4 px gutter
    assert raw.shape == (32, 68, 3)
    np.testing.assert_array_equal(raw[:, 36:], no_attention_panel(pred.frames[0, 0]))


def test_overlay_frames_have_enlarged_panels_for_every_frame():
    pred = _prediction()
    frames = overlay_frames(pred, truth=0)
    assert frames.shape[0] == 2 * 24 and frames.shape[2] > 2 * PANEL_PX
    pair = panel_pair(pred, 1, 13, size=PANEL_PX, gutter=0)
    assert len(_find(frames[24 + 13], pair[:, :PANEL_PX])) == 1
    assert len(_find(frames[24 + 14], pair[:, :PANEL_PX])) == 0  # another frame, another picture


def test_measured_gaze_sheet_draws_the_cross_and_the_target_cell():
    crop, t = 32, 16

    def sheet(*, gaze_type: int, mask: bool) -> np.ndarray:
        item = {"rgb": torch.zeros(3, t, crop, crop), "gaze_target": torch.zeros(2, 4, 4),
                "gaze_mask": torch.tensor([mask, False]), "gaze_cell": torch.tensor([5, -1]),
                "gaze_type": torch.full((t,), gaze_type, dtype=torch.uint8), "gaze_xy": torch.full((t, 2), 0.6),
                "label": 3, "clip_index": 0, "start": 0}

        class Clips:
            config = SimpleNamespace(crop=crop, strides=(8, 8, 8))
            entries = [SimpleNamespace(clip=SimpleNamespace(name="P01-R01-Cut-1"))]

            def __getitem__(self, index):
                return item

        return measured_gaze_sheet(Clips(), [0], class_names=NAMES)

    plain = sheet(gaze_type=0, mask=False)  # no fixation: neither cross nor cell
    marked = sheet(gaze_type=1, mask=True)  # a fixation at (0.6, 0.6) in both slots, a target cell in slot 1 only
    assert plain.shape == marked.shape and plain.shape[1] >= 2 * PANEL_PX
    red = lambda image: int(np.all(image == HEAT, axis=-1).sum())  # noqa: E731
    green = lambda image: int(np.all(image == CELL, axis=-1).sum())  # noqa: E731
    arm = 2 * (PANEL_PX // 20) + 1  # cross: two arms 3 px thick
    assert red(marked) - red(plain) == 2 * (2 * 3 * arm - 9)
    side = PANEL_PX // 4  # one outlined cell, 3 px inside its border
    assert green(marked) - green(plain) == 4 * 3 * side - 4 * 9


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_write_overlay_refuses_other_suffixes_and_writes_atomically(tmp_path, suffix):
    from gazeattn.report.overlays import write_overlay

    pred = _prediction()
    with pytest.raises(ValueError, match="overlay must end in one of"):
        write_overlay(pred, tmp_path / "x.jpg")
    path = write_overlay(pred, tmp_path / f"x{suffix}", truth=2)
    assert path.stat().st_size > 0 and not list(tmp_path.glob(".*"))
