"""Gaze dropout (``loss.gaze_dropout``, issue 16 item 4): the classifier trains on the uniform map for a share p
of the clips, so that "no gaze information" falls back on the scene. The default 0 changes no weight; the
draws come from the step's generator; the estimator's candidates and its gradient are left as they are; the
glimpse head's fallback at the uniform map is exactly [GAP ; GAP]."""

from __future__ import annotations

import json

import pytest
import torch

from gazeattn.estimators import Constant, DirectOptimization, LocalExpectation
from gazeattn.inference import uniform_gaze_map
from gazeattn.train.config import LossConfig, TrainConfig, apply_overrides, parse_set_flags
from gazeattn.train.engine import step_generator
from gazeattn.train.objective import GAZE_DROPOUT_SALT, GazeObjective, candidate_loss_fn, gaze_dropout
from tinymodel import gazed_batch, tiny_model
from tinyworld import same_weights, tiny_world, trained_weights

def _seen_z(model) -> list[torch.Tensor]:
    """The z of every call of the classifier (the attention head's forward), recorded by a hook."""
    seen: list[torch.Tensor] = []
    model.attention.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    return seen


def _direct():
    return DirectOptimization(eps_schedule=Constant(1.0), relative=True)  # ε in units of the loss spread


# ------------------------------------------------------------------------------------------ the fallback
def test_the_glimpse_head_at_the_uniform_map_pools_gap_beside_gap(gen):
    model = tiny_model().double().eval()
    x5 = torch.randn(3, model.backbone.x5_channels, 2, 2, 2, generator=gen, dtype=torch.float64)
    uniform = uniform_gaze_map(x5[:, 0])  # (B, T', H', W'), 1/(H'W') per cell: each slot sums to 1
    assert torch.equal(uniform.sum((-2, -1)), torch.ones(3, 2, dtype=torch.float64))
    gap = x5.mean(dim=(2, 3, 4), keepdim=True)  # (B, C5, 1, 1, 1)
    pooled = model.attention.pooled(uniform, x5)  # (B, 2·C5, 1, 1, 1)
    torch.testing.assert_close(pooled, torch.cat([gap, gap], 1), rtol=0, atol=1e-14)
    cands = model.attention.pooled_candidates(uniform.unsqueeze(1), x5)  # (B, 1, 2·C5), the estimator's path
    torch.testing.assert_close(cands[:, 0], torch.cat([gap, gap], 1).flatten(1), rtol=0, atol=1e-14)
    # so the logits at the uniform map are fc_f([GAP ; GAP]): they do not depend on where anything is
    shuffled_cells = x5.flatten(2)[:, :, torch.randperm(8, generator=gen)].view_as(x5)
    torch.testing.assert_close(model.classify(uniform, x5), model.classify(uniform, shuffled_cells), rtol=0,
                               atol=1e-12)
    one_hot = torch.zeros_like(uniform)
    one_hot[..., 0, 0] = 1.0
    assert not torch.allclose(model.classify(one_hot, x5), model.classify(one_hot, shuffled_cells))


# ---------------------------------------------------------------------------------------- the draws
def test_zero_draws_nothing_and_returns_z_itself(gen):
    z = torch.rand(4, 2, 3, 3, generator=gen)
    step = step_generator(0, 5, 0)
    before_step, before_global = step.get_state(), torch.get_rng_state()
    out, dropped = gaze_dropout(z, 0.0, step)
    assert out is z and dropped is None
    assert torch.equal(step.get_state(), before_step) and torch.equal(torch.get_rng_state(), before_global)


def test_the_draws_are_a_function_of_the_step_generator_only(gen):
    z = torch.softmax(torch.randn(64, 2, 3, 3, generator=gen).flatten(2), -1).view(64, 2, 3, 3)
    a, dropped_a = gaze_dropout(z, 0.5, step_generator(0, 7, 0))
    torch.manual_seed(12345)  # the global RNG plays no part
    b, dropped_b = gaze_dropout(z, 0.5, step_generator(0, 7, 0))
    assert torch.equal(a, b) and torch.equal(dropped_a, dropped_b)
    _, other = gaze_dropout(z, 0.5, step_generator(0, 8, 0))
    assert not torch.equal(dropped_a, other)  # another step draws other clips
    step = step_generator(0, 7, 0)
    expected = torch.rand(64, generator=torch.Generator().manual_seed(step.initial_seed() ^ GAZE_DROPOUT_SALT)) < 0.5
    assert torch.equal(dropped_a, expected)
    assert 16 < int(dropped_a.sum()) < 48  # about half
    assert torch.equal(a[dropped_a], uniform_gaze_map(z)[dropped_a]) and torch.equal(a[~dropped_a], z[~dropped_a])
    before_step, before_global = step.get_state(), torch.get_rng_state()
    gaze_dropout(z, 0.5, step)
    assert torch.equal(torch.get_rng_state(), before_global)  # no draw from the global RNG
    assert torch.equal(step.get_state(), before_step)  # nor from the estimator's stream
    with pytest.raises(ValueError, match="step's generator"):
        gaze_dropout(z, 0.5, None)


# ------------------------------------------------------------------------------ through the objective
@pytest.mark.parametrize("attention", ["glimpse", "min2021", "li2018"])
def test_at_one_the_classifier_only_sees_the_uniform_map(gen, attention):
    model = tiny_model(attention)
    model.train()
    batch = gazed_batch(gen)
    seen = _seen_z(model)
    objective = GazeObjective("gaze-direct", _direct(), LossConfig(gaze_dropout=1.0), diagnostics=False)
    for step in range(3):
        terms = objective(model, batch, step, step_generator(0, step, 0))
        assert terms["stats"]["gaze_dropped"] == 1.0
    assert len(seen) == 3
    for z in seen:
        assert torch.equal(z, uniform_gaze_map(z))
    # at 0 the classifier sees the estimator's one-hot sample, and the record has no gaze_dropped
    seen.clear()
    terms = GazeObjective("gaze-direct", _direct(), LossConfig(), diagnostics=False)(
        model, batch, 0, step_generator(0, 0, 0))
    assert "gaze_dropped" not in terms["stats"]
    assert torch.equal(seen[0].flatten(2).max(-1).values, torch.ones(6, 2))


@pytest.mark.parametrize("estimator", [_direct(), LocalExpectation()])
def test_the_surrogate_gradient_still_reaches_the_gaze_head_unchanged(gen, estimator):
    """The candidates are scored at the real maps: the surrogate's gradient on the gaze logits is the
    estimator's estimate, whatever gaze_dropout is, and reaches the gaze head."""
    model = tiny_model()
    model.train()
    batch = gazed_batch(gen)
    grads = {}
    for p in (0.0, 1.0):
        model.zero_grad(set_to_none=True)
        objective = GazeObjective("gaze-direct", estimator, LossConfig(ce=0.0, kl=0.0, surrogate=1.0,
                                                                      gaze_dropout=p), diagnostics=False)
        terms = objective(model, batch, 0, step_generator(0, 0, 0))
        terms["gaze_logits"].register_hook(lambda g, p=p: grads.setdefault(p, g))
        terms["loss"].backward()
        assert sum(float(q.grad.abs().sum()) for q in model.gaze_head.parameters() if q.grad is not None) > 0
    x5 = model.backbone(batch["rgb"], None)[1]
    out = estimator.surrogate(terms["gaze_logits"].detach(), candidate_loss_fn(model, x5, batch["label"]), 0,
                              step_generator(0, 0, 0))
    torch.testing.assert_close(grads[1.0], out.grad / len(batch["label"]))
    torch.testing.assert_close(grads[1.0], grads[0.0], rtol=0, atol=0)


def test_gaze_dropout_is_a_checked_config_key():
    config = apply_overrides(TrainConfig(), parse_set_flags(["loss.gaze_dropout=0.3"]), "--set")
    assert config.loss.gaze_dropout == 0.3 and LossConfig().gaze_dropout == 0.0
    for bad in ("-0.1", "1.5", "nan"):
        with pytest.raises(ValueError, match="gaze_dropout"):
            apply_overrides(TrainConfig(), parse_set_flags([f"loss.gaze_dropout={bad}"]), "--set")


# ------------------------------------------------------------------------------------ 6-step runs
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("dropout") / "egtea", seed=3)


def test_six_step_runs_zero_is_the_default_and_a_seed_fixes_the_draws(world, tmp_path):
    default = trained_weights(world, tmp_path / "default")
    zero = trained_weights(world, tmp_path / "zero", "--set", "loss.gaze_dropout=0")
    assert same_weights(default, zero)
    records = [json.loads(line) for line in (tmp_path / "default" / "log.jsonl").read_text().splitlines()]
    assert not any("gaze_dropped" in r for r in records)
    half = [trained_weights(world, tmp_path / f"half{i}", "--set", "loss.gaze_dropout=0.5") for i in range(2)]
    assert same_weights(half[0], half[1])  # same seed, same draws, same weights
    assert not same_weights(half[0], default)  # and the key does reach the classifier's training
    records = [json.loads(line) for line in (tmp_path / "half0" / "log.jsonl").read_text().splitlines()]
    dropped = [r["gaze_dropped"] for r in records if r["kind"] == "train"]
    assert len(dropped) == 2 and all(0.0 <= d <= 1.0 for d in dropped) and 0 < sum(dropped) < 2
