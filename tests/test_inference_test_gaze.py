"""The test-time z maps of :mod:`gazeattn.inference.test_gaze`: each mode's map, the measured and uniform maps,
the seeded samples, and the shuffled ablation (never a window's own clip)."""

from __future__ import annotations

import pytest
import torch

from gazeattn.inference.test_gaze import (
    EVALUATED, TEST_GAZE, WITHOUT_GAZE_HEAD, ShuffledGaze, measured_gaze_map, predicted_gaze_map, sampled_gaze_maps,
    single_gaze_map, uniform_gaze_map)

B, T, H, W = 3, 2, 3, 4  # (B, T', H', W')


def _is_one_hot(z: torch.Tensor) -> bool:
    flat = z.flatten(2)  # (B, T', K)
    return bool(((flat == 0) | (flat == 1)).all() and (flat.sum(-1) == 1).all())


def test_every_mode_gives_a_distribution_per_slot(gen):
    logits = torch.randn(B, T, H, W, generator=gen)
    for mode in ("argmax", "expectation", "sample", "uniform", "measured"):
        measured = torch.softmax(torch.randn(B, T, H * W, generator=gen), -1).view(B, T, H, W)
        z = single_gaze_map(mode, logits, logits, seeds=[1, 2, 3], measured=measured)
        assert z.shape == (B, T, H, W)
        torch.testing.assert_close(z.flatten(2).sum(-1), torch.ones(B, T))
    argmax = predicted_gaze_map(logits, "argmax")
    assert _is_one_hot(argmax)
    assert torch.equal(argmax.flatten(2).argmax(-1), logits.flatten(2).argmax(-1))
    expectation = predicted_gaze_map(logits, "expectation")
    torch.testing.assert_close(expectation.flatten(2), torch.softmax(logits.flatten(2), -1))
    assert torch.equal(uniform_gaze_map(logits), torch.full_like(logits, 1.0 / (H * W)))


def test_modes_that_need_what_is_missing_say_so():
    logits = torch.zeros(B, T, H, W)
    with pytest.raises(ValueError, match="measured gaze map"):
        single_gaze_map("measured", logits, logits)
    with pytest.raises(ValueError, match="needs a gaze head"):
        single_gaze_map("argmax", None, logits)
    with pytest.raises(ValueError, match="one seed per clip window"):
        predicted_gaze_map(logits, "sample", seeds=[1])
    assert set(WITHOUT_GAZE_HEAD) <= set(EVALUATED) and "sample" in TEST_GAZE


def test_measured_map_is_the_target_where_measured_and_uniform_elsewhere(gen):
    target = torch.softmax(torch.randn(B, T, H * W, generator=gen), -1).view(B, T, H, W)
    mask = torch.tensor([[1, 0], [0, 0], [1, 1]])
    z = measured_gaze_map({"gaze_target": target, "gaze_mask": mask})
    assert torch.equal(z[mask.bool()], target[mask.bool()])
    assert torch.equal(z[~mask.bool()], torch.full((3, H, W), 1.0 / (H * W)))


def test_samples_are_one_hot_and_seeded_per_window_whatever_the_batching(gen):
    logits = torch.randn(B, T, H, W, generator=gen)
    together = sampled_gaze_maps(logits, [10, 11, 12], samples=5)  # (B, S, T', H', W')
    assert together.shape == (B, 5, T, H, W) and _is_one_hot(together.flatten(0, 1))
    alone = torch.cat([sampled_gaze_maps(logits[i:i + 1], [10 + i], samples=5) for i in range(B)])
    assert torch.equal(together, alone)
    one = predicted_gaze_map(logits, "sample", seeds=[10, 11, 12])
    assert _is_one_hot(one) and torch.equal(one, predicted_gaze_map(logits, "sample", seeds=[10, 11, 12]))


def test_shuffled_z_comes_from_another_clip_or_is_uniform(gen):
    shuffled = ShuffledGaze(seed=4)
    z1 = torch.randn(4, T, H, W, generator=gen)
    clips1 = torch.tensor([0, 0, 1, 2])
    out, fallbacks = shuffled(z1, clips1)
    assert fallbacks == 0
    for i, c in enumerate(clips1.tolist()):
        sources = [j for j in range(4) if torch.equal(out[i], z1[j])]
        assert sources and all(clips1[j] != c for j in sources)
    z2 = torch.randn(2, T, H, W, generator=gen)  # one clip only: its windows draw from the previous batch
    out2, fallbacks2 = shuffled(z2, torch.tensor([2, 2]))
    assert fallbacks2 == 0 and all(any(torch.equal(o, z1[j]) for j in (0, 1, 2)) for o in out2)
    lone = ShuffledGaze(seed=4)
    out3, fallbacks3 = lone(z2, torch.tensor([5, 5]))  # nothing from another clip at hand: uniform
    assert fallbacks3 == 2 and torch.equal(out3, uniform_gaze_map(z2))
    again = ShuffledGaze(seed=4)
    assert torch.equal(again(z1, clips1)[0], out)
