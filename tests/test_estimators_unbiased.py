"""Local expectation and REINFORCE: unbiased against exact enumeration; invariances; batching; exact oracle."""

from __future__ import annotations


import pytest
import torch

from gazeattn.estimators import (
    exact_expected_loss,
    exact_gradient,
    exact_moments,
    local_expectation_gradient,
    reinforce_estimate,
    reinforce_gradient,
    sample_gumbel,
)
from gazeattn.estimators.closed_form import (
    TOY_B_LOSS,
    TOY_B_THETA,
    multilinear_loss_fn,
    table_moments,
)

D = torch.float64



def _batch(theta: torch.Tensor, n: int) -> torch.Tensor:
    return theta.reshape(1, theta.shape[0], 1, -1).expand(n, -1, -1, -1)


def _assert_mc_mean(draws, expected, n_se=6.0):
    draws = draws.reshape(draws.shape[0], -1)
    se = draws.std(0) / draws.shape[0] ** 0.5
    err = (draws.mean(0) - expected.reshape(-1)).abs()
    assert torch.all(err <= n_se * se + 1e-12), f"err {err.tolist()} vs {n_se} SE {(n_se * se).tolist()}"


def _var_ratio(draws, g):
    draws = draws.reshape(draws.shape[0], -1)
    return (((draws - draws.mean(0)) ** 2).sum(1).mean() / g.norm() ** 2).item()


def test_exact_enumeration_matches_table_closed_form_and_autograd(gen):
    theta = torch.randn(3, 4, generator=gen, dtype=D)
    table = torch.randn(4, 4, 4, generator=gen, dtype=D)
    e_cf, g_cf = table_moments(theta, table)
    e, g = exact_moments(theta.reshape(1, 3, 2, 2), multilinear_loss_fn(table), chunk_size=7)
    assert torch.allclose(e, e_cf[None]) and torch.allclose(g.reshape(3, 4), g_cf)
    th = theta.clone().requires_grad_(True)
    e_auto, _ = table_moments(th, table)
    (g_auto,) = torch.autograd.grad(e_auto, th)
    assert torch.allclose(g.reshape(3, 4), g_auto)
    e_b, g_b = table_moments(TOY_B_THETA, TOY_B_LOSS)
    assert abs(e_b.item() + 0.18765) < 1e-5  # golden E_q f = 0.18765, L = -f
    assert torch.allclose(-g_b, torch.tensor([[0.10344, 0.03946, -0.14291], [-0.20953, 0.09225, 0.11728]], dtype=D), atol=1e-5)


def test_exact_map_indices_path_and_refusal(gen):
    theta = torch.randn(2, 2, 1, 3, generator=gen, dtype=D)
    table = torch.randn(3, 3, generator=gen, dtype=D)
    by_maps = exact_gradient(theta, multilinear_loss_fn(table))
    by_idx = exact_gradient(theta, lambda idx: table[idx[:, 0], idx[:, 1]].expand(2, -1), map_indices=True)
    assert torch.allclose(by_maps, by_idx)
    assert exact_expected_loss(theta, multilinear_loss_fn(table)).shape == (2,)
    with pytest.raises(ValueError, match="max_maps"):
        exact_gradient(torch.zeros(1, 3, 7, 7), lambda z: z.sum((2, 3, 4)), max_maps=100_000)


def test_local_expectation_unbiased_and_golden_variance(gen):
    n = 200_000
    _, g = table_moments(TOY_B_THETA, TOY_B_LOSS)
    est = local_expectation_gradient(_batch(TOY_B_THETA, n), None, multilinear_loss_fn(TOY_B_LOSS), generator=gen)
    _assert_mc_mean(est, g)
    assert abs(_var_ratio(est, g) / 5.1 - 1) < 0.05  # golden ≈ 5.1


def test_local_expectation_unbiased_three_slots(gen):
    theta = torch.randn(3, 4, generator=gen, dtype=D)
    table = 2.0 * torch.randn(4, 4, 4, generator=gen, dtype=D)
    _, g = table_moments(theta, table)
    est = local_expectation_gradient(_batch(theta, 100_000), None, multilinear_loss_fn(table), generator=gen)
    _assert_mc_mean(est, g)


@pytest.mark.parametrize("baseline,s,golden", [("none", 1, 16.1), ("loo", 8, 17.6), ("loo", 2, None)])
def test_reinforce_unbiased(gen, baseline, s, golden):
    n = 100_000 if s == 8 else 200_000
    _, g = table_moments(TOY_B_THETA, TOY_B_LOSS)
    est = reinforce_gradient(_batch(TOY_B_THETA, n), multilinear_loss_fn(TOY_B_LOSS), s, generator=gen, baseline=baseline)
    _assert_mc_mean(est, g)
    if golden is not None:
        # the golden numbers are per loss evaluation: S · trace(Cov of the S-sample estimate) / ‖g‖²
        assert abs(s * _var_ratio(est, g) / golden - 1) < 0.05


def test_reinforce_loo_is_shift_invariant_plain_is_not(gen):
    theta = torch.randn(32, 2, 1, 3, generator=gen, dtype=D)
    gumbel = sample_gumbel((4, *theta.shape), gen)
    lf, lf_shift = multilinear_loss_fn(TOY_B_LOSS), multilinear_loss_fn(TOY_B_LOSS + 100.0)
    a = reinforce_gradient(theta, lf, 4, gumbel=gumbel)
    assert torch.allclose(a, reinforce_gradient(theta, lf_shift, 4, gumbel=gumbel), atol=1e-10)
    p = reinforce_gradient(theta, lf, 4, gumbel=gumbel, baseline="none")
    p_shift = reinforce_gradient(theta, lf_shift, 4, gumbel=gumbel, baseline="none")
    assert (p - p_shift).abs().max() > 1.0


def test_reinforce_details(gen):
    theta = torch.randn(3, 2, 1, 3, generator=gen, dtype=D)
    res = reinforce_estimate(theta, multilinear_loss_fn(TOY_B_LOSS), 5, generator=gen, chunk_size=2)
    assert res.loss_evals == 15 and res.samples.shape == (3, 5, 2) and res.losses.shape == (3, 5)
    assert torch.allclose(res.losses, TOY_B_LOSS[res.samples[..., 0], res.samples[..., 1]])
    with pytest.raises(ValueError, match="n_samples"):
        reinforce_gradient(theta, multilinear_loss_fn(TOY_B_LOSS), 1, generator=gen)
    with pytest.raises(ValueError, match="baseline"):
        reinforce_gradient(theta, multilinear_loss_fn(TOY_B_LOSS), 2, generator=gen, baseline="mean")


def test_local_expectation_batched_equals_per_clip_and_chunked(gen):
    b = 4
    theta = torch.randn(b, 3, 2, 2, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    tables = 3.0 * torch.randn(b, 4, 4, 4, generator=gen, dtype=D)

    def clip_loss(tab):
        def loss_fn(z):
            zf = z.flatten(-2).to(D)
            return torch.einsum("bmi,bmj,bmk,bijk->bm", zf[:, :, 0], zf[:, :, 1], zf[:, :, 2], tab)

        return loss_fn

    batched = local_expectation_gradient(theta, gumbel, clip_loss(tables))
    single = torch.cat([local_expectation_gradient(theta[i : i + 1], gumbel[i : i + 1], clip_loss(tables[i : i + 1])) for i in range(b)])
    assert torch.equal(batched, single)
    assert torch.equal(batched, local_expectation_gradient(theta, gumbel, clip_loss(tables), chunk_size=5))
    # invariant to shifting the loss
    shifted = local_expectation_gradient(theta, gumbel, clip_loss(tables + 9.0))
    assert torch.allclose(batched, shifted, atol=1e-12)
