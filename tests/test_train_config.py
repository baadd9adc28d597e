"""The training config: one model config (the [model] section is the model's choices, completed from the data),
the saved config is what runs (no derived clip setting in it; saved and reloaded, every preset and variant builds
the same model and data pipeline), clip settings that [model] overrides are refused, each section checks its
allowed values, files written before still load and run as they did, and the three schedules are pure functions
of the step."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from gazeattn.models import build_model
from gazeattn.data.dataset import ClipChoices
from gazeattn.data.targets import GazeTargetConfig
from gazeattn.models.config import I3D_STRIDES, ModelChoices, ModelConfig
from gazeattn.train.config import MODELS, PRESETS, ModelSettings, TrainConfig, apply_overrides, from_dict, preset
from gazeattn.train.schedules import eps_schedule, learning_rate, tau_schedule
from gazeattn.train.variants import model_config


def _names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_the_model_section_is_the_models_choices_with_their_defaults():
    assert _names(ModelSettings) == _names(ModelChoices) + ["tiny_strides", "pretrained"]
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
        "head_channels": (), "tiny_widths": (16, 32, 48, 64, 96), "tiny_strides": (8, 16, 16), "pretrained": ""}
    assert (cpu.clip_config().strides, cpu.clip_config().flow) == ((8, 16, 16), False)
    assert (ref.model.backbone, ref.model.streams, ref.model.dropout, ref.model.pretrained) == \
        ("i3d", "two_stream", 0.7, "kinetics")
    assert (ref.clip_config().strides, ref.clip_config().flow) == (I3D_STRIDES, True)


@pytest.mark.parametrize("variant, attention, gaze_head", [("gaze-direct", "glimpse", None),
                                                           ("gaze-aux", "none", True), ("i3d", "none", None)])
def test_the_model_config_is_completed_from_the_data_the_clip_and_the_variant(variant, attention, gaze_head):
    config = apply_overrides(preset("cpu"), {"run": {"variant": variant}}, "test")
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
    ("estimator", "test_gaze", "shuffled"), ("run", "variant", "gaze-magic"),
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


def _saved(config: TrainConfig) -> TrainConfig:
    """The config as a run saves it in config.json and reads it back."""
    return from_dict(json.loads(config.to_json()))


def _parameter_shapes(model: ModelConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # no memory, no pretrained weights: the reference's two-stream I3D in no time
        return {name: tuple(p.shape) for name, p in build_model(model).named_parameters()}


@pytest.mark.parametrize("variant", MODELS)
@pytest.mark.parametrize("name", PRESETS)
def test_the_saved_config_builds_the_same_model_and_data_pipeline(name, variant):
    config = apply_overrides(preset(name), {"run": {"variant": variant}}, "test")
    saved = _saved(config)
    assert saved == config
    assert saved.clip_config() == config.clip_config()  # the ClipConfig the dataset gets
    model, rebuilt = model_config(config, num_classes=106), model_config(saved, num_classes=106)
    assert rebuilt == model
    shapes = _parameter_shapes(model)
    assert shapes and _parameter_shapes(rebuilt) == shapes


def test_the_saved_config_shows_what_runs_in_one_place():
    """The reference reads flow and reduces gaze with "first": its saved config says so, and nothing in it says
    otherwise (it used to save clip.flow = false and clip.targets.reduce = "majority", ClipConfig's defaults)."""
    saved = preset("reference").to_dict()
    assert saved["model"]["streams"] == "two_stream" and saved["targets"]["reduce"] == "first"
    assert set(saved["clip"]) == {f.name for f in dataclasses.fields(ClipChoices)}
    assert not {"flow", "strides", "targets"} & set(saved["clip"])
    clip = preset("reference").clip_config()
    assert (clip.flow, clip.targets.reduce, clip.strides) == (True, "first", I3D_STRIDES)
    assert preset("cpu").to_dict()["model"]["tiny_strides"] == [8, 16, 16]


def _as_written_before(config: TrainConfig) -> dict:
    """``config`` as config.json was written before the derived settings left [clip] (issue 18): the whole
    dataset ClipConfig with ClipConfig's flow and targets defaults (never what ran) and the tiny strides in
    clip.strides (I3D's default for I3D presets), no model.tiny_strides."""
    old = config.to_dict()
    strides = config.model.tiny_strides if config.preset == "cpu" else I3D_STRIDES
    old["clip"] |= {"strides": list(strides), "flow": False, "targets": dataclasses.asdict(GazeTargetConfig())}
    del old["model"]["tiny_strides"]
    return old


def test_the_old_style_helper_writes_what_the_reference_preset_saved():
    assert _as_written_before(preset("reference"))["clip"] == {
        "frames": 24, "crop": 224, "short_side": 256, "train_short_side": [256, 256], "flip_prob": 0.5,
        "strides": [8, 32, 32], "flow": False, "source": "auto", "gaze_compat": "clean", "gaze_frame_offset": 0,
        "train_window": "random", "resize": "short_side",
        "targets": {"points": "fixation", "reduce": "majority", "missing": "mask", "center_sigma": 0.25}}


@pytest.mark.parametrize("variant", ["gaze-direct", "i3d"])
@pytest.mark.parametrize("name, overrides", [
    ("cpu", {}), ("reference", {}), ("cpu", {"model": {"streams": "two_stream"}}),  # saved flow = false, read it
    ("cpu", {"model": {"backbone": "i3d"}}),  # saved the cpu preset's tiny clip.strides, ran I3D's
    ("cpu", {"clip": {"strides": "8,8,8"}}), ("reference", {"targets": {"reduce": "histogram"}}),
])
def test_an_old_style_saved_config_loads_and_runs_as_it_did(name, overrides, variant):
    config = apply_overrides(preset(name), {**overrides, "run": {"model": variant}}, "test")
    old = _as_written_before(config)
    if config.model.backbone == "i3d" and name == "cpu":  # I3D ran with its own strides: the tiny ones are dropped
        old["clip"]["strides"] = [8, 16, 16]
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, tiny_strides=(8, 32, 32)))
    loaded = from_dict(json.loads(json.dumps(old)))
    assert loaded == config and loaded.clip_config() == config.clip_config()
    assert model_config(loaded, num_classes=5) == model_config(config, num_classes=5)
    assert from_dict(loaded.to_dict()) == loaded and "flow" not in loaded.to_dict()["clip"]


@pytest.mark.parametrize("key, value", [
    ("flow", True),  # the cpu preset's rgb model never read flow
    ("targets", {"points": "tracked", "reduce": "majority", "missing": "mask", "center_sigma": 0.25}),
    ("targets", {"reduce": "mean"}),
    ("strides", [8, 12, 12]),
])
def test_an_old_style_saved_config_that_disagrees_with_what_runs_is_refused(key, value):
    old = _as_written_before(preset("cpu"))
    old["clip"][key] = value
    with pytest.raises(ValueError, match=rf"^saved config: clip\.{key}\b"):
        from_dict(old)


def test_a_toml_file_with_the_old_clip_keys_still_works():
    """clip.strides set the tiny backbone's strides: it still does, into model.tiny_strides; clip.flow and
    clip.targets are accepted where they agree with what runs."""
    config = apply_overrides(preset("cpu"), {"clip": {"strides": "8,32,32", "flow": "false"}}, "my.toml")
    assert config.model.tiny_strides == (8, 32, 32) and "strides" not in config.to_dict()["clip"]
    with pytest.raises(ValueError, match=r"^my.toml: clip.strides = \(8, 32, 32\) and model.tiny_strides"):
        apply_overrides(preset("cpu"), {"clip": {"strides": "8,32,32"}, "model": {"tiny_strides": "8,8,8"}},
                        "my.toml")
    with pytest.raises(ValueError, match=r"^my.toml: clip.targets = .* disagrees with \[targets\]"):
        apply_overrides(preset("reference"), {"clip": {"targets": {"reduce": "majority"}}}, "my.toml")
    with pytest.raises(ValueError, match=r"^--set: model.tiny_strides must be \(8, s, s\)"):
        apply_overrides(preset("cpu"), {"model": {"tiny_strides": "8,16,32"}}, "--set")


def test_configs_and_model_configs_written_before_still_load():
    for name in PRESETS:
        saved = preset(name).to_dict()
        assert from_dict(saved).to_dict() == saved
    model = model_config(preset("cpu"), num_classes=15)
    old = model.to_dict() | {"head_channels": None}  # checkpoints before one model config wrote null
    assert ModelConfig.from_dict(old) == model and ModelConfig.from_json(model.to_json()) == model


def test_the_three_schedules_are_pure_functions_of_the_step():
    cpu = preset("cpu")  # AdamW 3e-3, 20 warm-up steps, cosine to 0 at 3,000; ε max(1, 1000·exp(-0.01·i)) every 10
    assert cpu.run.steps == 3000
    assert learning_rate(0, cpu) == pytest.approx(3e-3 / 20)
    assert learning_rate(19, cpu) == pytest.approx(3e-3 * 0.5 * (1 + math.cos(math.pi * 19 / 3000)))
    assert learning_rate(1500, cpu) == pytest.approx(1.5e-3) and learning_rate(3000, cpu) == pytest.approx(0.0)
    eps, tau = eps_schedule(cpu), tau_schedule(cpu)
    assert eps(0) == eps(9) == 1000.0 and eps(15) == pytest.approx(1000 * math.exp(-0.1)) and eps(1400) == 1.0
    assert tau(0) == tau(10_000) == 1.0
    assert [eps(s) for s in (700, 0, 700)] == [eps(700), eps(0), eps(700)]  # no state between calls
    decaying = apply_overrides(cpu, {"estimator": {"tau_rate": "0.01", "tau_floor": "0.1"}}, "x")
    assert tau_schedule(decaying)(99) == 1.0 and tau_schedule(decaying)(100) == pytest.approx(math.exp(-1.0))
    assert tau_schedule(decaying)(10_000) == 0.1
