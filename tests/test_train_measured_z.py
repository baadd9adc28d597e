"""Teacher forcing (``loss.measured_z``): on a clip with measured gaze the classifier trains, with probability p,
on the measured map in the slots that have one, while the estimator still samples and scores at q's maps. The
default 0 changes no weight; the draws come from the step's generator; slots without a target keep the sample."""

from __future__ import annotations

import json

import pytest
import torch

from gazeattn.estimators import Constant, DirectOptimization
from gazeattn.models import ModelConfig, build_model
from gazeattn.train.config import LossConfig, TrainConfig, apply_overrides, parse_set_flags
from gazeattn.train.engine import step_generator
from gazeattn.train.objective import MEASURED_Z_SALT, GazeObjective, candidate_loss_fn, measured_z
from tinyworld import tiny_world, trained_weights

CLIP = (16, 32, 32)  # tiny backbone at stride (8, 16, 16) -> grid (2, 2, 2)


def _model():
    config = ModelConfig(backbone="tiny", streams="rgb", num_classes=5, attention="glimpse", clip=CLIP,
                         strides=(8, 16, 16), tiny_widths=(4, 4, 8, 8, 8), dropout=0.5)
    return build_model(config)


def _batch(gen: torch.Generator, b: int = 6):
    """Clips 0-1 with a target in both slots, 2-3 in slot 0 only, 4-5 without any."""
    target = torch.zeros(b, 2, 2, 2)
    cells = torch.randint(0, 4, (b, 2), generator=gen)
    target.view(b, 2, 4).scatter_(2, cells.unsqueeze(-1), 1.0)
    mask = torch.tensor([[1, 1], [1, 1], [1, 0], [1, 0], [0, 0], [0, 0]], dtype=torch.bool)
    target[~mask] = 0.0
    return {"rgb": torch.randn(b, 3, *CLIP, generator=gen), "label": torch.randint(0, 5, (b,), generator=gen),
            "gaze_target": target, "gaze_mask": mask}


def test_zero_draws_nothing_and_returns_z_itself(gen):
    z = torch.rand(6, 2, 2, 2, generator=gen)
    step = step_generator(0, 5, 0)
    before_step, before_global = step.get_state(), torch.get_rng_state()
    out, forced = measured_z(z, _batch(gen), 0.0, step)
    assert out is z and forced is None
    assert torch.equal(step.get_state(), before_step) and torch.equal(torch.get_rng_state(), before_global)


def test_at_one_every_slot_with_a_target_takes_it_and_the_others_keep_the_sample(gen):
    batch = _batch(gen)
    z = torch.rand(6, 2, 2, 2, generator=gen)
    out, forced = measured_z(z, batch, 1.0, step_generator(0, 3, 0))
    assert forced.tolist() == [True, True, True, True, False, False]  # a clip without any target is never forced
    mask = batch["gaze_mask"]
    assert torch.equal(out[mask], batch["gaze_target"][mask])
    assert torch.equal(out[~mask], z[~mask])


def test_the_draws_are_a_function_of_the_step_generator_only(gen):
    b = 64
    batch = {"gaze_target": torch.ones(b, 2, 2, 2) / 4, "gaze_mask": torch.ones(b, 2, dtype=torch.bool)}
    z = torch.rand(b, 2, 2, 2, generator=gen)
    _, a = measured_z(z, batch, 0.5, step_generator(0, 7, 0))
    torch.manual_seed(999)  # the global RNG plays no part
    _, again = measured_z(z, batch, 0.5, step_generator(0, 7, 0))
    assert torch.equal(a, again)
    step = step_generator(0, 7, 0)
    expected = torch.rand(b, generator=torch.Generator().manual_seed(step.initial_seed() ^ MEASURED_Z_SALT)) < 0.5
    assert torch.equal(a, expected) and 16 < int(a.sum()) < 48
    before = step.get_state()
    measured_z(z, batch, 0.5, step)
    assert torch.equal(step.get_state(), before)  # the estimator's stream is left as it is
    with pytest.raises(ValueError, match="step's generator"):
        measured_z(z, batch, 0.5, None)


def test_through_the_objective_the_classifier_sees_the_measured_maps_and_the_surrogate_is_unchanged(gen):
    model = _model()
    model.train()
    batch = _batch(gen)
    seen: list[torch.Tensor] = []
    model.attention.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    estimator = DirectOptimization(eps_schedule=Constant(1.0), relative=True)
    grads = {}
    for p in (0.0, 1.0):
        model.zero_grad(set_to_none=True)
        objective = GazeObjective("gaze-direct", estimator, LossConfig(ce=0.0, kl=0.0, measured_z=p),
                                  diagnostics=False)
        terms = objective(model, batch, 0, step_generator(0, 0, 0))
        terms["gaze_logits"].register_hook(lambda g, p=p: grads.setdefault(p, g))
        terms["loss"].backward()
    assert terms["stats"]["measured_z_share"] == pytest.approx(4 / 6)
    mask = batch["gaze_mask"]
    assert torch.equal(seen[1][mask], batch["gaze_target"][mask])  # p = 1: the measured maps where there are some
    assert torch.equal(seen[1][~mask], seen[0][~mask])  # ... and the same sample elsewhere
    assert not torch.equal(seen[0][mask], batch["gaze_target"][mask])
    torch.testing.assert_close(grads[1.0], grads[0.0], rtol=0, atol=0)  # the estimator's gradient is untouched
    x5 = model.backbone(batch["rgb"], None)[1]
    out = estimator.surrogate(terms["gaze_logits"].detach(), candidate_loss_fn(model, x5, batch["label"]), 0,
                              step_generator(0, 0, 0))
    torch.testing.assert_close(grads[1.0], out.grad / len(batch["label"]))


def test_measured_z_is_a_checked_config_key():
    config = apply_overrides(TrainConfig(), parse_set_flags(["loss.measured_z=1"]), "--set")
    assert config.loss.measured_z == 1.0 and LossConfig().measured_z == 0.0
    for bad in ("-0.1", "1.5", "nan"):
        with pytest.raises(ValueError, match="measured_z"):
            apply_overrides(TrainConfig(), parse_set_flags([f"loss.measured_z={bad}"]), "--set")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("measured_z") / "egtea", seed=3)


def test_four_step_runs_zero_is_the_default_and_the_key_reaches_training(world, tmp_path):
    default = trained_weights(world, tmp_path / "default", steps=4, log_every=2)
    zero = trained_weights(world, tmp_path / "zero", "--set", "loss.measured_z=0", steps=4, log_every=2)
    assert all(torch.equal(default[k], zero[k]) for k in default)
    forced = trained_weights(world, tmp_path / "one", "--set", "loss.measured_z=1", steps=4, log_every=2)
    assert not all(torch.equal(default[k], forced[k]) for k in default)
    records = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    shares = [r["measured_z_share"] for r in records if r["kind"] == "train"]
    assert len(shares) == 2 and all(0.0 < s <= 1.0 for s in shares)
