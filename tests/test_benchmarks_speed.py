"""`gazeattn bench speed`: the quick run reports every number it promises, and its copy-per-candidate baseline
scores candidates exactly like ``model.candidate_losses`` (so the overhead comparison is fair). No timings asserted.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from gazeattn.benchmarks.candidates import coordinate_candidates
from gazeattn.benchmarks.speed import before_after, contention, format_markdown, main
from gazeattn.benchmarks.speed.machine import flops_per_cycle, nominal_peak
from gazeattn.benchmarks.speed.common import shape_config
from gazeattn.benchmarks.speed.train_step import COPY_BASELINE, CopyPerCandidate, TrainStep, random_batch
from gazeattn.models import GazeAttentionModel, ModelConfig
from gazeattn.train.engine import step_generator
from gazeattn.train.objective import GazeObjective
from gazeattn.train.variants import build_estimator, model_config


@pytest.mark.slow
def test_quick_json_has_the_required_keys_and_sane_values(capsys):
    assert main(["--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("train_step", "direct_overhead_ratio", "data", "inference", "copy_per_candidate_overhead_ratio",
                "data_wait_fraction", "device", "threads", "memory_method", "step", "contention"):
        assert key in result, key
    models = {row["model"] for row in result["train_step"]}
    assert models == {"gaze-direct", "i3d", COPY_BASELINE}
    for row in result["train_step"]:
        assert {"model", "shape", "seconds", "peak_mb"} <= set(row)
        assert row["shape"] == "cpu" and row["seconds"] > 0 and row["peak_mb"] > 0
    assert result["direct_overhead_ratio"] > 0 and result["copy_per_candidate_overhead_ratio"] > 0
    data = result["data"]
    assert data["clips_per_s"] > 0 and data["bare_decode_clips_per_s"] > 0
    assert 0.0 <= result["data_wait_fraction"] <= 1.0 and data["wait_fraction"] == result["data_wait_fraction"]
    assert {row["batch"] for row in result["inference"]} == {1, 2}
    for row in result["inference"]:
        assert row["status"] == "ok" and row["latency_ms"] > 0 and row["clips_per_s"] > 0
        assert math.isfinite(row["max_abs_diff"])
    assert result["threads"] == torch.get_num_threads() >= 1
    assert "| gaze-direct | cpu |" in format_markdown(result)
    step = result["step"]
    assert [r["model"] for r in step["rows"]] == ["gaze-direct"] and result["contention"] is None
    row = step["rows"][0]
    assert set(row["seconds"]) == {"before", "after", "before-chosen-threads", "after-bf16"}
    assert min(row["seconds"].values()) > 0 and step["precision"]["after"] == "float32"
    assert row["speedup"]["before"] == 1.0 and row["speedup"]["after"] == row["seconds"]["before"] / row["seconds"]["after"]
    assert row["flops"] > 1e8 and row["flops_per_s"]["after"] == row["flops"] / row["seconds"]["after"]
    assert all(v > 0 for v in step["measured_peak_flops"].values())
    assert step["measured_peak_flops_bf16"].keys() == step["measured_peak_flops"].keys()
    assert all(v > 0 for v in step["measured_peak_flops_bf16"].values())
    assert "| gaze-direct | 2 |" in "\n".join(before_after.markdown(step))


def test_copy_per_candidate_losses_equal_candidate_losses():
    """On the real 3×7×7 grid with 1024-channel x5 and all 147 coordinate-wise candidates of each clip."""
    cfg = ModelConfig(backbone="tiny", num_classes=106, tiny_widths=(4, 4, 4, 8, 1024), head_channels=(4, 4))
    model = GazeAttentionModel(cfg).eval()
    b = 3
    x5 = torch.randn(b, 1024, 3, 7, 7)
    labels = torch.randint(0, 106, (b,))
    z = coordinate_candidates(torch.randint(0, 49, (b, 3)), (3, 7, 7))  # (B, 147, 3, 7, 7)
    with torch.no_grad():
        fast = model.candidate_losses(z, x5, labels)
        copied = CopyPerCandidate(model).candidate_losses(z, x5, labels)
    assert copied.shape == fast.shape == (b, 147)
    torch.testing.assert_close(copied, fast, rtol=1e-5, atol=1e-5)


def test_copy_per_candidate_step_computes_the_same_gradients():
    """Through GazeObjective: the same loss terms, estimator statistics and gaze-head gradients either way."""
    config = shape_config("cpu", "gaze-direct", batch=2)
    model = GazeAttentionModel(model_config(config, num_classes=106)).train()
    batch = random_batch(config, num_classes=106, device=torch.device("cpu"), seed=1)
    objective = GazeObjective("gaze-direct", build_estimator(config), config.loss)
    results = []
    for scored in (model, CopyPerCandidate(model)):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the same dropout masks
        terms = objective(scored, batch, 3, step_generator(0, 3, 0))
        terms["loss"].backward()
        grads = [p.grad.clone() for p in model.gaze_head.parameters()]
        results.append((terms, grads))
    (a, grads_a), (b, grads_b) = results
    torch.testing.assert_close(a["loss"], b["loss"])
    assert a["stats"].keys() == b["stats"].keys()
    for key in a["stats"]:
        assert a["stats"][key] == pytest.approx(b["stats"][key], rel=1e-5, abs=1e-7), key
    for ga, gb in zip(grads_a, grads_b):
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


def test_train_step_uses_the_presets_and_updates_weights():
    step = TrainStep("cpu", "gaze-direct", batch=2, device=torch.device("cpu"))
    assert step.config.run.variant == "gaze-direct" and step.config.model.backbone == "tiny"
    assert step.batch["rgb"].shape == (2, 3, 24, 80, 80) and step.batch["gaze_target"].shape == (2, 3, 5, 5)
    before = [p.detach().clone() for p in step.model.parameters()]
    assert math.isfinite(step()) and step.peak_bytes() > 0 and step.steps == 2
    assert any(not torch.equal(p0, p) for p0, p in zip(before, step.model.parameters()))
    reference = shape_config("reference", "i3d")
    assert (reference.run.batch, reference.model.backbone, reference.model.streams) == (8, "i3d", "two_stream")
    assert reference.model.pretrained == "" and reference.clip.crop == 224


@pytest.mark.slow
def test_quick_step_part_prints_the_old_and_new_step_and_their_ratio(capsys):
    assert main(["--quick", "--parts", "step"]) == 0
    out = capsys.readouterr().out
    assert "before s/step | before at chosen threads s/step | after s/step" in out and "before/after" in out
    assert "after, bf16 s/step" in out
    assert "| gaze-direct | 2 |" in out
    assert "peak fp32: nominal" in out and "measured (2048² matmul)" in out and "peak bf16: measured" in out


def test_step_settings_are_todays_and_the_chosen_ones():
    before, after, same, bf16 = before_after.settings(cores=2)
    assert (before.threads, before.diagnose_every, before.reuse_memory, before.amp, before.channels_last) == (
        2, 1, False, False, False)
    assert (after.threads, after.diagnose_every, after.reuse_memory, after.amp, after.channels_last) == (
        1, 20, True, False, False)  # the preset's precision: float32, contiguous
    assert (same.name, same.threads, same.diagnose_every, same.reuse_memory, same.amp) == (
        "before-chosen-threads", 1, 1, False, False)
    assert (bf16.name, bf16.threads, bf16.diagnose_every, bf16.reuse_memory, bf16.amp, bf16.channels_last) == (
        "after-bf16", 1, 20, True, True, True)


def test_nominal_peak_reads_the_isa_flags_and_clock(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu sse avx2 fma avx512f\n\n"
                    "processor\t: 1\ncpu MHz\t\t: 1.0\nflags\t\t: fpu\n")
    peak = nominal_peak(2, info)
    assert peak["flops"] == pytest.approx(2 * 2.6e9 * 64) and peak["isa"] == "avx512f"
    assert flops_per_cycle({"avx2", "fma"}) == 32 and flops_per_cycle({"sse2"}) == 8
    assert nominal_peak(2, tmp_path / "missing") is None


def test_contention_today_flags_reproduce_todays_defaults():
    from gazeattn.cli.train import build_parser, config_from_args

    args = build_parser().parse_args(["--out", "x", *contention.today_flags(2)])
    config = config_from_args(args)
    assert (config.data.workers, config.run.threads) == (2, 2)
    assert config.run.diagnose_every_step is True and config.run.reuse_memory is False
    new = config_from_args(build_parser().parse_args(["--out", "x"]))
    assert (new.data.workers, new.run.threads, new.run.diagnose_every_step, new.run.reuse_memory) == (-1, 0, False, True)
    assert new.run.amp is False and new.run.channels_last is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="the bad device is a GPU asked of a machine without one")
def test_a_device_this_torch_cannot_use_is_a_usage_error(capsys):
    from gazeattn.benchmarks.speed.cli import main as speed_main
    with pytest.raises(SystemExit) as stop:
        speed_main(["--device", "cuda", "--parts", "step"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: --device: 'cuda' is not available here" in err


def test_contention_bf16_flags_turn_the_precision_on_and_the_table_shows_its_share():
    from gazeattn.cli.train import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(["--out", "x", *contention.BF16_FLAGS]))
    assert (config.run.amp, config.run.channels_last, config.data.workers, config.run.threads) == (True, True, -1, 0)
    seconds = {"today": {"alone": 12.0, "pair": 90.0}, "new": {"alone": 10.0, "pair": 20.0},
               contention.NEW_BF16: {"alone": 8.0, "pair": 16.0}}
    d = {"cores": 2, "steps": 60, "repeat": 1, "seconds": seconds,
         "slowdown": {k: v["pair"] / v["alone"] for k, v in seconds.items()},
         "speedup_alone": 1.2, "speedup_pair": 4.5, "bf16_speedup_alone": 1.25, "bf16_speedup_pair": 1.25}
    text = "\n".join(contention.markdown(d))
    assert "| new | 10.0 | 20.0 | 2.00 |" in text and "| new, bf16 | 8.0 | 16.0 | 2.00 |" in text
    assert "the opt-in precision alone, data loading included): 1.25× faster alone, 1.25× beside" in text
