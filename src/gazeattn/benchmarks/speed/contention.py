"""``gazeattn bench speed --contention``: a cpu-preset training run alone and beside a second one (two
processes training at once), with today's defaults and with the new ones.

* today: 2 DataLoader workers, torch threads = the usable cores (torch's default), the diagnostics on every step,
  glibc's default allocator thresholds (``--workers 2 --set run.threads=CORES --set run.diagnose_every_step=true
  --set run.reuse_memory=false``): on 2 cores, 4 busy threads and processes per run;
* new: ``gazeattn train``'s defaults (threads and workers chosen from the usable cores: 1 + 1 on 2 cores);
* new, bf16: the same with the opt-in precision (``--set run.amp=true --set run.channels_last=true``: bf16 forward
  where the CPU has it, channels-last memory), so that its ratio to "new" is what that precision gives a whole run,
  data loading included.

Each sample is ``python -m gazeattn train --preset cpu --steps N`` on a synthetic world written to a temporary
folder (no evaluation); its time is the training loop's, the sum of the ``seconds`` of its ``log.jsonl`` train
records (set-up and the first import excluded). Samples are interleaved (today alone, new alone, today pair,
new pair, then again) and the median over ``repeat`` is reported; a pair's time is the mean of its two runs.
``slowdown`` = pair / alone: 2 when two runs share 2 cores perfectly, more when they oversubscribe them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.train.parallelism import usable_cores

QUICK_FLAGS = ["--set", "clip.crop=48", "--set", "clip.short_side=56", "--set", "clip.train_short_side=56,64",
               "--set", "model.tiny_widths=4,8,8,12,16", "--set", "model.head_channels=4,4", "--batch", "4"]


NEW_BF16 = "new, bf16"
BF16_FLAGS = ["--set", "run.amp=true", "--set", "run.channels_last=true"]


def today_flags(cores: int) -> list[str]:
    """The flags that reproduce today's defaults (see the module docstring)."""
    return ["--workers", "2", "--set", f"run.threads={cores}", "--set", "run.diagnose_every_step=true",
            "--set", "run.reuse_memory=false"]


def _start(world: Path, out: Path, steps: int, flags: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, "-m", "gazeattn", "train", "--data", str(world), "--steps", str(steps), "--out", str(out),
           "--no-progress", "--set", "run.checkpoint_every=1000000", *flags]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _loop_seconds(out: Path) -> float:
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return sum(r["seconds"] for r in records if r.get("kind") == "train")


def _sample(world: Path, tmp: Path, steps: int, flags: list[str], processes: int) -> float:
    """Mean training-loop seconds of ``processes`` runs started at once."""
    outs = [Path(tempfile.mkdtemp(dir=tmp)) / "run" for _ in range(processes)]
    running = [_start(world, out, steps, flags) for out in outs]
    for proc in running:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"gazeattn train failed ({proc.returncode}): {err.strip()[-500:]}")
    return statistics.mean(_loop_seconds(out) for out in outs)


def contention_bench(*, steps: int, repeat: int, quick: bool = False,
                     say: Callable[[str], None] = lambda _: None) -> dict:
    cores = usable_cores()
    extra = QUICK_FLAGS if quick else []
    configs = {"today": today_flags(cores) + extra, "new": list(extra), NEW_BF16: BF16_FLAGS + extra}
    seconds: dict[str, dict[str, list[float]]] = {name: {"alone": [], "pair": []} for name in configs}
    with tempfile.TemporaryDirectory(prefix="gazeattn-contention-") as tmp_name:
        tmp = Path(tmp_name)
        world = tmp / "world"
        synth = (SynthConfig(sessions=2, clips_per_session=4, seed=0, width=64, height=48, min_frames=24,
                             max_frames=30) if quick else SynthConfig(sessions=6, clips_per_session=14, seed=0))
        write_synthetic_egtea(world, synth)
        for r in range(repeat):
            for mode, processes in (("alone", 1), ("pair", 2)):
                for name, flags in configs.items():
                    seconds[name][mode].append(_sample(world, tmp, steps, flags, processes))
                    say(f"[contention] {r + 1}/{repeat} {name} {mode}: {seconds[name][mode][-1]:.1f} s")
    med = {name: {mode: statistics.median(v) for mode, v in m.items()} for name, m in seconds.items()}
    return {"cores": cores, "steps": steps, "repeat": repeat, "flags": configs, "seconds_all": seconds,
            "seconds": med, "slowdown": {name: m["pair"] / m["alone"] for name, m in med.items()},
            "speedup_alone": med["today"]["alone"] / med["new"]["alone"],
            "speedup_pair": med["today"]["pair"] / med["new"]["pair"],
            "bf16_speedup_alone": med["new"]["alone"] / med[NEW_BF16]["alone"],
            "bf16_speedup_pair": med["new"]["pair"] / med[NEW_BF16]["pair"]}


def markdown(d: dict) -> list[str]:
    s, x = d["seconds"], d["slowdown"]
    out = [f"cpu preset training, {d['steps']} steps, one run alone and two at once on {d['cores']} usable cores "
           f"(training-loop seconds, median of {d['repeat']}, interleaved)", "",
           "| defaults | alone (s) | beside a second run (s) | slowdown (pair / alone) |", "|---|---|---|---|"]
    for name in ("today", "new", NEW_BF16):
        if name in s:
            out.append(f"| {name} | {s[name]['alone']:.1f} | {s[name]['pair']:.1f} | {x[name]:.2f} |")
    out += ["", f"new vs today: {d['speedup_alone']:.2f}× faster alone, {d['speedup_pair']:.2f}× faster beside a "
            "second run"]
    if "bf16_speedup_alone" in d:
        out += [f"new, bf16 vs new (the opt-in precision alone, data loading included): "
                f"{d['bf16_speedup_alone']:.2f}× faster alone, {d['bf16_speedup_pair']:.2f}× beside a second run"]
    out += [""]
    return out
