"""The registries of attention heads (``models.attention.ATTENTIONS``) and training variants
(``train.variants.VARIANTS``): every head × every variant that can meet trains a step (no NaN, gradients where
the variant's row says), saves and loads to the same parameters; a head and a variant defined here, each added
with one registration call, train through the normal config → model → objective path and the CLI; the docs'
tables are the registries'; old configs that name ``run.model`` still load."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL, tiny_world  # noqa: E402

from gazeattn.cli import main as cli_main  # noqa: E402
from gazeattn.cli.train import build_parser, config_from_args  # noqa: E402
from gazeattn.estimators import Constant, DirectOptimization  # noqa: E402
from gazeattn.models import (ATTENTIONS, AttentionHead, build_model, load_model, register_attention,  # noqa: E402
                             save_model)
from gazeattn.models import attention as attention_module  # noqa: E402
from gazeattn.study.plan import canonical_config  # noqa: E402
from gazeattn.train import variants as variants_module  # noqa: E402
from gazeattn.train.config import apply_overrides, from_dict, load_toml, parse_set_flags, preset  # noqa: E402
from gazeattn.train.objective import GazeObjective  # noqa: E402
from gazeattn.train.variants import VARIANTS, build_estimator, model_config, register_variant  # noqa: E402
from gazeattn.utils.registry import Registry  # noqa: E402

CLASSES = 5
CLIP = {"frames": 16, "crop": 32, "short_side": 32, "train_short_side": "32,32"}  # grid (2, 2, 2) at (8, 16, 16)
MODEL = {"tiny_widths": "4,4,8,8,8", "head_channels": "4,4", "tiny_strides": "8,16,16"}


def _meets(variant: str, attention: str) -> bool:
    """A variant with attention trains every head that uses z; one without, every head that does not (the
    config refuses it a head that uses z). A variant with attention and a head that ignores z builds a model
    without gaze head, as it always has; that is not a combination of the table's and is left out here."""
    return VARIANTS[variant].attention == ATTENTIONS[attention].attends


COMBINATIONS = [(v, h) for v in VARIANTS for h in ATTENTIONS if _meets(v, h) or not VARIANTS[v].attention]


def _config(variant: str, attention: str):
    return apply_overrides(preset("cpu"), {"run": {"variant": variant, "batch": 3}, "clip": CLIP,
                                           "model": {**MODEL, "attention": attention}}, "test")


def _batch(b: int = 3):
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(b, 2, 2, 2)
    target.view(b, 2, 4).scatter_(2, torch.randint(0, 4, (b, 2, 1), generator=g), 1.0)
    return {"rgb": torch.randn(b, 3, 16, 32, 32, generator=g), "label": torch.randint(0, CLASSES, (b,), generator=g),
            "gaze_target": target, "gaze_mask": torch.tensor([[True, False]] * b)}


def _one_step(config):
    """Build the model and objective of ``config`` as training does, take one step; (model, terms)."""
    torch.manual_seed(0)
    model = build_model(model_config(config, num_classes=CLASSES)).train()
    objective = GazeObjective(config.run.variant, build_estimator(config), config.loss, diagnostics=True)
    terms = objective(model, _batch(), step=0, generator=torch.Generator().manual_seed(1))
    terms["loss"].backward()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    return model, terms


def _grad(module: nn.Module | None) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None) if module else 0.0


def _check_step(variant: str, model, terms) -> None:
    row = VARIANTS[variant]
    assert torch.isfinite(terms["loss"]) and torch.isfinite(terms["ce"])
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    assert (model.gaze_head is not None) == row.gaze_head  # the row says whether there is a gaze head ...
    assert _grad(model.gaze_head) > 0 or not row.gaze_head  # ... and it trains (KL, and the estimator's part)
    assert model.config.attends == row.attention
    assert _grad(model.backbone) > 0 and float(model.attention.fc_f.weight.grad.abs().sum()) > 0
    z_params = [p for n, p in model.attention.named_parameters() if not n.startswith("fc_f.")]
    if row.attention:  # a head's own z-dependent parameters train exactly when it is fed a z
        assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in z_params)


@pytest.mark.parametrize("variant, attention", COMBINATIONS)
def test_every_head_and_variant_trains_a_step_and_round_trips(variant, attention, tmp_path):
    if not _meets(variant, attention):
        with pytest.raises(ValueError, match="has no attention"):
            model_config(_config(variant, attention), num_classes=CLASSES)
        return
    model, terms = _one_step(_config(variant, attention))
    _check_step(variant, model, terms)
    loaded = load_model(save_model(model, tmp_path / "model.safetensors"))
    assert loaded.config == model.config
    assert {n: p.shape for n, p in loaded.state_dict().items()} == {n: p.shape for n, p in model.state_dict().items()}
    assert all(torch.equal(loaded.state_dict()[n], t) for n, t in model.state_dict().items())


# ------------------------------------------------------------------- a new head and a new variant, one call each
class SharpenedAttention(AttentionHead):
    """f = GAP(x5) + (1/T') Σ softmax_cells(β z) ⊙ x5 per slot, β = exp(log_beta) learned (starts at 1)."""

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__(channels, num_classes, dropout)
        self.log_beta = nn.Parameter(torch.zeros(()))

    def cell_weights(self, z: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.log_beta.exp() * z.flatten(-2), -1)  # (..., T', H'·W'): a map per slot
        return w.view_as(z) / z.shape[-3]


@pytest.fixture
def new_head():
    register_attention("sharpened", SharpenedAttention, summary="softmax(β z) pooling with the residual (a test's)")
    yield "sharpened"
    ATTENTIONS.remove("sharpened")


@pytest.fixture
def new_variant():
    register_variant("gaze-direct-const", "direct optimization at a constant ε = 100 (a test's)",
                     estimator=lambda config: DirectOptimization(eps_schedule=Constant(100.0)), test_gaze="expectation")
    yield "gaze-direct-const"
    VARIANTS.remove("gaze-direct-const")


def test_a_new_head_and_variant_train_through_the_config_and_objective(new_head, new_variant, tmp_path):
    config = apply_overrides(_config("gaze-direct", ""), parse_set_flags(
        [f"run.variant={new_variant}", f"model.attention={new_head}"]), "--set")
    model, terms = _one_step(config)
    assert isinstance(model.attention, SharpenedAttention) and isinstance(build_estimator(config), DirectOptimization)
    _check_step(new_variant, model, terms)
    assert terms["stats"]["grad_est_norm"] > 0  # the estimator's part reached the gaze logits
    assert load_model(save_model(model, tmp_path / "m.safetensors")).config.attention == new_head
    # the candidate path of the new head equals its classify loop (what the estimators score)
    model.eval()
    x5 = torch.randn(2, 8, 2, 2, 2)
    z = torch.softmax(torch.randn(2, 6, 2, 4), -1).view(2, 6, 2, 2, 2)
    labels = torch.tensor([1, 3])
    with torch.no_grad():
        fast = model.candidate_losses(z, x5, labels)
        slow = torch.stack([F.cross_entropy(model.classify(z[:, m], x5), labels, reduction="none")
                            for m in range(6)], 1)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_a_new_head_and_variant_train_and_evaluate_from_the_command_line(new_head, new_variant, tmp_path):
    world = tiny_world(tmp_path / "world", seed=2)
    run = tmp_path / "run"
    argv = ["train", "--data", str(world), "--out", str(run), "--variant", new_variant, "--steps", "2",
            "--set", f"model.attention={new_head}", *SMALL]
    assert cli_main(argv) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["run"]["variant"] == new_variant and "model" not in saved["run"]
    out = tmp_path / "eval.json"
    assert cli_main(["eval", "--run", str(run), "--workers", "0", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["test_gaze"] == "expectation"  # the new row's default test-time gaze


# ---------------------------------------------------------------------------------- tables, choices, registries
def test_the_docs_tables_are_the_registries():
    assert attention_module.attention_table() in attention_module.__doc__
    assert variants_module.variant_table() in variants_module.__doc__


def test_a_registration_is_seen_by_every_allowed_value_list(new_head, new_variant):
    from gazeattn.models import ModelConfig
    from gazeattn.train.config import MODELS, ModelSettings, RunConfig

    assert new_variant in MODELS and RunConfig(variant=new_variant).variant == new_variant
    assert ModelSettings(attention=new_head).attention == new_head and ModelConfig(attention=new_head).attends
    args = build_parser().parse_args(["--out", "x", "--model", new_variant])
    assert config_from_args(args).run.variant == new_variant
    with pytest.raises(ValueError, match="already registered"):
        register_attention(new_head, SharpenedAttention)
    with pytest.raises(TypeError, match="not an AttentionHead"):
        register_attention("linear", nn.Linear)
    with pytest.raises(ValueError, match="an estimator exactly when z is 'sample'"):
        register_variant("gaze-broken", "a sample without an estimator")
    with pytest.raises(ValueError, match="z is 'none' exactly when the variant has no attention"):
        register_variant("gaze-broken", "attention without a z", z="none")
    assert "gaze-broken" not in VARIANTS


def test_a_registry_reads_as_the_tuple_of_its_names():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    reg.add("b", 2)
    assert list(reg) == ["a", "b"] and repr(reg) == "('a', 'b')" and "a" in reg and "c" not in reg
    assert repr(reg.allowing("")) == "('', 'a', 'b')" and "" in reg.allowing("")
    with pytest.raises(ValueError, match=r"unknown thing 'c'; one of \('a', 'b'\)"):
        reg["c"]
    assert reg.remove("a") == 1 and list(reg) == ["b"]


# --------------------------------------------------------------------------------------- run.model → run.variant
def test_old_configs_naming_run_model_still_load(tmp_path):
    toml = tmp_path / "old.toml"
    toml.write_text('[run]\nmodel = "i3d"\n')
    assert apply_overrides(preset("cpu"), load_toml(toml), str(toml)).run.variant == "i3d"
    assert apply_overrides(preset("cpu"), parse_set_flags(["run.model=gaze-aux"]), "--set").run.variant == "gaze-aux"
    saved = preset("cpu").to_dict()
    assert saved["run"]["variant"] == "gaze-direct" and "model" not in saved["run"]
    old = json.loads(json.dumps(saved))  # as a run saved it before the rename
    del old["run"]["variant"]
    old["run"]["model"] = "gaze-oracle"
    assert from_dict(old).run.variant == "gaze-oracle"
    assert canonical_config(old) == {**saved, "run": {**saved["run"], "variant": "gaze-oracle"}}
    with pytest.raises(ValueError, match="run.model .* and run.variant .* disagree"):
        apply_overrides(preset("cpu"), {"run": {"model": "i3d", "variant": "gaze-aux"}}, "x")
    assert config_from_args(build_parser().parse_args(["--out", "x", "--model", "i3d"])).run.variant == "i3d"
    assert config_from_args(build_parser().parse_args(["--out", "x", "--variant", "i3d"])).run.variant == "i3d"
