"""The ``data`` part of ``gazeattn bench speed``: clip throughput of the data pipeline against bare PyAV decode,
and the fraction of a cpu-preset training step spent waiting on data (with and without the prefetch thread), on
a synthetic world written to a temporary folder; and its markdown table."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from gazeattn.benchmarks import data_pipeline
from gazeattn.benchmarks.speed.common import sync
from gazeattn.data.dataset import EgteaClips, collate_clips
from gazeattn.data.source import open_dataset
from gazeattn.models import build_model
from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.train.config import preset
from gazeattn.train.engine import step_generator
from gazeattn.train.parallelism import parallelism_of
from gazeattn.train.objective import GazeObjective
from gazeattn.train.optim import build_optimizer
from gazeattn.train.prefetch import Prefetcher
from gazeattn.train.sampler import StepBatchSampler
from gazeattn.train.schedules import learning_rate
from gazeattn.train.variants import build_estimator, model_config


def _write_world(root: Path, quick: bool) -> None:
    cfg = (SynthConfig(sessions=2, clips_per_session=6, max_frames=36, seed=0) if quick
           else SynthConfig(sessions=6, clips_per_session=14, seed=0))
    write_synthetic_egtea(root, cfg)


def data_wait(root: Path, *, steps: int, warmup: int, batch: int | None, device: torch.device,
              prefetch: int | None = None) -> dict:
    """The cpu preset's training loop (gaze-direct) over ``root``: seconds waiting in ``next(iterator)`` against
    seconds of compute per step, after ``warmup`` steps (worker start-up) that are not counted. Batches come
    through the same :class:`Prefetcher` as in training, ``prefetch`` deep (default: the preset's)."""
    config = preset("cpu")
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=str(root)),
                                 run=dataclasses.replace(config.run, batch=batch or config.run.batch))
    layout = open_dataset(root)
    train, test = layout.read_split(1, "train"), layout.read_split(1, "test")
    torch.manual_seed(config.run.seed)
    model = build_model(model_config(config, num_classes=layout.n_actions(train, test))).to(device).train()
    objective = GazeObjective(config.run.variant, build_estimator(config), config.loss)
    o = config.optim
    optimizer = build_optimizer(model.parameters(), o)
    dataset = EgteaClips(layout, train, config.clip_config(), train=True, seed=config.run.seed)
    sampler = StepBatchSampler(len(dataset), config.run.batch, seed=config.run.seed, start_step=0,
                               total_steps=warmup + steps)
    workers = parallelism_of(config).workers
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_clips,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0))
    depth = (config.data.prefetch if prefetch is None else prefetch) if workers else 0
    waits, computes, releases = [], [], []
    with Prefetcher(loader, depth=depth) as batches:
        it = iter(batches)
        for step in range(warmup + steps):
            t0 = time.perf_counter()
            batch = next(it)
            t1 = time.perf_counter()
            batch = {k: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v) for k, v in batch.items()}
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, config)
            loss = objective(model, batch, step, step_generator(config.run.seed, step, 0))["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
            optimizer.step()
            float(loss.detach())
            sync(device)
            t2 = time.perf_counter()
            del batch, loss  # frees the batch's shared memory (unmapping it), timed apart from the wait
            t3 = time.perf_counter()
            if step >= warmup:
                waits.append(t1 - t0)
                computes.append(t2 - t1)
                releases.append(t3 - t2)
        del it
    del batches, loader
    wait, compute, release = sum(waits), sum(computes), sum(releases)
    return {"steps": steps, "warmup_steps": warmup, "batch": config.run.batch, "workers": workers,
            "prefetch": depth, "wait_fraction": wait / (wait + compute + release), "wait_s_per_step": wait / steps,
            "step_s": (wait + compute + release) / steps,
            "compute_s_per_step": compute / steps, "release_s_per_step": release / steps, "max_wait_s": max(waits)}


def data_bench(*, quick: bool, steps: int, warmup: int, device: torch.device,
               say: Callable[[str], None] = lambda _: None) -> dict:
    clip = preset("cpu").clip_config()
    workers = parallelism_of(preset("cpu")).workers
    with tempfile.TemporaryDirectory(prefix="gazeattn-speed-") as tmp:
        root = Path(tmp) / "world"
        say("[data] writing a synthetic world")
        _write_world(root, quick)
        say("[data] decode/augment throughput")
        result = data_pipeline.run(root, crop=clip.crop, short_side=clip.short_side,
                                   workers=sorted({0, workers}), batch=4, limit=16 if quick else 64)
        say("[data] training-loop wait")
        result["loop"] = data_wait(root, steps=steps, warmup=warmup, batch=4 if quick else None, device=device)
        say("[data] training-loop wait without the prefetch thread")
        result["loop_no_prefetch"] = data_wait(root, steps=steps, warmup=warmup, batch=4 if quick else None,
                                               device=device, prefetch=0)
    result.pop("root", None)
    result["wait_fraction"] = result["loop"]["wait_fraction"]
    return result


def markdown(d: dict) -> list[str]:
    """The throughput table and the training-loop wait lines of a result's ``data`` part."""
    out = ["| data pipeline (cpu preset clips, mp4) | clips/s |", "|---|---|",
           f"| bare PyAV decode (bound) | {d['bare_decode_clips_per_s']:.1f} |"]
    out += [f"| decode + sample + augment + targets, {p['workers']} workers | {p['clips_per_s']:.1f} |"
            for p in d["pipeline"]]
    out.append("")
    for lp in (d["loop"], d.get("loop_no_prefetch")):
        if lp is None:
            continue
        out.append(f"training loop (cpu preset, gaze-direct, batch {lp['batch']}, {lp['workers']} workers, "
                   f"prefetch {lp['prefetch']}, {lp['steps']} steps after {lp['warmup_steps']} warm-up): waiting "
                   f"on data {100 * lp['wait_fraction']:.2f} % of a {1e3 * lp['step_s']:.1f} ms step "
                   f"({1e3 * lp['wait_s_per_step']:.2f} ms "
                   f"wait, {1e3 * lp['compute_s_per_step']:.1f} ms compute and "
                   f"{1e3 * lp['release_s_per_step']:.1f} ms releasing the batch per step, longest wait "
                   f"{1e3 * lp['max_wait_s']:.1f} ms)")
        out.append("")
    return out
