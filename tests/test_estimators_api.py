"""Trainer-facing estimator objects, the surrogate helper, schedules and Gumbel noise."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import gazeattn.estimators as est
from gazeattn.estimators import (
    Constant,
    DirectOptimization,
    ExponentialDecay,
    GumbelSoftmax,
    LocalExpectation,
    Reinforce,
    direct_gradient,
    local_expectation_gradient,
    reference_eps_schedule,
    sample_gumbel,
    surrogate_from_grad,
)
from gazeattn.estimators.closed_form import multilinear_loss_fn
from estimator_helpers import CosineSchedule, ExactEnumeration, LinearSchedule, jang_tau_schedule

D = torch.float64



def test_public_contract_is_exported():
    for name in [
        "direct_gradient", "local_expectation_gradient", "reinforce_gradient", "gumbel_softmax_gradient",
        "straight_through_gradient", "exact_gradient", "exact_expected_loss", "sample_gumbel", "relaxed_sample",
        "DirectOptimization", "LocalExpectation", "Reinforce", "GumbelSoftmax", "EstimatorOutput", "ClassLosses",
    ]:
        assert name in est.__all__ and hasattr(est, name), name


def test_sample_gumbel_reproducible_and_distributed(gen):
    a = sample_gumbel((200_000,), torch.Generator().manual_seed(3))
    b = sample_gumbel((200_000,), torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.dtype == D and torch.isfinite(a).all()
    assert abs(a.mean().item() - 0.5772156649) < 6 * math.pi / math.sqrt(6) / math.sqrt(a.numel())
    assert abs(a.var().item() - math.pi**2 / 6) < 0.05
    assert sample_gumbel((2, 3), gen, dtype=torch.float32).dtype == torch.float32


def _tiny_problem(gen, b=3):
    logits = torch.randn(b, 2, 1, 3, generator=gen, dtype=D, requires_grad=True)
    table = torch.randn(3, 3, generator=gen, dtype=D)
    return logits, multilinear_loss_fn(table)


@pytest.mark.parametrize(
    "estimator",
    [DirectOptimization(Constant(0.5)), DirectOptimization(Constant(0.5), mode="central", chunk_size=2),
     LocalExpectation(), Reinforce(4), Reinforce(1, baseline="none"), ExactEnumeration()],
    ids=lambda e: type(e).__name__,
)
def test_estimator_objects_surrogate_has_value_zero_and_gradient_grad_over_b(gen, estimator):
    logits, lf = _tiny_problem(gen)
    out = estimator.surrogate(logits, lf, step=7, generator=gen)
    assert out.surrogate.shape == () and out.surrogate.item() == 0.0
    assert out.z.shape == logits.shape and not out.z.requires_grad
    assert torch.equal(out.z.flatten(-2).sum(-1), torch.ones(3, 2, dtype=D))  # one-hot per slot
    (g,) = torch.autograd.grad(out.surrogate, logits)
    assert torch.allclose(g, out.grad / logits.shape[0])
    assert out.stats["loss_evals"] > 0


def test_direct_object_uses_schedule_and_same_noise_as_function(gen):
    logits, lf = _tiny_problem(gen)
    sched = reference_eps_schedule()
    seed = 1234
    out = DirectOptimization(sched).surrogate(logits, lf, step=9_250, generator=torch.Generator().manual_seed(seed))
    assert out.stats["eps"] == pytest.approx(1000 * math.exp(-9.2))
    want = direct_gradient(logits, sample_gumbel(logits.shape, torch.Generator().manual_seed(seed)), lf, out.stats["eps"])
    assert torch.equal(out.grad, want)
    assert 0.0 <= out.stats["flip_rate"] <= 1.0 and len(out.stats["flip_rate_per_slot"]) == 2
    le = LocalExpectation(reduction="sum").surrogate(logits, lf, 0, torch.Generator().manual_seed(seed))
    (g,) = torch.autograd.grad(le.surrogate, logits)
    assert torch.allclose(g, local_expectation_gradient(logits, sample_gumbel(logits.shape, torch.Generator().manual_seed(seed)), lf))


def test_gumbel_softmax_object_carries_gradient_through_z(gen):
    logits, lf = _tiny_problem(gen)
    for hard in (False, True):
        out = GumbelSoftmax(jang_tau_schedule(), hard=hard).surrogate(logits, None, step=0, generator=gen)
        assert out.grad is None and out.surrogate.item() == 0.0 and out.stats["tau"] == 1.0
        assert out.z.requires_grad
        (g,) = torch.autograd.grad(lf(out.z.unsqueeze(1)).sum(), logits)
        assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_surrogate_from_grad_checks():
    logits = torch.zeros(2, 1, 1, 3, requires_grad=True)
    with pytest.raises(ValueError, match="shaped like"):
        surrogate_from_grad(logits, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="reduction"):
        surrogate_from_grad(logits, torch.zeros_like(logits), reduction="max")


def test_reference_eps_schedule():
    s = reference_eps_schedule()
    assert s(0) == 1000.0 and s(99) == 1000.0
    assert s(100) == pytest.approx(1000 * math.exp(-0.1)) and s(199) == s(100)
    assert s(9_299) > 0.1 and s(9_300) == 0.1 and s(50_000) == 0.1  # floor reached at 9.3k (9.2k: 0.101)
    with pytest.raises(ValueError):
        s(-1)


def test_other_schedules_are_pure_frozen_functions_of_step():
    assert Constant(0.3)(0) == Constant(0.3)(10**6) == 0.3
    lin = LinearSchedule(1.0, 0.1, 100)
    assert lin(0) == 1.0 and lin(50) == pytest.approx(0.55) and lin(100) == pytest.approx(0.1) and lin(500) == pytest.approx(0.1)
    cos = CosineSchedule(1.0, 0.0, 100)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0)
    ex = ExponentialDecay(2.0, 0.01, floor=0.5)
    assert ex(10) == pytest.approx(2.0 * math.exp(-0.1)) and ex(10_000) == 0.5
    tau = jang_tau_schedule(rate=1e-4, every=500)
    assert tau(499) == 1.0 and tau(500) == pytest.approx(math.exp(-0.05)) and tau(10**6) == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        lin.start = 3.0  # type: ignore[misc]
