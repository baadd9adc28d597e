"""Every parameter receives a gradient; eval mode is deterministic; the model has no hidden state changes."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gazeattn.models import GazeAttentionModel, ModelConfig

# g3's bias shifts every gaze logit of a clip equally: a per-slot softmax (the KL, every estimator) is invariant
# to it, so its gradient is exactly zero up to rounding, here as in the reference. It must still get a gradient.
SHIFT_INVARIANT = {"gaze_head.g3.bias"}

TINY = dict(backbone="tiny", num_classes=5, tiny_widths=(4, 6, 8, 8, 12), head_channels=(6, 4))


def _one_hot(logits: torch.Tensor) -> torch.Tensor:
    b, t, h, w = logits.shape
    return F.one_hot(logits.detach().flatten(2).argmax(-1), h * w).float().view(b, t, h, w)


def _step(model: GazeAttentionModel, rgb, flow, labels, relaxed: bool) -> None:
    out = model(rgb, flow)
    loss = torch.zeros(())
    if out.gaze_logits is not None:
        # a KL-like term reaches the gaze head; z is one-hot (min2021) or relaxed through the logits (li2018)
        q = out.gaze_logits.flatten(2).log_softmax(-1)
        loss = loss - q[..., 0].mean()
        z = q.exp().view_as(out.gaze_logits) if relaxed else _one_hot(out.gaze_logits)
    else:
        z = None
    loss = loss + F.cross_entropy(model.classify(z, out.x5), labels)
    loss.backward()


@pytest.mark.parametrize("attention", ["min2021", "li2018", "none"])
@pytest.mark.parametrize("streams", ["two_stream", "rgb", "flow"])
def test_every_parameter_gets_a_gradient_tiny(attention, streams):
    model = GazeAttentionModel(ModelConfig(**TINY, attention=attention, streams=streams, clip=(16, 64, 64)))
    rgb = torch.randn(2, 3, 16, 64, 64) if streams != "flow" else None
    flow = torch.randn(2, 2, 16, 64, 64) if streams != "rgb" else None
    _step(model, rgb, flow, torch.tensor([1, 3]), relaxed=attention == "li2018")
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert name in SHIFT_INVARIANT or p.grad.abs().sum() > 0, name


def test_gaze_as_auxiliary_task_has_a_head_but_ignores_z():
    model = GazeAttentionModel(ModelConfig(**TINY, attention="none", gaze_head=True, clip=(16, 64, 64))).eval()
    out = model(torch.randn(2, 3, 16, 64, 64), torch.randn(2, 2, 16, 64, 64))
    assert out.gaze_logits.shape == (2, 2, 2, 2)
    z = _one_hot(out.gaze_logits)
    assert torch.equal(model.classify(z, out.x5), model.classify(None, out.x5))
    model.train()
    _step(model, torch.randn(2, 3, 16, 64, 64), torch.randn(2, 2, 16, 64, 64), torch.tensor([1, 3]), relaxed=False)
    assert all(p.grad is not None for p in model.parameters())


def test_every_parameter_gets_a_gradient_full_i3d_small_input():
    torch.set_num_threads(1)
    model = GazeAttentionModel(ModelConfig(num_classes=4, clip=(16, 96, 96)))  # grid 2×3×3
    _step(model, torch.randn(1, 3, 16, 96, 96), torch.randn(1, 2, 16, 96, 96), torch.tensor([2]), relaxed=False)
    assert all(p.grad is not None for p in model.parameters())
    names = [n for n, p in model.named_parameters() if n not in SHIFT_INVARIANT and p.grad.abs().sum() == 0]
    assert names == []


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    model = GazeAttentionModel(ModelConfig(**TINY, clip=(8, 64, 64), dropout=0.5))
    rgb, flow = torch.randn(2, 3, 8, 64, 64), torch.randn(2, 2, 8, 64, 64)
    z = torch.zeros(2, 1, 2, 2)
    z[:, 0, 0, 1] = 1
    model.eval()
    with torch.no_grad():
        a = model(rgb, flow)
        b = model(rgb, flow)
        la, lb = model.classify(z, a.x5), model.classify(z, b.x5)
    assert torch.equal(a.x5, b.x5) and torch.equal(a.gaze_logits, b.gaze_logits) and torch.equal(la, lb)
    model.train()
    with torch.no_grad():
        x5 = torch.randn(2, 12, 1, 2, 2)
        assert not torch.equal(model.classify(z, x5), model.classify(z, x5))  # dropout 0.5 draws masks


def test_forward_in_eval_mode_does_not_touch_batchnorm_state():
    model = GazeAttentionModel(ModelConfig(**TINY, clip=(8, 64, 64))).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        out = model(torch.randn(1, 3, 8, 64, 64), torch.randn(1, 2, 8, 64, 64))
        model.candidate_losses(torch.rand(1, 4, 1, 2, 2), out.x5, torch.tensor([0]))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
