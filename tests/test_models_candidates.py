"""``candidate_losses`` (one batched matmul, x5 never copied) equals the naive per-candidate ``classify`` loop,
and gives the same direct-optimization gradient -- at batch 1 and per clip at batch > 1."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gazeattn import estimators
from gazeattn.models import ATTENTIONS, GazeAttentionModel, ModelConfig

GRID = (3, 4, 5)  # T', H', W' (clip 24×128×160 at strides (8, 32, 32))
K = GRID[1] * GRID[2]


def _model(attention: str = "min2021", classes: int = 9) -> GazeAttentionModel:
    cfg = ModelConfig(backbone="tiny", num_classes=classes, attention=attention, clip=(24, 128, 160),
                      tiny_widths=(4, 4, 4, 8, 16), head_channels=(4, 4), dropout=0.7)
    model = GazeAttentionModel(cfg).eval()  # eval: dropout off, as the estimators require
    with torch.no_grad():  # a non-trivial attention FC and classifier
        for p in model.attention.parameters():
            p.normal_(0, 0.5)
    return model


def _coordinate_candidates(z_star: torch.Tensor) -> torch.Tensor:
    """(B, T') flat cells of z* → (B, T'·K, T', H', W'): candidate t·K + k is z* with slot t moved to cell k."""
    b, t_slots = z_star.shape
    base = F.one_hot(z_star, K).float()  # (B, T', K)
    cands = base.unsqueeze(1).repeat(1, t_slots * K, 1, 1)  # (B, T'·K, T', K)
    for t in range(t_slots):
        for k in range(K):
            cands[:, t * K + k, t] = F.one_hot(torch.tensor(k), K).float()
    return cands.view(b, t_slots * K, *GRID)


def _naive_losses(model, z, x5, labels):
    """The reference's way: one classify (x5 ⊙ a over the full tensor) per candidate."""
    return torch.stack([F.cross_entropy(model.classify(z[:, m], x5), labels, reduction="none")
                        for m in range(z.shape[1])], dim=1)  # (B, M)


@pytest.mark.parametrize("attention", list(ATTENTIONS))  # every registered head
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("chunk", [None, 7, 256])
def test_candidate_losses_equal_the_naive_loop(attention, batch, chunk):
    model = _model(attention)
    x5 = torch.randn(batch, 16, *GRID)
    labels = torch.randint(0, 9, (batch,))
    z = _coordinate_candidates(torch.randint(0, K, (batch, GRID[0])))
    with torch.no_grad():
        fast = model.candidate_losses(z, x5, labels, chunk_size=chunk)
        slow = _naive_losses(model, z, x5, labels)
    assert fast.shape == (batch, GRID[0] * K)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_candidate_losses_relaxed_maps_and_soft_labels():
    model = _model()
    x5 = torch.randn(2, 16, *GRID)
    z = torch.rand(2, 5, *GRID)  # relaxed maps
    soft = torch.softmax(torch.randn(2, 9), -1)
    with torch.no_grad():
        fast = model.candidate_losses(z, x5, soft)
        slow = torch.stack([-(F.log_softmax(model.classify(z[:, m], x5), -1) * soft).sum(-1) for m in range(5)], 1)
        per_class = model.candidate_class_losses(z, x5)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close((per_class * soft[:, None]).sum(-1), fast, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="soft labels must be"):
        model.candidate_losses(z, x5, torch.rand(2, 4))


def test_candidate_losses_are_differentiable_in_x5_and_z():
    model = _model()
    x5 = torch.randn(1, 16, *GRID, requires_grad=True)
    z = torch.rand(1, 3, *GRID, requires_grad=True)
    model.candidate_losses(z, x5, torch.tensor([2])).sum().backward()
    assert x5.grad.abs().sum() > 0 and z.grad.abs().sum() > 0


def test_direct_gradient_through_candidate_losses_matches_reference_style():
    model = _model()
    batch = 3
    x5 = torch.randn(batch, 16, *GRID)
    labels = torch.randint(0, 9, (batch,))
    logits = torch.randn(batch, *GRID)
    gumbel = estimators.sample_gumbel(logits.shape, torch.Generator().manual_seed(5), dtype=torch.float64,
                                      device=logits.device)
    for eps in (0.1, 1.0, 10.0):
        fast = estimators.direct_gradient(logits, gumbel, lambda z: model.candidate_losses(z, x5, labels), eps)
        slow = estimators.direct_gradient(logits, gumbel, lambda z: _naive_losses(model, z, x5, labels), eps)
        torch.testing.assert_close(fast, slow)
        # per clip: batch > 1 gives each clip exactly its batch-1 gradient (no cross-clip pairing)
        for b in range(batch):
            one = estimators.direct_gradient(
                logits[b:b + 1], gumbel[b:b + 1],
                lambda z, b=b: _naive_losses(model, z, x5[b:b + 1], labels[b:b + 1]), eps)
            torch.testing.assert_close(fast[b:b + 1], one)
