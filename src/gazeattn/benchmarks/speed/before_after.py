"""The ``step`` part of ``gazeattn bench speed``: the cpu preset's training step as it was ("before") and as
``gazeattn train`` takes it now ("after"), side by side, and the achieved FLOP/s beside the machine's peak.

* before: torch's default threads (one per usable core), the objective's diagnostics on every step, glibc's
  default allocator thresholds (freed activations go back to the system and fault in again next step);
* after: the threads ``gazeattn train`` chooses (:mod:`gazeattn.train.parallelism`; 1 on 2 cores, the other core
  left to the DataLoader worker), the diagnostics on the logged steps only (every ``run.log_every`` = 20th),
  freed memory kept for reuse (:mod:`gazeattn.train.malloc`), the preset's precision (float32, contiguous);
* before, chosen threads: "before" on "after"'s threads, so that its ratio to "after" is what the changes that keep
  the weights bit-identical (diagnostics, allocator) give alone, and its ratio to "before" what the threads give;
* after, bf16: "after" with the opt-in precision (``run.amp`` and ``run.channels_last``, :mod:`gazeattn.train.precision`:
  bf16 autocast on the forward where the CPU has native bf16, channels-last 3D memory), not the preset's because
  its effect on i3d's accuracy is not shown to be small (docs/benchmarks.md).

The allocator setting and the thread pool belong to a process, so every sample is a fresh process
(``python -m gazeattn.benchmarks.speed.before_after``) that builds the step (:class:`TrainStep`: batch 8, random
inputs), runs ``warmup`` untimed steps and then times ``steps`` consecutive steps (a multiple of log_every, so the
diagnostics' share is counted as it falls), reporting seconds per step. Samples are interleaved (before, after,
before at the chosen threads, before, ...) so machine load hits all alike; the result is the median over
``repeat`` samples.
FLOPs of one step (without the diagnostics) are counted with ``torch.utils.flop_counter.FlopCounterMode``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from gazeattn.benchmarks.speed.common import fmt
from gazeattn.benchmarks.speed.machine import measured_peak, nominal_peak
from gazeattn.benchmarks.speed.train_step import TrainStep
from gazeattn.train.config import preset
from gazeattn.train.malloc import reuse_freed_memory
from gazeattn.train.parallelism import parallelism_of, usable_cores
from gazeattn.train.precision import resolve as resolve_precision


OLD_STEP_NEW_THREADS = "before-chosen-threads"
NEW_STEP_BF16 = "after-bf16"


@dataclass(frozen=True)
class StepSettings:
    name: str
    threads: int
    diagnose_every: int  # the objective's diagnostics on every n-th step
    reuse_memory: bool
    amp: bool = False  # run.amp (bf16 autocast where native)
    channels_last: bool = False  # run.channels_last


def settings(cores: int | None = None) -> list[StepSettings]:
    """before, after, before at the chosen threads and after in bf16 (see the module docstring) on ``cores`` usable
    cores."""
    cores = cores or usable_cores()
    config = preset("cpu")
    chosen = parallelism_of(config, cores).threads
    log_every, run = config.run.log_every, config.run
    return [StepSettings("before", cores, 1, False),
            StepSettings("after", chosen, log_every, True, run.amp, run.channels_last),
            StepSettings(OLD_STEP_NEW_THREADS, chosen, 1, False),
            StepSettings(NEW_STEP_BF16, chosen, log_every, True, True, True)]


def _child(argv: list[str]) -> int:
    """In a fresh process: time ``--steps`` steps of ``--variant`` under ``--settings``; print JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--settings", required=True)
    p.add_argument("--variant", default="gaze-direct")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args(argv)
    s = StepSettings(**json.loads(args.settings))
    torch.set_num_threads(s.threads)
    if s.reuse_memory:
        reuse_freed_memory()
    cpu = torch.device("cpu")
    step = TrainStep("cpu", args.variant, batch=args.batch, device=cpu, diagnose_every=s.diagnose_every,
                     precision=resolve_precision(s.amp, s.channels_last, cpu))
    for _ in range(args.warmup):
        step()
    seconds = sum(step.timed() for _ in range(args.steps)) / args.steps
    print(json.dumps({"seconds": seconds}))
    return 0


def _sample(s: StepSettings, variant: str, *, batch: int, steps: int, warmup: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, "-m", "gazeattn.benchmarks.speed.before_after", "--settings", json.dumps(asdict(s)),
           "--variant", variant, "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"step process failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def step_flops(variant: str, batch: int) -> int:
    """FLOPs of one cpu-preset training step of ``variant`` (forward, backward, optimizer; no diagnostics)."""
    cpu = torch.device("cpu")
    step = TrainStep("cpu", variant, batch=batch, device=cpu, diagnose_every=10**9,
                     precision=resolve_precision(False, False, cpu))
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def compare_bench(variants: list[str], *, repeat: int, steps: int, warmup: int, batch: int,
                  say: Callable[[str], None] = lambda _: None) -> dict:
    """Per variant: seconds per step of every setting (median of ``repeat`` interleaved samples), the ratios to
    "before", the step's FLOPs and the achieved FLOP/s; and the machine's peak (nominal and measured)."""
    cores = usable_cores()
    all_settings = settings(cores)
    rows = []
    for variant in variants:
        samples: dict[str, list[float]] = {s.name: [] for s in all_settings}
        for r in range(repeat):
            for s in all_settings:
                samples[s.name].append(_sample(s, variant, batch=batch, steps=steps, warmup=warmup))
            say(f"[step {variant}] sample {r + 1}/{repeat}: "
                + ", ".join(f"{name} {v[-1]:.3f}s" for name, v in samples.items()))
        flops = step_flops(variant, batch)
        med = {name: statistics.median(v) for name, v in samples.items()}
        rows.append({"model": variant, "batch": batch, "flops": flops, "seconds": med, "seconds_all": samples,
                     "speedup": {name: med["before"] / t for name, t in med.items()},
                     "flops_per_s": {name: flops / t for name, t in med.items()}})
    chosen = {s.name: s.threads for s in all_settings}
    why = {s.name: resolve_precision(s.amp, s.channels_last, torch.device("cpu")).why for s in all_settings}
    return {"cores": cores, "settings": [asdict(s) for s in all_settings], "precision": why,
            "steps_per_sample": steps,
            "repeat": repeat, "rows": rows, "nominal_peak": nominal_peak(cores),
            "measured_peak_flops": {str(t): measured_peak(t) for t in sorted(set(chosen.values()))},
            "measured_peak_flops_bf16": {str(t): measured_peak(t, dtype=torch.bfloat16)
                                         for t in sorted(set(chosen.values()))}}


def markdown(d: dict) -> list[str]:
    """The before/after table of a ``compare_bench`` result and the peak it is set beside."""
    s = {x["name"]: x for x in d["settings"]}
    why = d.get("precision", {})
    out = [f"cpu preset training step, before vs after ({d['cores']} usable cores; before: {s['before']['threads']} "
           f"thread(s), diagnostics every step, default allocator; after: {s['after']['threads']} thread(s), "
           f"diagnostics every {s['after']['diagnose_every']} steps, freed memory reused, "
           f"{why.get('after', 'float32')}; before at the chosen threads: before's step on after's threads; after, "
           f"bf16 (opt-in): after's step with {why.get(NEW_STEP_BF16, 'run.amp and run.channels_last')}). Median of "
           f"{d['repeat']} interleaved fresh processes, each timing {d['steps_per_sample']} steps.", "",
           "| model | batch | GFLOP/step | before s/step | before at chosen threads s/step | after s/step | "
           "before/after | same threads: before/after | after GFLOP/s | after, bf16 s/step | before/after, bf16 |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        t, x = r["seconds"], r["speedup"]
        same = t[OLD_STEP_NEW_THREADS] / t["after"]
        bf16 = t.get(NEW_STEP_BF16)
        out.append(f"| {r['model']} | {r['batch']} | {r['flops'] / 1e9:.2f} | {t['before']:.3f} | "
                   f"{t[OLD_STEP_NEW_THREADS]:.3f} | {t['after']:.3f} | {x['after']:.2f} | {same:.2f} | "
                   f"{r['flops_per_s']['after'] / 1e9:.1f} | {fmt(bf16, '.3f')} | {fmt(x.get(NEW_STEP_BF16), '.2f')} |")
    peak = d.get("nominal_peak")
    measured = ", ".join(f"{float(v) / 1e9:.0f} GFLOP/s on {k} thread(s)" for k, v in d["measured_peak_flops"].items())
    nominal = "–" if peak is None else (f"{peak['flops'] / 1e9:.0f} GFLOP/s = {peak['cores']} cores × "
                                        f"{peak['ghz']:.2f} GHz × {peak['flops_per_cycle']} FLOP/cycle "
                                        f"({peak['isa']}, {peak['assumption']})")
    out += ["", f"peak fp32: nominal {nominal}; measured (2048² matmul) {measured}"]
    if d.get("measured_peak_flops_bf16"):
        bf16 = ", ".join(f"{float(v) / 1e9:.0f} GFLOP/s on {k} thread(s)"
                         for k, v in d["measured_peak_flops_bf16"].items())
        out += [f"peak bf16: measured (2048² matmul) {bf16} (what \"after, bf16\" runs its convolutions in)"]
    out += [""]
    return out


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
