"""`gazeattn bench speed`: what a training step, the data pipeline and inference cost (time, memory).

The command: its flags, the parts it runs (:func:`run`) and the result as JSON or markdown tables
(:func:`format_markdown`). What each part measures and how: :mod:`gazeattn.benchmarks.speed`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
from typing import Any, Callable

import torch

from gazeattn.benchmarks.speed import before_after, contention, data, inference, train_step
from gazeattn.benchmarks.speed.common import SHAPES
from gazeattn.benchmarks.speed.inference import INFERENCE_MODES
from gazeattn.benchmarks.speed.train_step import COPY_BASELINE, MEMORY_METHOD_CPU, MEMORY_METHOD_CUDA
from gazeattn.train.config import MODELS
from gazeattn.train.distributed import pick_device

PARTS = ("train", "step", "data", "inference")
STEP_VARIANTS = ("gaze-direct", "i3d", "gaze-gumbel")  # the step part's default variants


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other processes compete for the cores)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run(*, shapes: list[str], variants: list[str], parts: list[str], batch: int | None = None,
        repeat: int | None = None, warmup: int = 1, infer_batches: list[int] = (1, 16),
        modes: list[str] = INFERENCE_MODES, data_steps: int = 30, quick: bool = False, device: str = "auto",
        step_variants: list[str] = STEP_VARIANTS, step_steps: int = 20, contention_steps: int = 0,
        say: Callable[[str], None] = lambda _: None) -> dict:
    """The ``parts`` asked for (and, with ``contention_steps`` > 0, the contention runs) as one result dict."""
    dev = pick_device(device)
    result: dict[str, Any] = {
        "benchmark": "speed", "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "load_average_start": _load(), "quick": quick,
        "memory_method": MEMORY_METHOD_CUDA if dev.type == "cuda" else MEMORY_METHOD_CPU,
        "train_step": [], "direct_overhead_ratio": None, "copy_per_candidate_overhead_ratio": None,
        "data": None, "data_wait_fraction": None, "inference": [], "step": None, "contention": None,
    }
    if "train" in parts:
        rows, ratios = train_step.train_bench(shapes, variants, batch=batch, repeat=repeat, warmup=warmup, device=dev,
                                              say=say)
        result["train_step"] = rows
        result["ratios_to_i3d"] = ratios
        for shape in ("reference", "cpu"):  # the reference shape's ratio when it ran
            if shape in ratios and "gaze-direct" in ratios[shape]:
                result["direct_overhead_ratio"] = ratios[shape]["gaze-direct"]
                result["copy_per_candidate_overhead_ratio"] = ratios[shape].get(COPY_BASELINE)
                result["overhead_ratio_shape"] = shape
                break
    if "step" in parts and dev.type == "cpu":
        result["step"] = before_after.compare_bench(step_variants, repeat=repeat or (1 if quick else 3),
                                                    steps=step_steps, warmup=warmup if quick else max(warmup, 2),
                                                    batch=batch or 8, say=say)
    if contention_steps:
        result["contention"] = contention.contention_bench(steps=contention_steps, repeat=repeat or (1 if quick else 3),
                                                           quick=quick, say=say)
    if "data" in parts:
        result["data"] = data.data_bench(quick=quick, steps=data_steps, warmup=2 if quick else 3, device=dev,
                                         say=say)
        result["data_wait_fraction"] = result["data"]["wait_fraction"]
    if "inference" in parts:
        result["inference"] = inference.inference_bench(shapes, list(infer_batches), modes=list(modes),
                                                        repeat=repeat, warmup=warmup, device=dev, say=say)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result["load_average_end"] = _load()
    return result


def format_markdown(result: dict) -> str:
    """README-ready markdown tables of a :func:`run` result."""
    out = [f"device: {result['device']} ({result['machine']}), torch {result['torch']}, {result['threads']} "
           f"thread(s), load average {result['load_average_start']} → {result.get('load_average_end')}", ""]
    if result["train_step"]:
        out += train_step.markdown(result)
    if result.get("step"):
        out += before_after.markdown(result["step"])
    if result.get("contention"):
        out += contention.markdown(result["contention"])
    if result["data"]:
        out += data.markdown(result["data"])
    if result["inference"]:
        out += inference.markdown(result["inference"])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gazeattn bench speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", nargs="+", choices=SHAPES, default=["cpu"], help="input shapes (default cpu)")
    p.add_argument("--variants", nargs="+", choices=MODELS, default=list(MODELS), help="model variants (default all)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to run (default all)")
    p.add_argument("--batch", type=int, default=None, help="training batch (default 8 at both shapes)")
    p.add_argument("--repeat", type=int, default=None, help="timed repetitions, median (default 3 reference, 5 cpu)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up calls (default 1)")
    p.add_argument("--infer-batch", type=int, nargs="+", default=[1, 16], help="inference batches (default 1 16)")
    p.add_argument("--modes", nargs="+", choices=INFERENCE_MODES, default=list(INFERENCE_MODES),
                   help="inference modes (default all; eager first)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--data-steps", type=int, default=30, help="training-loop steps timed for the data wait")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--step-variants", nargs="+", choices=MODELS, default=list(STEP_VARIANTS),
                   help="variants of the step part, before vs after (default gaze-direct i3d gaze-gumbel)")
    p.add_argument("--step-steps", type=int, default=20, help="steps timed per process in the step part (default 20)")
    p.add_argument("--contention", type=int, nargs="?", const=60, default=0, metavar="STEPS",
                   help="also train the cpu preset STEPS steps (default 60) alone and two runs at once, with "
                        "today's defaults and the new ones")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: cpu shape, batch 2, 1 repetition, gaze-direct and i3d, tiny data world")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    try:
        pick_device(args.device)
    except ValueError as err:
        p.error(f"--device: {err}")
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m for m in args.modes if not (args.no_compile and m == "compile")]
    modes = ["eager"] + [m for m in modes if m != "eager"]  # eager fp32 is the reference for max_abs_diff
    kwargs: dict[str, Any] = dict(shapes=args.shape, variants=args.variants, parts=args.parts, batch=args.batch,
                                  repeat=args.repeat, warmup=args.warmup, infer_batches=args.infer_batch,
                                  modes=modes, data_steps=args.data_steps, device=args.device,
                                  step_variants=args.step_variants, step_steps=args.step_steps,
                                  contention_steps=args.contention)
    if args.quick:
        kwargs.update(shapes=["cpu"], variants=["gaze-direct", "i3d"], batch=args.batch or 2, repeat=1, warmup=0,
                      infer_batches=[1, 2], modes=["eager", "bf16"], data_steps=3, quick=True,
                      step_variants=["gaze-direct"], step_steps=2, contention_steps=2 if args.contention else 0)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not args.quick else (lambda _: None)
    result = run(say=say, **kwargs)
    print(json.dumps(result, indent=2) if args.json else format_markdown(result))
    return 0
