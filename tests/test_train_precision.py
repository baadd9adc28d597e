"""The training step's precision (``run.amp``, ``run.channels_last``; :mod:`gazeattn.train.precision`): bf16 only
where the device computes it natively, said in the run's log; channels-last weights and clips; evaluation during
training in float32 on contiguous weights, as ``gazeattn eval`` computes it on the checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gazeattn.cli import main
from gazeattn.models import GazeAttentionModel
from gazeattn.train.config import preset
from gazeattn.train.precision import native_bf16, resolve
from gazeattn.train.variants import model_config
from gazeattn.utils.provenance import cpu_isa_flags
from tinyworld import SMALL, tiny_world

CPU = torch.device("cpu")


def test_bf16_only_on_a_cpu_that_has_it_natively():
    on = resolve(True, False, CPU, cpu_flags=["avx2", "avx512f", "amx_tile", "amx_bf16"])
    assert on.amp is True and not on.channels_last
    assert "bf16 autocast on the forward" in on.why and "AMX-BF16" in on.why
    assert resolve(True, False, CPU, cpu_flags=["avx512_bf16"]).amp is True
    off = resolve(True, True, CPU, cpu_flags=["avx2", "fma", "avx512f"])  # AVX-512 alone: emulated bf16
    assert off.amp is False and off.channels_last is True
    assert off.why.startswith("float32 (run.amp is set, but this CPU has neither") and "channels-last" in off.why
    plain = resolve(False, False, CPU, cpu_flags=["amx_bf16"])
    assert (plain.amp, plain.channels_last, plain.why) == (False, False, "float32")
    assert native_bf16(torch.device("mps"), [])[0] is False


def test_the_autocast_follows_the_resolved_choice():
    x, w = torch.randn(2, 3, 4, 6, 6), torch.randn(5, 3, 3, 3, 3)
    for amp, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        p = resolve(amp, False, CPU, cpu_flags=["amx_bf16"])
        with p.autocast(CPU):
            assert torch.nn.functional.conv3d(x, w).dtype == dtype


def _model() -> GazeAttentionModel:
    torch.manual_seed(0)
    config = preset("cpu")
    return GazeAttentionModel(model_config(config, num_classes=7))


def test_channels_last_weights_and_clips_and_contiguous_evaluation():
    p = resolve(False, True, CPU)
    model = p.prepare_model(_model())
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv3d))
    params = list(model.parameters())
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d) and not conv.weight.is_contiguous()
    clip = p.prepare_input(torch.randn(2, 3, 24, 80, 80))
    assert clip.is_contiguous(memory_format=torch.channels_last_3d)
    labels = torch.tensor([1, 2])
    assert p.prepare_input(labels) is labels  # only 5-D float tensors change
    with p.evaluating(model):
        assert conv.weight.is_contiguous()
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert all(a is b for a, b in zip(params, model.parameters()))  # the optimizer's references stay valid
    with resolve(False, False, CPU).evaluating(model):  # nothing to undo without channels-last
        assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_channels_last_computes_the_same_logits_up_to_summation_order():
    model = _model().eval()
    x = torch.randn(2, 3, 24, 80, 80)
    with torch.no_grad():
        plain = model(x)
        p = resolve(False, True, CPU)
        p.prepare_model(model)
        cl = model(p.prepare_input(x))
    for a, b in zip(cl, plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("precision") / "egtea", seed=5, sessions=2, clips_per_session=4)


def test_a_run_says_its_precision_and_its_eval_matches_gazeattn_eval(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(tmp_path / "plain"), "--steps", "1", *SMALL]) == 0
    assert "\nprecision: float32\n" in capsys.readouterr().out  # the cpu preset's
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", *SMALL, "--eval",
                 "--set", "run.checkpoint_every=4", "--set", "run.amp=true", "--set", "run.channels_last=true"]) == 0
    said = capsys.readouterr().out
    line = next(x for x in said.splitlines() if x.startswith("precision: "))
    native = any(f in cpu_isa_flags() for f in ("avx512_bf16", "amx_bf16"))
    assert ("bf16 autocast on the forward" in line) == native and line.endswith("channels-last 3D memory")
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["amp"] is True and config["run"]["channels_last"] is True
    trained = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    at_end = [r for r in trained if r.get("kind") == "eval"][-1]
    assert main(["eval", "--run", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert at_end["n_clips"] == again["n_clips"] > 0
    assert at_end["mean_class_accuracy"] == again["mean_class_accuracy"]
    assert at_end["overall_accuracy"] == again["overall_accuracy"]
