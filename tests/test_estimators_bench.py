"""`gazeattn bench estimators`: the gaze-head problem's fast scoring and enumeration, and the CLI in-process."""

from __future__ import annotations

import json

import pytest
import torch

from gazeattn.benchmarks import estimators as bench
from gazeattn.estimators import exact_moments, joint_indices, local_expectation_gradient, one_hot_maps

D = torch.float64
KEYS = {"problem", "estimator", "setting", "rel_bias", "cosine", "var_ratio", "loss_evals", "seconds"}



def test_gaze_head_index_scoring_equals_dense_scoring(gen):
    head = bench.GazeHeadProblem()
    idx = torch.randint(0, 49, (300, 3), generator=gen)
    dense = head.loss_maps(one_hot_maps(idx, (7, 7))[None])  # (1, 300)
    assert torch.allclose(head.loss_indices(idx), dense, atol=1e-12)
    # one map, written out: a = sigmoid(FC(flatten z)), f = GAP(x5 ⊙ a) + GAP(x5), L = CE
    z = one_hot_maps(idx[:1], (7, 7)).reshape(-1)  # (147,)
    a = torch.sigmoid(head.fc_w @ z + head.fc_b)
    f = (head.x * a[:, None]).mean(0) + head.x.mean(0)
    logits = head.cls_w @ f + head.cls_b
    assert torch.allclose(dense[0, 0], torch.logsumexp(logits, 0) - logits[head.label])


def test_gaze_head_enumeration_by_indices_equals_generic_enumeration(gen):
    head = bench.GazeHeadProblem(grid=(2, 3, 3), channels=8, classes=4, seed=5)
    head.logits = torch.randn(1, 2, 3, 3, generator=gen, dtype=D)
    e_idx, g_idx = exact_moments(head.logits, head.loss_indices, map_indices=True, chunk_size=10)
    e_map, g_map = exact_moments(head.logits, head.loss_maps)
    assert torch.allclose(e_idx, e_map) and torch.allclose(g_idx, g_map)
    # and the gradient is that of Σ_z q(z) L(z) by autograd
    th = head.logits.clone().requires_grad_(True)
    idx = joint_indices(2, 9, 0, 81)
    logq = torch.log_softmax(th.flatten(-2), -1)[0]
    expected = (torch.exp(logq[0, idx[:, 0]] + logq[1, idx[:, 1]]) * head.loss_indices(idx)[0]).sum()
    (g_auto,) = torch.autograd.grad(expected, th)
    assert torch.allclose(g_idx, g_auto)


def test_gaze_problem_is_non_trivial_and_local_expectation_agrees(gen):
    head = bench.GazeHeadProblem()
    prob = head.problem()
    assert prob.exact_grad.shape == (1, 3, 7, 7)
    assert head.loss_std > 0.3  # the scaled head makes CE differences between gaze maps matter
    est = local_expectation_gradient(prob.logits.expand(500, -1, -1, -1), None, prob.loss_fn, generator=gen)
    mean = est.mean(0).reshape(-1)
    g = prob.exact_grad.reshape(-1)
    assert float(mean @ g / (mean.norm() * g.norm())) > 0.97


def test_cli_json(capsys):
    assert bench.main(["--json", "--quick", "--problem", "B", "--draws", "4000"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["results"]
    assert rows and all(KEYS <= set(r) for r in rows)
    names = {r["estimator"] for r in rows}
    assert {"direct (one-sided)", "direct (central)", "local expectation", "REINFORCE-LOO", "Gumbel-Softmax",
            "straight-through GS", "exact enumeration"} <= names
    by = {(r["estimator"], r["setting"]): r for r in rows}
    le = by[("local expectation", "-")]
    assert le["rel_bias"] < 6 * le["rel_bias_se"] and le["loss_evals"] == 6
    gs = by[("Gumbel-Softmax", "tau=1")]
    assert gs["rel_bias"] > 0.2 and gs["rel_bias"] > 6 * gs["rel_bias_se"]
    assert by[("REINFORCE-LOO", "S=8")]["loss_evals"] == 8
    assert all(r["draws"] == 4000 for r in rows if r["estimator"] != "exact enumeration")


def test_cli_markdown_through_dispatcher(capsys):
    from gazeattn.cli import main

    assert main(["bench", "estimators", "--problem", "A", "--draws", "500", "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| problem | estimator | setting | rel. bias")
    assert "| A | local expectation | - | 0.0000 ± 0.0000 |" in out
    with pytest.raises(SystemExit):
        bench.main(["--draws", "1"])
