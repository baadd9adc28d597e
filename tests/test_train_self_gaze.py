"""Own-gaze targets (``loss.self_gaze``): on slots without a measured target, q's own argmax is a one-hot
target where q is confident. Slots with a measured target never take one; unconfident slots give no gradient;
the term is divided by the number of slots without a target; the default 0 leaves the loss as it was."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from gazeattn.estimators import Constant, DirectOptimization
from gazeattn.models import ModelConfig, build_model
from gazeattn.train.config import LossConfig, TrainConfig, apply_overrides, parse_set_flags
from gazeattn.train.engine import step_generator
from gazeattn.train.objective import GazeObjective, self_gaze_loss

CLIP = (16, 32, 32)  # tiny backbone at stride (8, 16, 16) -> grid (2, 2, 2)


def _logits_with(confident: list[list[bool]], cell: int = 3) -> torch.Tensor:
    """(B, 2, 2, 2) logits: a slot marked True puts 0.9 of q on ``cell``, the others are uniform."""
    b = len(confident)
    logits = torch.zeros(b, 2, 4)
    strong = math.log(0.9 / (0.1 / 3))
    for i, row in enumerate(confident):
        for t, c in enumerate(row):
            if c:
                logits[i, t, cell] = strong
    return logits.view(b, 2, 2, 2)


def test_only_confident_slots_without_a_measured_target_take_their_own_argmax():
    logits = _logits_with([[True, True], [True, False], [False, False]]).requires_grad_(True)
    mask = torch.tensor([[True, False], [False, False], [False, False]])  # clip 0 slot 0 has a measured target
    loss, share = self_gaze_loss(logits, mask, threshold=0.5)
    # free slots: 5; confident among them: (0, 1) and (1, 0); each has CE -log 0.9
    assert share == pytest.approx(2 / 5)
    assert float(loss.detach()) == pytest.approx(2 * -math.log(0.9) / 5, rel=1e-5)
    loss.backward()
    g = logits.grad.view(3, 2, 4)
    assert torch.count_nonzero(g[0, 0]) == 0  # measured slot: untouched by this term
    assert torch.count_nonzero(g[1, 1]) == 0 and torch.count_nonzero(g[2]) == 0  # unconfident: no gradient
    q = F.softmax(logits.detach().view(3, 2, 4), -1)
    expected = (q[1, 0] - F.one_hot(torch.tensor(3), 4).float()) / 5  # ∂CE/∂logits of the own argmax, / 5
    assert torch.allclose(g[1, 0], expected, atol=1e-6)
    assert g[1, 0, 3] < 0  # descent raises q on its own argmax: the head grows sharper where it is confident


def test_threshold_one_or_every_slot_measured_gives_zero():
    logits = _logits_with([[True, True]])
    loss, share = self_gaze_loss(logits, torch.zeros(1, 2, dtype=torch.bool), threshold=1.0)
    assert float(loss) == 0.0 and share == 0.0
    loss, share = self_gaze_loss(logits, torch.ones(1, 2, dtype=torch.bool), threshold=0.5)
    assert float(loss) == 0.0 and share == 0.0


@pytest.mark.parametrize("bad", ["-1", "nan", "inf"])
def test_bad_weights_are_refused(bad):
    with pytest.raises(ValueError, match="loss.self_gaze"):
        apply_overrides(TrainConfig(), parse_set_flags([f"loss.self_gaze={bad}"]), "--set")


@pytest.mark.parametrize("bad", ["0", "1.5", "-0.2"])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match="self_gaze_threshold"):
        apply_overrides(TrainConfig(), parse_set_flags([f"loss.self_gaze_threshold={bad}"]), "--set")


def _objective(loss: LossConfig) -> GazeObjective:
    return GazeObjective("gaze-direct", DirectOptimization(eps_schedule=Constant(1.0)), loss, diagnostics=False)


def test_the_objective_adds_the_term_and_logs_its_share():
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="tiny", streams="rgb", num_classes=5, attention="glimpse", clip=CLIP,
                                    strides=(8, 16, 16), tiny_widths=(4, 4, 8, 8, 8), dropout=0.0))
    gen = torch.Generator().manual_seed(1)
    batch = {"rgb": torch.randn(4, 3, *CLIP, generator=gen), "label": torch.randint(0, 5, (4,), generator=gen),
             "gaze_target": torch.zeros(4, 2, 2, 2), "gaze_mask": torch.zeros(4, 2, dtype=torch.bool)}
    base = _objective(LossConfig())(model, batch, 10, step_generator(0, 10, 0))
    own = _objective(LossConfig(self_gaze=2.0, self_gaze_threshold=0.05))(model, batch, 10, step_generator(0, 10, 0))
    assert "self_gaze_share" not in base["stats"]
    assert own["stats"]["self_gaze_share"] == 1.0  # threshold below the uniform 1/4: every free slot
    expected, _ = self_gaze_loss(base["gaze_logits"], batch["gaze_mask"], 0.05)
    assert float((own["loss"] - base["loss"]).detach()) == pytest.approx(2.0 * float(expected.detach()), rel=1e-4)
    assert float(expected.detach()) > 0
    head = [p for p in model.gaze_head.parameters()]
    grads = torch.autograd.grad(own["loss"] - base["loss"], head, allow_unused=True)
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)  # the term trains the gaze head
