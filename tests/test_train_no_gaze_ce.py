"""The no-gaze path (``loss.no_gaze_ce``, issue 16 item 4): beside its gazed decision the classifier learns one at
the uniform map, so "no gaze information" falls back on the scene while every clip still trains the gazed path.
The default 0 changes no weight; the term is the cross-entropy at the uniform map; its gradient never reaches the
gaze head; the estimator's surrogate and its gradient are left as they are."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from gazeattn.estimators import Constant, DirectOptimization, LocalExpectation
from gazeattn.inference import uniform_gaze_map
from gazeattn.train.config import LossConfig, TrainConfig, apply_overrides, parse_set_flags
from gazeattn.train.engine import step_generator
from gazeattn.train.objective import GazeObjective, candidate_loss_fn, no_gaze_ce
from tinymodel import gazed_batch, tiny_model
from tinyworld import same_weights, tiny_world, trained_weights

def _direct():
    return DirectOptimization(eps_schedule=Constant(1.0), relative=True)


def _grad_norm(module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_the_term_is_the_cross_entropy_at_the_uniform_map(gen):
    model = tiny_model().eval()
    batch = gazed_batch(gen)
    x5 = model.backbone(batch["rgb"], None)[1]
    z = torch.zeros(6, 2, 2, 2)
    z[..., 1, 0] = 1.0  # a one-hot look at one cell
    expected = F.cross_entropy(model.classify(uniform_gaze_map(z), x5), batch["label"])
    torch.testing.assert_close(no_gaze_ce(model, z, x5, batch["label"]), expected)
    # and it does not depend on the z it was given: only its shape
    torch.testing.assert_close(no_gaze_ce(model, torch.rand_like(z), x5, batch["label"]), expected)
    assert not torch.allclose(F.cross_entropy(model.classify(z, x5), batch["label"]), expected)


@pytest.mark.parametrize("attention", ["glimpse", "min2021"])
def test_the_objective_adds_w_times_the_term_and_classifies_twice(gen, attention):
    model = tiny_model(attention).eval()  # no dropout: the two objectives see the same logits
    batch = gazed_batch(gen)
    seen: list[torch.Tensor] = []
    model.attention.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    base = GazeObjective("gaze-direct", _direct(), LossConfig(), diagnostics=False)(
        model, batch, 0, step_generator(0, 0, 0))
    assert "no_gaze_ce" not in base["stats"] and len(seen) == 1
    seen.clear()
    terms = GazeObjective("gaze-direct", _direct(), LossConfig(no_gaze_ce=0.5), diagnostics=False)(
        model, batch, 0, step_generator(0, 0, 0))
    assert len(seen) == 2
    assert torch.equal(seen[0].flatten(2).max(-1).values, torch.ones(6, 2))  # the gazed path: the sample
    assert torch.equal(seen[1], uniform_gaze_map(seen[0]))  # then the no-gaze path
    with torch.no_grad():
        term = float(no_gaze_ce(model, seen[0], model.backbone(batch["rgb"], None)[1], batch["label"]))
    assert terms["stats"]["no_gaze_ce"] == pytest.approx(term, rel=1e-6)
    torch.testing.assert_close(terms["ce"], base["ce"])  # the gazed decision's CE is the same
    assert float(terms["loss"].detach()) == pytest.approx(float(base["loss"].detach()) + 0.5 * term, rel=1e-5)


def test_its_gradient_reaches_classifier_and_trunk_but_never_the_gaze_head(gen):
    model = tiny_model()
    model.train()
    objective = GazeObjective("gaze-direct", _direct(), LossConfig(ce=0.0, kl=0.0, surrogate=0.0, no_gaze_ce=1.0),
                              diagnostics=False)
    terms = objective(model, gazed_batch(gen), 0, step_generator(0, 0, 0))
    terms["loss"].backward()
    assert _grad_norm(model.gaze_head) == 0.0
    assert _grad_norm(model.backbone) > 0 and _grad_norm(model) > _grad_norm(model.backbone)


@pytest.mark.parametrize("estimator", [_direct(), LocalExpectation()])
def test_the_surrogate_gradient_on_the_gaze_logits_is_unchanged(gen, estimator):
    model = tiny_model()
    model.train()
    batch = gazed_batch(gen)
    grads = {}
    for w in (0.0, 1.0):
        model.zero_grad(set_to_none=True)
        objective = GazeObjective("gaze-direct", estimator, LossConfig(ce=0.0, kl=0.0, surrogate=1.0,
                                                                      no_gaze_ce=w), diagnostics=False)
        terms = objective(model, batch, 0, step_generator(0, 0, 0))
        terms["gaze_logits"].register_hook(lambda g, w=w: grads.setdefault(w, g))
        terms["loss"].backward()
    x5 = model.backbone(batch["rgb"], None)[1]
    out = estimator.surrogate(terms["gaze_logits"].detach(), candidate_loss_fn(model, x5, batch["label"]), 0,
                              step_generator(0, 0, 0))
    torch.testing.assert_close(grads[1.0], out.grad / len(batch["label"]))
    torch.testing.assert_close(grads[1.0], grads[0.0], rtol=0, atol=0)


def test_variants_without_attention_take_no_term(gen):
    model = tiny_model("none").eval()
    terms = GazeObjective("gaze-aux", None, LossConfig(no_gaze_ce=1.0), diagnostics=False)(
        model, gazed_batch(gen), 0, step_generator(0, 0, 0))
    assert "no_gaze_ce" not in terms["stats"]


def test_no_gaze_ce_is_a_checked_config_key():
    config = apply_overrides(TrainConfig(), parse_set_flags(["loss.no_gaze_ce=0.5"]), "--set")
    assert config.loss.no_gaze_ce == 0.5 and LossConfig().no_gaze_ce == 0.0
    for bad in ("-0.1", "nan", "inf"):
        with pytest.raises(ValueError, match="no_gaze_ce"):
            apply_overrides(TrainConfig(), parse_set_flags([f"loss.no_gaze_ce={bad}"]), "--set")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("nogaze") / "egtea", seed=3)


def test_six_step_runs_zero_is_the_default_and_the_key_trains(world, tmp_path):
    default = trained_weights(world, tmp_path / "default")
    assert same_weights(default, trained_weights(world, tmp_path / "zero", "--set", "loss.no_gaze_ce=0"))
    on = [trained_weights(world, tmp_path / f"on{i}", "--set", "loss.no_gaze_ce=1") for i in range(2)]
    assert same_weights(on[0], on[1]) and not same_weights(on[0], default)
    records = [json.loads(line) for line in (tmp_path / "on0" / "log.jsonl").read_text().splitlines()]
    values = [r["no_gaze_ce"] for r in records if r["kind"] == "train"]
    assert len(values) == 2 and all(v > 0 for v in values)
