"""The training objective: the KL term's direction and mask, where the estimator's gradient goes, candidate
scoring in float32 without autocast, the diagnostics, and -- on a tiny world enumerated through
``model.candidate_losses`` -- estimators whose Monte-Carlo mean equals their closed-form expectation."""

from __future__ import annotations

import math

import pytest
import torch

from gazeattn.estimators import (
    Constant,
    DirectOptimization,
    GumbelSoftmax,
    LocalExpectation,
    direct_estimate,
    local_expectation_gradient,
    one_hot_maps,
    sample_gumbel,
)
from gazeattn.estimators.closed_form import direct_expectation_categorical, direct_expectation_coordinate, table_moments
from gazeattn.estimators.exact import joint_indices
from gazeattn.models import ModelConfig, build_model
from gazeattn.train.config import LossConfig
from gazeattn.train.objective import GazeObjective, candidate_loss_fn, gaze_kl

CLIP = (16, 32, 32)  # tiny backbone at stride (8, 16, 16) -> grid (2, 2, 2): 4 cells a slot, 16 joint maps


def _model(attention: str = "glimpse", classes: int = 5):
    config = ModelConfig(backbone="tiny", streams="rgb", num_classes=classes, attention=attention, clip=CLIP,
                         strides=(8, 16, 16), tiny_widths=(4, 4, 8, 8, 8), dropout=0.5)
    return build_model(config)


def _batch(b: int = 3, classes: int = 5):
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(b, 2, 2, 2)
    cells = torch.randint(0, 4, (b, 2), generator=g)
    target.view(b, 2, 4).scatter_(2, cells.unsqueeze(-1), 1.0)
    return {"rgb": torch.randn(b, 3, *CLIP, generator=g), "label": torch.randint(0, classes, (b,), generator=g),
            "gaze_target": target, "gaze_mask": torch.tensor([[True, False]] * b)}


# ---------------------------------------------------------------------------------------------------- the KL
def test_gaze_kl_is_the_forward_kl_averaged_over_measured_slots():
    logits = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    p = torch.softmax(torch.randn(2, 3, 4, dtype=torch.float64), -1).view(2, 3, 2, 2)  # soft targets
    mask = torch.tensor([[True, False, True], [False, False, True]])
    q = torch.softmax(logits.flatten(2), -1)
    forward = (p.flatten(2) * (p.flatten(2).log() - q.log())).sum(-1)  # KL(p ‖ q) (B, T')
    expected = forward[mask].mean()
    assert float(gaze_kl(logits, p, mask)) == pytest.approx(float(expected), rel=1e-6)
    reverse = (q * (q.log() - p.flatten(2).log())).sum(-1)[mask].mean()
    assert abs(float(expected) - float(reverse)) > 1e-3  # the test can tell the two directions apart
    changed = logits.clone()
    changed[0, 1] += 5.0  # a slot without a measured target does not count
    assert float(gaze_kl(changed, p, mask)) == pytest.approx(float(expected), rel=1e-6)
    assert float(gaze_kl(logits, p, torch.zeros_like(mask))) == 0.0
    # "all": the same sum over the 3 valid slots, divided by all 6 slots of the batch
    assert float(gaze_kl(logits, p, mask, "all")) == pytest.approx(float(forward[mask].sum()) / 6, rel=1e-6)
    assert float(gaze_kl(logits, p, torch.zeros_like(mask), "all")) == 0.0


# --------------------------------------------------------------------------- where the surrogate's gradient goes
@pytest.mark.parametrize("attention", ["glimpse", "min2021", "spread", "li2018"])
@pytest.mark.parametrize("estimator", [DirectOptimization(eps_schedule=Constant(1.0), relative=True),
                                       LocalExpectation()])
def test_the_surrogate_gradient_reaches_the_gaze_head_and_nothing_else(attention, estimator):
    model = _model(attention)
    model.train()
    batch = _batch()
    surrogate_only = GazeObjective("gaze-direct", estimator, LossConfig(ce=0.0, kl=0.0, surrogate=1.0),
                                   diagnostics=False)
    seen = {}
    terms = surrogate_only(model, batch, 0, torch.Generator().manual_seed(1))
    terms["gaze_logits"].register_hook(lambda g: seen.setdefault("grad", g))
    terms["loss"].backward()
    assert float(terms["loss"].detach()) == 0.0  # the surrogate's value is 0: the logged loss is the real one
    head = sum(float(p.grad.abs().sum()) for p in model.gaze_head.parameters() if p.grad is not None)
    assert head > 0
    for name, p in list(model.attention.named_parameters()) + [
            (n, p) for n, p in model.backbone.named_parameters() if ".Mixed_5" in n]:  # x5-only layers
        assert p.grad is None or float(p.grad.abs().sum()) == 0.0, name
    # and on the gaze logits it is exactly the estimate, averaged over the batch
    out = estimator.surrogate(terms["gaze_logits"].detach(), candidate_loss_fn(
        model, model.backbone(batch["rgb"], None)[1], batch["label"]), 0, torch.Generator().manual_seed(1))
    torch.testing.assert_close(seen["grad"], out.grad / len(batch["label"]))


def test_ce_and_kl_reach_what_they_should():
    model = _model()
    batch = _batch()
    ce_only = GazeObjective("gaze-direct", DirectOptimization(), LossConfig(ce=1.0, kl=0.0, surrogate=0.0),
                            diagnostics=False)
    ce_only(model, batch, 0, torch.Generator().manual_seed(1))["loss"].backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.gaze_head.parameters())
    assert float(model.attention.fc_f.weight.grad.abs().sum()) > 0
    model.zero_grad(set_to_none=True)
    kl_only = GazeObjective("gaze-direct", DirectOptimization(), LossConfig(ce=0.0, kl=1.0, surrogate=0.0),
                            diagnostics=False)
    kl_only(model, batch, 0, torch.Generator().manual_seed(1))["loss"].backward()
    assert model.attention.fc_f.weight.grad is None or float(model.attention.fc_f.weight.grad.abs().sum()) == 0
    assert sum(float(p.grad.abs().sum()) for p in model.gaze_head.parameters() if p.grad is not None) > 0


# ------------------------------------------------------------------------------ candidate scoring precision
def test_candidates_are_scored_in_float32_with_autocast_off():
    model = _model()
    model.eval()
    g = torch.Generator().manual_seed(3)
    x5 = torch.randn(2, model.backbone.x5_channels, 2, 2, 2, generator=g)
    labels = torch.tensor([1, 3])
    cands = one_hot_maps(torch.randint(0, 4, (2, 6, 2), generator=g), (2, 2), dtype=torch.float32)
    with torch.no_grad():
        reference = model.candidate_losses(cands, x5, labels)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        naive = model.candidate_losses(cands.to(torch.bfloat16), x5.to(torch.bfloat16), labels)
        scored = candidate_loss_fn(model, x5.to(torch.bfloat16), labels)(cands)
    assert scored.dtype == torch.float32
    # bf16 features: only the rounding of x5 itself remains (~1e-3), not bf16 arithmetic on the candidates
    torch.testing.assert_close(scored, candidate_loss_fn(model, x5.to(torch.bfloat16).float(), labels)(cands))
    assert float((naive.float() - reference).abs().max()) > float((scored - reference).abs().max())
    torch.testing.assert_close(candidate_loss_fn(model, x5, labels)(cands), reference, rtol=0, atol=1e-6)


def test_candidate_scoring_ignores_dropout_even_in_train_mode():
    model = _model()
    model.train()
    x5 = torch.randn(2, model.backbone.x5_channels, 2, 2, 2)
    cands = one_hot_maps(torch.randint(0, 4, (2, 5, 2)), (2, 2), dtype=torch.float32)
    fn = candidate_loss_fn(model, x5, torch.tensor([0, 2]))
    torch.testing.assert_close(fn(cands), fn(cands), rtol=0, atol=0)
    assert model.training  # no mode flip left behind
    model.eval()
    torch.testing.assert_close(fn(cands), candidate_loss_fn(model, x5, torch.tensor([0, 2]))(cands))


# ------------------------------------------------------------------------------------------- diagnostics
def test_diagnostics_measure_z_sensitivity_and_the_gradient_ratio():
    batch = _batch()
    stats = {}
    for attention in ("glimpse", "min2021"):
        model = _model(attention)
        objective = GazeObjective("gaze-direct", DirectOptimization(eps_schedule=Constant(1.0)), LossConfig())
        stats[attention] = objective(model, batch, 0, torch.Generator().manual_seed(1))["stats"]
    for s in stats.values():
        assert s["grad_kl_norm"] > 0 and s["grad_ratio"] == pytest.approx(s["grad_est_norm"] / s["grad_kl_norm"])
        assert 0 <= s["decision_z_sensitivity"] <= 1
    # the glimpse head's map moves with z by construction; the paper's barely does at initialisation
    assert stats["glimpse"]["attn_z_sensitivity"] > 10 * stats["min2021"]["attn_z_sensitivity"]
    # a relaxed estimator's gradient reaches the logits through z
    model = _model()
    objective = GazeObjective("gaze-gumbel", GumbelSoftmax(), LossConfig())
    s = objective(model, batch, 0, torch.Generator().manual_seed(1))["stats"]
    assert s["grad_est_norm"] > 0


# ------------------------------------------------------------ an enumerated world through candidate_losses
def _loss_table(model, x5: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    idx = joint_indices(2, 4, 0, 16)  # (16, T'=2): every joint map
    maps = one_hot_maps(idx, (2, 2), dtype=torch.float32).unsqueeze(0)  # (1, 16, 2, 2, 2)
    return candidate_loss_fn(model, x5, label)(maps).view(4, 4).double()  # table[k1, k2]


@pytest.mark.parametrize("relative", [False, True])
def test_direct_monte_carlo_mean_equals_its_closed_form_on_an_enumerated_world(relative):
    model = _model()
    g = torch.Generator().manual_seed(11)
    x5 = 3.0 * torch.randn(1, model.backbone.x5_channels, 2, 2, 2, generator=g)
    label = torch.tensor([2])
    table = _loss_table(model, x5, label)
    thetas = torch.randn(2, 4, generator=g, dtype=torch.float64)
    eps = 0.5
    if relative:  # ε_t = ε / std of each row L(z_{-t}, ·): closed form row by row
        q = torch.softmax(thetas, -1)
        expected = []
        for t in range(2):
            rows = table.movedim(t, -1).reshape(-1, 4)
            e = eps / rows.std(-1, unbiased=False, keepdim=True)
            est = (torch.softmax(thetas[t], -1) - torch.softmax(thetas[t] - e * rows, -1)) / e
            expected.append((q[1 - t][:, None] * est).sum(0))
        expected = torch.stack(expected)
    else:
        expected = direct_expectation_coordinate(thetas, table, eps)
    n = 40_000
    logits = thetas.float().view(1, 2, 2, 2).expand(n, 2, 2, 2)
    fn = candidate_loss_fn(model, x5.expand(n, -1, -1, -1, -1), label.expand(n))
    res = direct_estimate(logits, None, fn, eps, generator=torch.Generator().manual_seed(5), relative=relative)
    grads = res.grad.double().view(n, 2, 4)
    mean, se = grads.mean(0), grads.std(0) / math.sqrt(n)
    assert torch.all((mean - expected).abs() <= 6 * se + 1e-9), (mean, expected, se)
    assert float(expected.abs().max()) > 0.01  # the world is not trivial


def test_local_expectation_monte_carlo_mean_is_the_exact_gradient_on_an_enumerated_world():
    model = _model("spread")
    g = torch.Generator().manual_seed(12)
    x5 = 3.0 * torch.randn(1, model.backbone.x5_channels, 2, 2, 2, generator=g)
    label = torch.tensor([4])
    table = _loss_table(model, x5, label)
    thetas = torch.randn(2, 4, generator=g, dtype=torch.float64)
    _, exact = table_moments(thetas, table)
    n = 20_000
    logits = thetas.float().view(1, 2, 2, 2).expand(n, 2, 2, 2)
    fn = candidate_loss_fn(model, x5.expand(n, -1, -1, -1, -1), label.expand(n))
    grads = local_expectation_gradient(logits, None, fn, generator=torch.Generator().manual_seed(6)).double()
    grads = grads.view(n, 2, 4)
    mean, se = grads.mean(0), grads.std(0) / math.sqrt(n)
    assert torch.all((mean - exact).abs() <= 6 * se + 1e-9), (mean, exact)
    assert float(exact.abs().max()) > 0.01


def test_central_flip_rate_counts_both_sides():
    logits = torch.zeros(4000, 1, 1, 3, dtype=torch.float64)
    loss = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)

    def fn(z):
        return (z.flatten(2) * loss).sum(-1)  # (B, M, 1·1·3) -> (B, M)

    res = direct_estimate(logits, None, fn, 0.7, mode="central", generator=torch.Generator().manual_seed(2))
    flipped = ((res.z_minus != res.z_star) | (res.z_plus != res.z_star)).double().mean()
    assert float(res.flip_rate[0]) == pytest.approx(float(flipped))
    assert float(res.flip_rate[0]) > float((res.z_minus != res.z_star).double().mean())
    # one categorical: the one-sided expectation formula still holds in closed form
    one = direct_estimate(logits, None, fn, 0.7, generator=torch.Generator().manual_seed(2))
    expected = direct_expectation_categorical(torch.zeros(3, dtype=torch.float64), loss, 0.7)
    se = one.grad.view(-1, 3).std(0) / math.sqrt(4000)
    assert torch.all((one.grad.view(-1, 3).mean(0) - expected).abs() <= 6 * se)


def test_relative_eps_is_invariant_to_the_loss_scale():
    logits = torch.randn(50, 3, 2, 2, dtype=torch.float64)
    table = torch.randn(50, 3, 4, dtype=torch.float64)

    def fn(scale):
        def loss_fn(z):  # additive over slots: L = Σ_t table[b, t, z_t]
            return scale * (z.flatten(-2) * table.unsqueeze(1)).sum((-1, -2))
        return loss_fn

    gumbel = sample_gumbel(logits.shape, torch.Generator().manual_seed(4))
    small = direct_estimate(logits, gumbel, fn(1.0), 1.0, relative=True)
    big = direct_estimate(logits, gumbel, fn(100.0), 1.0, relative=True)
    assert torch.equal(small.z_minus, big.z_minus)  # the same flips whatever the scale of L
    torch.testing.assert_close(big.grad, 100.0 * small.grad)  # and the estimate keeps the loss's scale
    absolute = direct_estimate(logits, gumbel, fn(100.0), 1.0)
    assert not torch.equal(absolute.z_minus, small.z_minus)
