"""Direct optimization: closed forms, golden numbers (reference/ESTIMATORS.md), exact identities, batching."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from gazeattn.estimators import (
    ClassLosses,
    direct_estimate,
    direct_gradient,
    gumbel_argmax,
    sample_gumbel,
    score_coordinate_candidates,
)
from gazeattn.estimators.closed_form import (
    TOY_A_LOSS,
    TOY_A_THETA,
    TOY_B_LOSS,
    TOY_B_THETA,
    categorical_gradient,
    direct_expectation_categorical,
    direct_expectation_coordinate,
    multilinear_loss_fn,
    table_moments,
)

D = torch.float64



def _batch(theta: torch.Tensor, n: int) -> torch.Tensor:
    """(T', K) -> n identical clips (n, T', 1, K)."""
    return theta.reshape(1, theta.shape[0], 1, -1).expand(n, -1, -1, -1)


def _assert_mc_mean(draws: torch.Tensor, expected: torch.Tensor, n_se: float = 6.0) -> None:
    """Per coordinate |mean − expected| < n_se · (MC standard error)."""
    draws = draws.reshape(draws.shape[0], -1)
    mean = draws.mean(0)
    se = draws.std(0) / draws.shape[0] ** 0.5
    err = (mean - expected.reshape(-1)).abs()
    assert torch.all(err <= n_se * se + 1e-12), f"err {err.tolist()} vs {n_se} SE {(n_se * se).tolist()}"


def test_toy_a_closed_form_matches_golden_relative_bias():
    g = categorical_gradient(TOY_A_THETA, TOY_A_LOSS)
    # golden: ∇E[f] = [0.0801, -0.2780, -0.0732, 0.3312, -0.0601]; we return ∇E[L] = −∇E[f].
    assert torch.allclose(-g, torch.tensor([0.0801, -0.2780, -0.0732, 0.3312, -0.0601], dtype=D), atol=1e-4)
    assert abs(g.norm().item() - 0.44985) < 1e-4
    golden = {10: 0.8499, 2: 0.7485, 1: 0.8349, 0.5: 0.5600, 0.25: 0.3039, 0.1: 0.1254, 0.01: 0.0127, 0.001: 0.0013}
    for eps, rel in golden.items():
        e = direct_expectation_categorical(TOY_A_THETA, TOY_A_LOSS, eps)
        assert abs(((e - g).norm() / g.norm()).item() - rel) < 1e-4, eps
    for eps, rel in {0.5: 0.068, 0.25: 0.019, 0.1: 0.0032}.items():
        e = direct_expectation_categorical(TOY_A_THETA, TOY_A_LOSS, eps, "central")
        assert abs(((e - g).norm() / g.norm()).item() - rel) < 1e-3, eps


@pytest.mark.parametrize("mode", ["one_sided", "central"])
@pytest.mark.parametrize("eps", [1.0, 0.25, 0.1])
def test_toy_a_monte_carlo_mean_matches_closed_form(gen, mode, eps):
    n = 200_000
    est = direct_gradient(_batch(TOY_A_THETA[None], n), None, multilinear_loss_fn(TOY_A_LOSS), eps, mode=mode, generator=gen)
    assert est.shape == (n, 1, 1, 5) and est.dtype == D
    _assert_mc_mean(est, direct_expectation_categorical(TOY_A_THETA, TOY_A_LOSS, eps, mode))


def test_toy_a_bias_shrinks_and_variance_grows_with_eps(gen):
    n = 200_000
    g = categorical_gradient(TOY_A_THETA, TOY_A_LOSS)
    biases, variances = [], []
    for eps, golden_var in [(1.0, 3.6), (0.1, 59.5), (0.01, 645.0)]:
        est = direct_gradient(_batch(TOY_A_THETA[None], n), None, multilinear_loss_fn(TOY_A_LOSS), eps, generator=gen)
        est = est.reshape(n, 5)
        var = ((est - est.mean(0)) ** 2).sum(1).mean() / g.norm() ** 2
        # relative MC error of a variance estimate of a heavy-tailed (mostly zero) estimator: ~ sqrt(2/(p n));
        # flips happen with probability ≳ ε·0.1 here, so allow 15 %.
        assert abs(var.item() / golden_var - 1) < 0.15, (eps, var.item())
        biases.append(((direct_expectation_categorical(TOY_A_THETA, TOY_A_LOSS, eps) - g).norm() / g.norm()).item())
        variances.append(var.item())
    assert biases[0] > biases[1] > biases[2] and variances[0] < variances[1] < variances[2]


def test_toy_b_coordinate_closed_form_golden_and_monte_carlo(gen):
    _, g = table_moments(TOY_B_THETA, TOY_B_LOSS)
    assert abs(g.norm().item() - 0.31440) < 1e-4
    golden = {1: 0.4245, 0.5: 0.3035, 0.25: 0.1795, 0.1: 0.0779, 0.01: 0.0081}
    for eps, rel in golden.items():
        e = direct_expectation_coordinate(TOY_B_THETA, TOY_B_LOSS, eps)
        assert abs(((e - g).norm() / g.norm()).item() - rel) < 1e-4, eps
    n = 200_000
    for eps in (1.0, 0.25):
        for mode in ("one_sided", "central"):
            est = direct_gradient(_batch(TOY_B_THETA, n), None, multilinear_loss_fn(TOY_B_LOSS), eps, mode=mode, generator=gen)
            _assert_mc_mean(est, direct_expectation_coordinate(TOY_B_THETA, TOY_B_LOSS, eps, mode))


def test_three_slot_coordinate_closed_form(gen):
    theta = torch.randn(3, 4, generator=gen, dtype=D)
    table = torch.randn(4, 4, 4, generator=gen, dtype=D)
    n = 100_000
    est = direct_gradient(_batch(theta, n), None, multilinear_loss_fn(table), 0.5, generator=gen)
    _assert_mc_mean(est, direct_expectation_coordinate(theta, table, 0.5))


def test_exact_identities_shift_constant_scale(gen):
    theta = torch.randn(64, 3, 2, 3, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    table = torch.randn(6, 6, 6, generator=gen, dtype=D)
    base = direct_gradient(theta, gumbel, multilinear_loss_fn(table), 0.3)
    assert base.abs().sum() > 0
    # shift by a constant: identical, sample by sample
    shifted = direct_gradient(theta, gumbel, multilinear_loss_fn(table + 17.0), 0.3)
    assert torch.equal(base, shifted)
    # constant loss: exactly zero
    const = direct_gradient(theta, gumbel, multilinear_loss_fn(torch.full_like(table, 3.0)), 0.3)
    assert torch.equal(const, torch.zeros_like(const))
    # (L, eps) -> (a L, eps / a): estimate times a (a a power of two: exact in floating point)
    scaled = direct_gradient(theta, gumbel, multilinear_loss_fn(4.0 * table), 0.3 / 4.0)
    assert torch.allclose(scaled, 4.0 * base, rtol=0, atol=1e-12)
    for mode in ("central",):
        b2 = direct_gradient(theta, gumbel, multilinear_loss_fn(table), 0.3, mode=mode)
        assert torch.equal(b2, direct_gradient(theta, gumbel, multilinear_loss_fn(table - 5.0), 0.3, mode=mode))


def _fresh_noise_direct(theta, gumbel, loss_fn, eps, gen):
    """A deliberately WRONG variant: z_eps drawn with fresh noise instead of the noise that gave z*."""
    z_star = gumbel_argmax(theta, gumbel)
    scores = score_coordinate_candidates(z_star, tuple(theta.shape[-2:]), loss_fn)
    fresh = sample_gumbel(theta.shape, gen).flatten(-2)
    z_eps = (theta.flatten(-2) + fresh - eps * scores.losses).argmax(-1)
    k = theta.shape[-1] * theta.shape[-2]
    diff = torch.nn.functional.one_hot(z_star, k) - torch.nn.functional.one_hot(z_eps, k)
    return (diff.to(D) / eps).unflatten(-1, tuple(theta.shape[-2:]))


def test_same_noise_is_what_makes_constant_loss_give_zero(gen):
    theta = torch.randn(256, 2, 1, 5, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    const = multilinear_loss_fn(torch.full((5, 5), 2.0, dtype=D))
    ours = direct_gradient(theta, gumbel, const, 0.5)
    wrong = _fresh_noise_direct(theta, gumbel, const, 0.5, gen)
    assert torch.equal(ours, torch.zeros_like(ours))
    assert wrong.abs().sum() > 0  # fresh noise fails the constant-loss identity


def _clip_dependent_loss(tables: torch.Tensor, calls: list | None = None):
    """loss_fn whose value depends on the clip index: clip b uses tables[b] (catches any candidate/clip mix-up)."""

    def loss_fn(z: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append(tuple(z.shape))
        zf = z.flatten(-2).to(D)  # (B, M, T', K)
        return torch.einsum("bmi,bmj,bmk,bijk->bm", zf[:, :, 0], zf[:, :, 1], zf[:, :, 2], tables[: z.shape[0]])

    return loss_fn


def _per_clip(fn, theta, gumbel, tables):
    outs = [fn(theta[b : b + 1], gumbel[b : b + 1], _clip_dependent_loss(tables[b : b + 1])) for b in range(len(theta))]
    return torch.cat(outs)


@pytest.mark.parametrize("mode", ["one_sided", "central"])
def test_batched_equals_per_clip_and_chunked_equals_unchunked(gen, mode):
    b, grid = 5, (2, 3)
    theta = torch.randn(b, 3, *grid, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    tables = 3.0 * torch.randn(b, 6, 6, 6, generator=gen, dtype=D)
    calls: list = []
    batched = direct_gradient(theta, gumbel, _clip_dependent_loss(tables, calls), 0.2, mode=mode)
    assert calls == [(b, 18, 3, 2, 3)]
    single = _per_clip(lambda t, g, f: direct_gradient(t, g, f, 0.2, mode=mode), theta, gumbel, tables)
    assert torch.equal(batched, single)
    assert batched.abs().sum() > 0
    calls.clear()
    chunked = direct_gradient(theta, gumbel, _clip_dependent_loss(tables, calls), 0.2, mode=mode, chunk_size=4)
    assert torch.equal(batched, chunked)
    assert [c[1] for c in calls] == [4, 4, 4, 4, 2] and all(c[0] == b for c in calls)


def test_candidates_are_scored_without_autograd(gen):
    theta = torch.randn(2, 3, 2, 2, generator=gen, dtype=D, requires_grad=True)
    seen = []

    def loss_fn(z):
        seen.append(torch.is_grad_enabled())
        return z.flatten(2).sum(-1)

    direct_gradient(theta, None, loss_fn, 1.0, generator=gen)
    assert seen == [False]


def test_diagnostics_flip_rate_and_loss_evals(gen):
    n = 20_000
    theta = _batch(TOY_B_THETA, n)
    res = direct_estimate(theta, None, multilinear_loss_fn(TOY_B_LOSS), 0.5, generator=gen)
    assert res.loss_evals == n * 2 * 3
    assert res.flip_rate.shape == (2,)
    assert torch.allclose(res.flip_rate, (res.z_minus != res.z_star).to(D).mean(0))
    assert 0.02 < float(res.flip_rate.mean()) < 0.5
    huge = direct_estimate(theta[:100], None, multilinear_loss_fn(TOY_B_LOSS), 1e-9, generator=gen)
    assert float(huge.flip_rate.max()) == 0.0


def test_class_wise_form(gen):
    b, c = 6, 4
    theta = torch.randn(b, 2, 1, 3, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    tables = torch.randn(c, 3, 3, generator=gen, dtype=D)
    weights = torch.softmax(torch.randn(b, c, generator=gen, dtype=D), -1)

    def class_loss_fn(w):
        def loss_fn(z):
            per = torch.stack([multilinear_loss_fn(tables[j])(z) for j in range(c)], -1)  # (B, M, C)
            return ClassLosses(per, w)

        return loss_fn

    for mode in ("one_sided", "central"):
        got = direct_gradient(theta, gumbel, class_loss_fn(weights), 0.3, mode=mode)
        want = sum(
            weights[:, j, None, None, None] * direct_gradient(theta, gumbel, multilinear_loss_fn(tables[j]), 0.3, mode=mode)
            for j in range(c)
        )
        assert torch.allclose(got, want, atol=1e-12)
    # one-hot labels: the class-wise form is the plain form with L = L_y
    y = torch.randint(0, c, (b,), generator=gen)
    onehot = torch.nn.functional.one_hot(y, c).to(D)
    got = direct_gradient(theta, gumbel, class_loss_fn(onehot), 0.3)
    want = torch.cat([direct_gradient(theta[i : i + 1], gumbel[i : i + 1], multilinear_loss_fn(tables[y[i]]), 0.3) for i in range(b)])
    assert torch.equal(got, want)


def test_low_precision_logits_argmax_in_float64(gen):
    theta = torch.randn(8, 3, 2, 2, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    table = torch.randn(4, 4, 4, generator=gen, dtype=D)
    ref = direct_gradient(theta.float().double(), gumbel, multilinear_loss_fn(table), 0.5)
    out = direct_gradient(theta.float(), gumbel, multilinear_loss_fn(table.float()), 0.5)
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), ref, atol=1e-5)


def test_bad_inputs_are_refused(gen):
    theta = torch.zeros(2, 1, 1, 3, dtype=D)
    with pytest.raises(ValueError, match="eps"):
        direct_gradient(theta, None, multilinear_loss_fn(torch.zeros(3, dtype=D)), 0.0, generator=gen)
    with pytest.raises(ValueError, match="mode"):
        direct_gradient(theta, None, multilinear_loss_fn(torch.zeros(3, dtype=D)), 1.0, mode="two", generator=gen)
    with pytest.raises(ValueError, match=r"\(B, M\)"):
        direct_gradient(theta, None, lambda z: z.sum(), 1.0, generator=gen)
    with pytest.raises(ValueError, match="gumbel"):
        direct_gradient(theta, torch.zeros(2, 1, 1, 4), multilinear_loss_fn(torch.zeros(3, dtype=D)), 1.0)


def test_coordinate_candidates_layout(gen):
    from gazeattn.estimators import coordinate_candidates

    z = torch.tensor([[1, 4, 0], [5, 2, 3]])  # (B=2, T'=3), grid 2×3 (K=6)
    cand = coordinate_candidates(z, (2, 3), dtype=D)  # (2, 18, 3, 2, 3)
    assert cand.shape == (2, 18, 3, 2, 3)
    flat = cand.flatten(-2)
    for b in range(2):
        for t in range(3):
            for k in range(6):
                want = z[b].clone()
                want[t] = k
                assert torch.equal(flat[b, t * 6 + k].argmax(-1), want)
    assert torch.equal(flat.sum(-1), torch.ones(2, 18, 3, dtype=D))
    part = coordinate_candidates(z, (2, 3), start=5, stop=9, dtype=D)
    assert torch.equal(part, cand[:, 5:9])


def test_scores_must_come_from_the_same_noise(gen):
    from gazeattn.estimators import direct_from_scores

    theta = torch.randn(4, 2, 1, 5, generator=gen, dtype=D)
    g1, g2 = sample_gumbel(theta.shape, gen), sample_gumbel(theta.shape, gen)
    lf = multilinear_loss_fn(torch.randn(5, 5, generator=gen, dtype=D))
    scores = score_coordinate_candidates(gumbel_argmax(theta, g1), (1, 5), lf)
    assert torch.equal(direct_from_scores(theta, g1, scores, 0.5).grad, direct_gradient(theta, g1, lf, 0.5))
    if not torch.equal(gumbel_argmax(theta, g1), gumbel_argmax(theta, g2)):
        with pytest.raises(ValueError, match="same noise"):
            direct_from_scores(theta, g2, scores, 0.5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    b=st.integers(1, 3), t=st.integers(1, 3), h=st.integers(1, 2), w=st.integers(2, 3),
    eps=st.floats(0.01, 10.0), shift=st.floats(-50.0, 50.0), log2a=st.integers(-3, 3),
    mode=st.sampled_from(["one_sided", "central"]), seed=st.integers(0, 2**31 - 1),
)
def test_identities_hold_for_any_shape(b, t, h, w, eps, shift, log2a, mode, seed):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(b, t, h, w, generator=g, dtype=D)
    gumbel = sample_gumbel(theta.shape, g)
    weights = torch.randn(b, t * h * w, generator=g, dtype=D)

    def loss(scale=1.0, offset=0.0, w=weights):
        # clip-dependent, nonlinear in z; values are exact multiples of 2^-10 so shifts/scales are exact
        def loss_fn(z):
            x = (z.flatten(2).to(D) * w[:, None]).sum(-1)
            return scale * (torch.round(torch.tanh(x) * 1024) / 1024) + offset

        return loss_fn

    base = direct_gradient(theta, gumbel, loss(), eps, mode=mode)
    assert base.shape == theta.shape
    assert torch.equal(base, direct_gradient(theta, gumbel, loss(offset=round(shift)), eps, mode=mode))
    a = 2.0**log2a
    assert torch.allclose(direct_gradient(theta, gumbel, loss(scale=a), eps / a, mode=mode), a * base, rtol=0, atol=1e-9)
    per_clip = torch.cat(
        [direct_gradient(theta[i : i + 1], gumbel[i : i + 1], loss(w=weights[i : i + 1]), eps, mode=mode) for i in range(b)]
    )
    assert torch.equal(base, per_clip)


def test_joint_argmax_direct_golden_and_equals_coordinate_wise_for_one_slot(gen):
    from gazeattn.estimators import direct_joint_gradient

    n = 100_000
    _, g = table_moments(TOY_B_THETA, TOY_B_LOSS)
    for eps, golden in [(1.0, 0.646), (0.5, 0.453)]:
        est = direct_joint_gradient(_batch(TOY_B_THETA, n), None, multilinear_loss_fn(TOY_B_LOSS), eps, generator=gen)
        est = est.reshape(n, -1)
        rel = ((est.mean(0) - g.reshape(-1)).norm() / g.norm()).item()
        se = (est.var(0).sum() / n).sqrt().item() / g.norm().item()
        assert abs(rel - golden) < 6 * se, (eps, rel, se)
    theta = torch.randn(50, 1, 2, 3, generator=gen, dtype=D)
    gumbel = sample_gumbel(theta.shape, gen)
    lf = multilinear_loss_fn(torch.randn(6, generator=gen, dtype=D))
    for mode in ("one_sided", "central"):
        assert torch.equal(
            direct_joint_gradient(theta, gumbel, lf, 0.7, mode=mode, chunk_size=4),
            direct_gradient(theta, gumbel, lf, 0.7, mode=mode),
        )
