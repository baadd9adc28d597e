"""The training config: one model config (the [model] section is the model's choices, completed from the data),
clip settings that [model] overrides are refused, each section checks its allowed values, files written before
still load, and the three schedules are pure functions of the step."""

from __future__ import annotations

import dataclasses
import math

import pytest

from gazeattn.models import build_model
from gazeattn.models.config import I3D_STRIDES, ModelChoices, ModelConfig
from gazeattn.train.config import ModelSettings, apply_overrides, from_dict, preset
from gazeattn.train.schedules import eps_schedule, learning_rate, tau_schedule
from gazeattn.train.variants import model_config


def _names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_the_model_section_is_the_models_choices_with_their_defaults():
    assert _names(ModelSettings) == _names(ModelChoices) + ["pretrained"]
    assert _names(ModelConfig) == _names(ModelChoices) + ["num_classes", "clip", "strides", "gaze_head"]
    section, choices, model = ModelSettings(), ModelChoices(), ModelConfig()
    for name in _names(ModelChoices):
        if name != "attention":  # the section's "" means "the variant's head"
            assert getattr(section, name) == getattr(choices, name) == getattr(model, name), name
    assert section.attention == "" and model.attention == choices.attention == "min2021"


def test_the_presets_model_sections_are_unchanged():
    cpu, ref = preset("cpu"), preset("reference")
    assert dataclasses.asdict(cpu.model) == {
        "backbone": "tiny", "streams": "rgb", "dropout": 0.5, "attention": "", "gaze_head_init": "random",
        "head_channels": (), "tiny_widths": (16, 32, 48, 64, 96), "pretrained": ""}
    assert (cpu.clip.strides, cpu.clip.flow, cpu.clip_config().strides, cpu.clip_config().flow) == \
        ((8, 16, 16), False, (8, 16, 16), False)
    assert (ref.model.backbone, ref.model.streams, ref.model.dropout, ref.model.pretrained) == \
        ("i3d", "two_stream", 0.7, "kinetics")
    assert (ref.clip_config().strides, ref.clip_config().flow) == (I3D_STRIDES, True)


@pytest.mark.parametrize("variant, attention, gaze_head", [("gaze-direct", "glimpse", None),
                                                           ("gaze-aux", "none", True), ("i3d", "none", None)])
def test_the_model_config_is_completed_from_the_data_the_clip_and_the_variant(variant, attention, gaze_head):
    config = apply_overrides(preset("cpu"), {"run": {"model": variant}}, "test")
    model = model_config(config, num_classes=7)
    assert (model.num_classes, model.clip, model.strides) == (7, (24, 80, 80), (8, 16, 16))
    assert (model.attention, model.gaze_head, model.tiny_widths) == (attention, gaze_head, (16, 32, 48, 64, 96))
    assert (model.backbone, model.streams, model.dropout) == ("tiny", "rgb", 0.5)
    assert build_model(model).config == model


def test_an_i3d_model_takes_i3d_strides_and_records_no_tiny_widths():
    config = apply_overrides(preset("cpu"), {"model": {"backbone": "i3d", "head_channels": "4,4"}}, "test")
    model = model_config(config, num_classes=3)
    assert model.strides == I3D_STRIDES and model.tiny_widths == ModelChoices.tiny_widths
    assert model.head_channels == (4, 4) and model.resolved_head_channels == (4, 4)
    assert model_config(preset("reference"), num_classes=106).strides == I3D_STRIDES


@pytest.mark.parametrize("base, overrides, key", [
    ("cpu", {"clip": {"flow": "true"}}, "clip.flow"),
    ("reference", {"clip": {"flow": "false"}}, "clip.flow"),
    ("reference", {"clip": {"strides": "8,16,16"}}, "clip.strides"),
    ("cpu", {"model": {"backbone": "i3d"}, "clip": {"strides": "8,16,16"}}, "clip.strides"),
])
def test_a_clip_setting_that_the_model_would_override_is_refused(base, overrides, key):
    with pytest.raises(ValueError, match=rf"^my.toml: {key} = .* would be ignored"):
        apply_overrides(preset(base), overrides, "my.toml")


def test_clip_settings_that_agree_with_the_model_are_accepted():
    two = apply_overrides(preset("cpu"), {"model": {"streams": "two_stream"}, "clip": {"flow": "true"}}, "x")
    assert two.clip_config().flow
    i3d = apply_overrides(preset("cpu"), {"model": {"backbone": "i3d"}}, "x")  # the preset's tiny strides give way
    assert i3d.clip_config().strides == I3D_STRIDES
    tiny = apply_overrides(preset("cpu"), {"clip": {"strides": "8,32,32"}}, "x")
    assert model_config(tiny, num_classes=3).strides == (8, 32, 32)


@pytest.mark.parametrize("section, key, value", [
    ("data", "on_bad_clip", "warn"), ("model", "attention", "soft"), ("model", "backbone", "resnet"),
    ("model", "streams", "depth"), ("model", "gaze_head_init", "zeros"), ("optim", "optimizer", "adam"),
    ("optim", "lr_schedule", "linear"), ("estimator", "eps_schedule", "linear"), ("estimator", "mode", "two_sided"),
    ("estimator", "test_gaze", "shuffled"), ("run", "model", "gaze-magic"),
])
def test_each_section_refuses_a_value_outside_its_allowed_list(section, key, value):
    with pytest.raises(ValueError, match=rf"^my.toml: .*{key} must be one of .*got '{value}'"):
        apply_overrides(preset("cpu"), {section: {key: value}}, "my.toml")


@pytest.mark.parametrize("key, value, allowed", [
    ("checkpoint_every", 0, ">= 1"), ("log_every", 0, ">= 1"), ("log_every", -3, ">= 1"), ("eval_every", -1, ">= 0"),
    ("keep_checkpoints", -1, ">= 0"), ("threads", -1, ">= 0"),
])
def test_the_run_section_refuses_a_count_out_of_range(key, value, allowed):
    """A period of 0 would divide by zero in the loop; a negative count means nothing."""
    with pytest.raises(ValueError, match=rf"^--set: run.{key} must be {allowed}.*got {value}$"):
        apply_overrides(preset("cpu"), {"run": {key: value}}, "--set")


def test_configs_and_model_configs_written_before_still_load():
    saved = preset("reference").to_dict()
    assert saved["clip"]["flow"] is False  # the value [model] overrides, as every reference run saved it
    assert from_dict(saved).to_dict() == saved
    cpu = preset("cpu").to_dict()
    assert from_dict(cpu).to_dict() == cpu
    model = model_config(preset("cpu"), num_classes=15)
    old = model.to_dict() | {"head_channels": None}  # checkpoints before one model config wrote null
    assert ModelConfig.from_dict(old) == model and ModelConfig.from_json(model.to_json()) == model


def test_the_three_schedules_are_pure_functions_of_the_step():
    cpu = preset("cpu")  # AdamW 3e-3, 20 warm-up steps, cosine to 0 at 1,500; ε max(1, 1000·exp(-0.01·i)) every 10
    assert learning_rate(0, cpu) == pytest.approx(3e-3 / 20)
    assert learning_rate(19, cpu) == pytest.approx(3e-3 * 0.5 * (1 + math.cos(math.pi * 19 / 1500)))
    assert learning_rate(750, cpu) == pytest.approx(1.5e-3) and learning_rate(1500, cpu) == pytest.approx(0.0)
    eps, tau = eps_schedule(cpu), tau_schedule(cpu)
    assert eps(0) == eps(9) == 1000.0 and eps(15) == pytest.approx(1000 * math.exp(-0.1)) and eps(1400) == 1.0
    assert tau(0) == tau(10_000) == 1.0
    assert [eps(s) for s in (700, 0, 700)] == [eps(700), eps(0), eps(700)]  # no state between calls
    decaying = apply_overrides(cpu, {"estimator": {"tau_rate": "0.01", "tau_floor": "0.1"}}, "x")
    assert tau_schedule(decaying)(99) == 1.0 and tau_schedule(decaying)(100) == pytest.approx(math.exp(-1.0))
    assert tau_schedule(decaying)(10_000) == 0.1
