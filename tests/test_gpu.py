"""On a CUDA GPU (marked ``gpu``; skipped, saying why, elsewhere): the estimators give the CPU's gradient, and a
tiny run trains and evaluates with ``--device cuda``, its checkpoint evaluating alike on the CPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL, tiny_world  # noqa: E402

from gazeattn.cli import main as cli_main  # noqa: E402
from gazeattn.estimators import direct_gradient, local_expectation_gradient, sample_gumbel  # noqa: E402
from gazeattn.estimators.closed_form import multilinear_loss_fn  # noqa: E402

pytestmark = pytest.mark.gpu


def test_estimators_give_the_cpu_gradient_on_the_gpu(cuda_device, gen):
    logits = torch.randn(4, 2, 2, 3, generator=gen, dtype=torch.float64)
    table = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    gumbel = sample_gumbel(logits.shape, gen)
    cpu_loss, gpu_loss = multilinear_loss_fn(table), multilinear_loss_fn(table.to(cuda_device))
    for grad in (lambda th, g, lf: local_expectation_gradient(th, g, lf),
                 lambda th, g, lf: direct_gradient(th, g, lf, 0.5)):
        on_cpu = grad(logits, gumbel, cpu_loss)
        on_gpu = grad(logits.to(cuda_device), gumbel.to(cuda_device), gpu_loss)
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_tiny_run_trains_on_the_gpu_and_evaluates_alike_on_the_cpu(cuda_device, tmp_path):
    world = tiny_world(tmp_path / "world", seed=4, sessions=3, clips_per_session=6)
    run = tmp_path / "run"
    assert cli_main(["train", "--data", str(world), "--out", str(run), "--preset", "cpu", "--steps", "4",
                     "--set", "run.device=cuda", *SMALL]) == 0
    results = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"eval-{device}.json"
        assert cli_main(["eval", "--run", str(run), "--device", device, "--workers", "0", "--out", str(out)]) == 0
        results[device] = json.loads(out.read_text())
    gpu, cpu = results["cuda"], results["cpu"]
    assert gpu["n_samples"] == cpu["n_samples"] > 0
    # The same weights: predictions may differ only where two logits tie within float error (at most one clip).
    differing = sum(abs(a - b) for ra, rb in zip(gpu["confusion"], cpu["confusion"]) for a, b in zip(ra, rb))
    assert differing <= 2, (gpu["confusion"], cpu["confusion"])
