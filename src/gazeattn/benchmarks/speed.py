"""`gazeattn bench speed`: what a training step, the data pipeline and inference cost (time, memory).

Run: ``gazeattn bench speed [--shape cpu reference] [--batch B] [--repeat N] [--variants ...] [--json]``;
``--quick`` is the few-second smoke run of the tests. Reports numbers, never pass/fail.

Three parts (``--parts``):

* ``train``: one optimizer step of each model variant at each ``--shape`` -- ``cpu`` (the cpu preset: tiny RGB
  backbone, 24×80², batch 8) or ``reference`` (two-stream I3D, 24×224², batch 8; ``--batch`` overrides) --
  through the real training path: the preset's :class:`TrainConfig` with ``run.model`` set to the variant,
  ``build_model(model_config(...))``, :class:`GazeObjective` with ``build_estimator``, SGD with the preset's
  momentum and weight decay, backward, grad-norm clipping, ``optimizer.step()``, and the engine's per-step
  lr and Gumbel generator. Inputs are random tensors of the right shapes with a fixed random one-hot gaze
  target (106 classes). ``copy-per-candidate`` is a gaze-direct step whose candidate losses are scored the
  reference's way: x5 copied for every candidate and ``model.classify`` run on the (B·147) stack
  (:func:`gazeattn.benchmarks.candidates.copy_losses`); the losses equal ``model.candidate_losses``'s, so the
  comparison is fair. ``direct_overhead_ratio`` = gaze-direct / i3d step time at the reference shape (the
  cpu shape when only that one ran), ``copy_per_candidate_overhead_ratio`` the same for the copying step.
* ``data``: clips/s of decode + sampling + augmentation + gaze targets from mp4 with 0 and N workers against
  bare PyAV decode of the same clips (:mod:`gazeattn.benchmarks.data_pipeline`, on a synthetic world written
  to a temporary folder, at the cpu preset's clip config), and the fraction of step time the training loop
  waits on data at the cpu preset: a DataLoader with the preset's workers and the engine's
  :class:`StepBatchSampler`, read through the engine's :class:`~gazeattn.data.prefetch.Prefetcher`, timing
  ``next(iterator)`` against the compute of the step; once with the preset's prefetch depth and once with
  none (batches unpickled in the loop, as a bare DataLoader does).
* ``inference``: latency and clips/s of ``gazeattn predict``'s model forward (backbone, gaze head, argmax
  gaze, attention map, classifier; RGB stream only, as ``predict`` supports) at batch 1 and 16: eager fp32,
  channels-last 3d, bf16 autocast, both, and ``torch.compile`` (compile time reported apart from the
  steady-state time; a failure is reported, not raised). ``max_abs_diff`` is the largest logit difference to
  eager fp32 on the same input.

Timing: ``--warmup`` untimed steps (default 1), then the median of ``--repeat`` timed calls (default 3 at the
reference shape, 5 at the cpu shape). The timed training steps of all variants are interleaved (variant A,
B, ..., then A, B, ... again) so a change in machine load hits every variant alike. On CUDA every timed call
is synchronised. ``threads`` is ``torch.get_num_threads()``; the load averages at start and end are reported
because other processes compete for the cores: on a busy 2-core machine two OpenMP threads can stall on each
other's barriers, which makes small kernels (batch-1 inference, the optimizer step) slow and bimodal;
``--threads 1`` shows whether that is happening.

Memory: on CPU torch has no peak-memory counter, so ``peak_mb`` is the peak of live tensor storage bytes
allocated during one (untimed) step, measured with
:class:`~gazeattn.benchmarks.candidates.PeakTensorMemory` (a ``TorchDispatchMode``): activations, gradients
and temporaries; parameters and existing optimizer state excluded (they are ``state_mb``); allocator slack,
the Python heap and BLAS/oneDNN scratch space are not counted. On CUDA ``peak_mb`` is
``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before it. ``max_rss_mb`` is
the process's resident-set high-water mark (``resource.getrusage``) at the end, everything included.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader

from gazeattn.benchmarks import data_pipeline
from gazeattn.benchmarks.candidates import PeakTensorMemory, copy_losses
from gazeattn.data.prefetch import Prefetcher
from gazeattn.models import GazeAttentionModel, build_model
from gazeattn.predict import Predictor, deterministic_gaze
from gazeattn.train.config import MODELS, TrainConfig, preset
from gazeattn.train.engine import step_generator
from gazeattn.train.optim import build_optimizer, learning_rate
from gazeattn.train.objective import GazeObjective
from gazeattn.train.variants import build_estimator, model_config

SHAPES = ("cpu", "reference")
PARTS = ("train", "data", "inference")
NUM_CLASSES = 106
COPY_BASELINE = "copy-per-candidate"  # a gaze-direct step scoring candidates by copying x5
INFERENCE_MODES = ("eager", "channels_last", "bf16", "channels_last+bf16", "compile")
MEMORY_METHOD_CPU = ("peak live tensor storage bytes allocated during one step (TorchDispatchMode; parameters and "
                     "existing optimizer state excluded, allocator slack and BLAS scratch not counted)")
MEMORY_METHOD_CUDA = "torch.cuda.max_memory_allocated during one step minus the bytes allocated before it"


# ----------------------------------------------------------------------------------------------------------------
# the training step


def shape_config(shape: str, variant: str, batch: int | None = None) -> TrainConfig:
    """The preset ``shape`` with ``run.model = variant``, random init (no Kinetics file: weights do not change the
    cost of a step) and ``run.batch = batch or 8`` (8 at both shapes: the issue's reference shape, not the
    reference preset's 4)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    if variant not in MODELS:
        raise ValueError(f"variant must be one of {MODELS}, got {variant!r}")
    config = preset(shape)
    run = dataclasses.replace(config.run, model=variant, batch=batch or 8)
    return dataclasses.replace(config, run=run, model=dataclasses.replace(config.model, pretrained=""))


def random_batch(config: TrainConfig, *, num_classes: int, device: torch.device, seed: int = 0) -> dict[str, Tensor]:
    """Random inputs of the training shapes: rgb (B, 3, T, H, W) and flow (B, 2, T, H, W) in [-1, 1] as the
    streams need, labels (B,), a fixed random one-hot gaze target (B, T', H', W') and an all-valid mask (B, T')."""
    g = torch.Generator().manual_seed(seed)
    mcfg = model_config(config, num_classes=num_classes)
    b, (t, h, w), (tg, hg, wg) = config.run.batch, mcfg.clip, mcfg.grid
    batch: dict[str, Tensor] = {"label": torch.randint(0, num_classes, (b,), generator=g)}
    for name, channels in mcfg.in_channels.items():
        batch[name] = torch.rand(b, channels, t, h, w, generator=g) * 2 - 1  # (B, C, T, H, W)
    cells = torch.randint(0, hg * wg, (b, tg), generator=g)  # (B, T') fixation cell per slot
    batch["gaze_target"] = F.one_hot(cells, hg * wg).float().view(b, tg, hg, wg)  # (B, T', H', W')
    batch["gaze_mask"] = torch.ones(b, tg, dtype=torch.bool)
    return {k: v.to(device) for k, v in batch.items()}


class CopyPerCandidate:
    """The model with ``candidate_losses`` replaced by the reference's scoring: x5 copied once per candidate
    and ``model.classify`` run on the (B·M) stack. Everything else is the wrapped model's (same weights), so
    :class:`GazeObjective` runs unchanged on it."""

    def __init__(self, model: GazeAttentionModel):
        self.model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def candidate_losses(self, z: Tensor, x5: Tensor, labels: Tensor, **_: Any) -> Tensor:
        """(B, M) cross-entropy losses of candidate maps z (B, M, T', H', W') given x5 (B, C5, T', H', W')."""
        return copy_losses(self.model, z, x5, labels)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainStep:
    """One variant's model, objective and optimizer, built as ``gazeattn train`` builds them, and its batch."""

    def __init__(self, shape: str, variant: str, *, batch: int | None, device: torch.device, copy_candidates=False,
                 seed: int = 0):
        self.config = shape_config(shape, variant, batch)
        self.shape, self.device = shape, device
        self.name = COPY_BASELINE if copy_candidates else variant
        torch.manual_seed(seed)
        self.model = build_model(model_config(self.config, num_classes=NUM_CLASSES)).to(device).train()
        self.scored = CopyPerCandidate(self.model) if copy_candidates else self.model
        self.objective = GazeObjective(variant, build_estimator(self.config), self.config.loss)
        o = self.config.optim
        self.optimizer = build_optimizer(self.model.parameters(), o)
        self.batch = random_batch(self.config, num_classes=NUM_CLASSES, device=device, seed=seed)
        self.steps = 0

    def __call__(self) -> float:
        """One training step, as the engine's loop body; returns the loss."""
        step, config = self.steps, self.config
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        terms = self.objective(self.scored, self.batch, step, step_generator(config.run.seed, step, 0))
        loss = terms["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.optim.grad_clip)
        self.optimizer.step()
        self.steps += 1
        return float(loss.detach())

    def state_bytes(self) -> int:
        """Parameters, buffers and optimizer state held between steps."""
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        tensors += [v for s in self.optimizer.state.values() for v in s.values() if isinstance(v, Tensor)]
        return sum(t.numel() * t.element_size() for t in tensors)

    def peak_bytes(self) -> int:
        """Peak bytes allocated during one step (see the module docstring for the method)."""
        if self.device.type == "cuda":
            _sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            self()
            _sync(self.device)
            return torch.cuda.max_memory_allocated(self.device) - before
        meter = PeakTensorMemory()
        with meter:
            self()
        return meter.peak

    def timed(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        loss = self()  # float(loss) waits for the device
        _sync(self.device)
        if loss != loss or abs(loss) == float("inf"):
            raise RuntimeError(f"{self.name} at shape {self.shape}: non-finite loss {loss}")
        return time.perf_counter() - t0


def train_bench(shapes: list[str], variants: list[str], *, batch: int | None, repeat: int | None, warmup: int,
                device: torch.device, copy_baseline: bool = True, say: Callable[[str], None] = lambda _: None
                ) -> tuple[list[dict], dict[str, dict[str, float]]]:
    """Rows ``{model, shape, batch, seconds, peak_mb, ...}`` and, per shape, ratios to the i3d step."""
    rows, ratios = [], {}
    for shape in shapes:
        n_rep = repeat or (3 if shape == "reference" else 5)
        steps = [TrainStep(shape, v, batch=batch, device=device) for v in variants]
        if copy_baseline and "gaze-direct" in variants:
            steps.append(TrainStep(shape, "gaze-direct", batch=batch, device=device, copy_candidates=True))
        peaks = {}
        for s in steps:  # warm-up, then one untimed step under the memory meter
            say(f"[train {shape}] warm-up {s.name} (batch {s.config.run.batch})")
            for _ in range(warmup):
                s()
            peaks[s.name] = s.peak_bytes()
        times: dict[str, list[float]] = {s.name: [] for s in steps}
        for r in range(n_rep):
            for s in steps:
                times[s.name].append(s.timed())
            say(f"[train {shape}] repetition {r + 1}/{n_rep}: "
                + ", ".join(f"{s.name} {times[s.name][-1]:.2f}s" for s in steps))
        for s in steps:
            rows.append({"model": s.name, "shape": shape, "batch": s.config.run.batch,
                         "seconds": statistics.median(times[s.name]), "seconds_all": times[s.name],
                         "peak_mb": peaks[s.name] / 2**20, "state_mb": s.state_bytes() / 2**20,
                         "params": sum(p.numel() for p in s.model.parameters())})
        med = {s.name: statistics.median(times[s.name]) for s in steps}
        if "i3d" in med:
            ratios[shape] = {name: t / med["i3d"] for name, t in med.items()}
        del steps
    return rows, ratios


# ----------------------------------------------------------------------------------------------------------------
# the data pipeline


def _write_world(root: Path, quick: bool) -> None:
    from gazeattn.data.synth import SynthConfig, write_synthetic_egtea

    cfg = (SynthConfig(sessions=2, clips_per_session=6, max_frames=36, seed=0) if quick
           else SynthConfig(sessions=6, clips_per_session=14, seed=0))
    write_synthetic_egtea(root, cfg)


def data_wait(root: Path, *, steps: int, warmup: int, batch: int | None, device: torch.device,
              prefetch: int | None = None) -> dict:
    """The cpu preset's training loop (gaze-direct) over ``root``: seconds waiting in ``next(iterator)`` against
    seconds of compute per step, after ``warmup`` steps (worker start-up) that are not counted. Batches come
    through the same :class:`Prefetcher` as in training, ``prefetch`` deep (default: the preset's)."""
    from gazeattn.data.dataset import EgteaClips, collate_clips
    from gazeattn.data.layout import EgteaLayout
    from gazeattn.train.sampler import StepBatchSampler

    config = preset("cpu")
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=str(root)),
                                 run=dataclasses.replace(config.run, batch=batch or config.run.batch))
    layout = EgteaLayout(root)
    train, test = layout.read_split(1, "train"), layout.read_split(1, "test")
    torch.manual_seed(config.run.seed)
    model = build_model(model_config(config, num_classes=layout.n_actions(train, test))).to(device).train()
    objective = GazeObjective(config.run.model, build_estimator(config), config.loss)
    o = config.optim
    optimizer = build_optimizer(model.parameters(), o)
    dataset = EgteaClips(layout, train, config.clip_config(), train=True, seed=config.run.seed)
    sampler = StepBatchSampler(len(dataset), config.run.batch, seed=config.run.seed, start_step=0,
                               total_steps=warmup + steps)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=config.data.workers, collate_fn=collate_clips,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0))
    depth = (config.data.prefetch if prefetch is None else prefetch) if config.data.workers else 0
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
            _sync(device)
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
    return {"steps": steps, "warmup_steps": warmup, "batch": config.run.batch, "workers": config.data.workers,
            "prefetch": depth, "wait_fraction": wait / (wait + compute + release), "wait_s_per_step": wait / steps,
            "step_s": (wait + compute + release) / steps,
            "compute_s_per_step": compute / steps, "release_s_per_step": release / steps, "max_wait_s": max(waits)}


def data_bench(*, quick: bool, steps: int, warmup: int, device: torch.device,
               say: Callable[[str], None] = lambda _: None) -> dict:
    clip = preset("cpu").clip_config()
    workers = preset("cpu").data.workers
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


# ----------------------------------------------------------------------------------------------------------------
# inference


def predict_forward(model: GazeAttentionModel, rgb: Tensor, test_gaze: str = "argmax") -> Tensor:
    """The model calls of :meth:`gazeattn.predict.Predictor.predict` for one batch of windows: class logits (B, C)."""
    x4, x5 = model.backbone(rgb, None)  # (B, C4, T', H', W'), (B, C5, T', H', W')
    z = None
    if model.gaze_head is not None:
        g = model.gaze_logits(x4).float()  # (B, T', H', W')
        z = deterministic_gaze(g, test_gaze)  # (B, T', H', W')
        deterministic_gaze(g, "expectation")  # predict also returns q
        if model.config.attention == "min2021":
            model.attention_map(z)  # and the attention map
        z = z.to(x5.dtype)
    return model.classify(z, x5).float()  # (B, C)


def inference_predictor(shape: str, device: torch.device) -> Predictor:
    """The gaze-direct model of ``shape`` on the RGB stream only (what ``gazeattn predict`` runs), random init."""
    config = shape_config(shape, "gaze-direct")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, streams="rgb"))
    torch.manual_seed(0)
    model = build_model(model_config(config, num_classes=NUM_CLASSES)).to(device)
    return Predictor(model, clip=config.clip_config(), class_names=[f"class {i}" for i in range(NUM_CLASSES)])


def _time_calls(fn: Callable[[], Tensor], device: torch.device, warmup: int, repeat: int) -> tuple[float, float, Tensor]:
    """(seconds of the first call, median seconds of ``repeat`` calls after ``warmup`` more, last output)."""
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), out


def inference_bench(shapes: list[str], batches: list[int], *, modes: list[str], repeat: int | None, warmup: int,
                    device: torch.device, say: Callable[[str], None] = lambda _: None) -> list[dict]:
    rows = []
    for shape in shapes:
        n_rep = repeat or (3 if shape == "reference" else 5)
        predictor = inference_predictor(shape, device)
        base = predictor.model
        cl_model = copy.deepcopy(base).to(memory_format=torch.channels_last_3d)
        t, h, w = base.config.clip
        for b in batches:
            rgb = (torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(b)) * 2 - 1).to(device)
            rgb_cl = rgb.contiguous(memory_format=torch.channels_last_3d)
            reference_logits = None
            for mode in modes:
                row: dict[str, Any] = {"shape": shape, "batch": b, "mode": mode, "device": device.type}
                model, x = (cl_model, rgb_cl) if mode.startswith("channels_last") else (base, rgb)
                amp = torch.autocast(device.type, dtype=torch.bfloat16) if mode.endswith("bf16") else nullcontext()

                if mode == "compile":  # eager fp32 semantics, compiled by inductor for this batch size
                    torch._dynamo.reset()
                    forward = torch.compile(lambda inp: predict_forward(base, inp, predictor.test_gaze), dynamic=False)
                else:
                    forward = lambda inp, model=model: predict_forward(model, inp, predictor.test_gaze)  # noqa: E731

                def fn(forward=forward, x=x, amp=amp) -> Tensor:
                    with torch.inference_mode(), amp:
                        return forward(x)
                say(f"[inference {shape}] batch {b} {mode}")
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                try:
                    first, median, out = _time_calls(fn, device, warmup, n_rep)
                except Exception as err:  # noqa: BLE001 -- torch.compile may be unsupported here: report it
                    if mode != "compile":
                        raise
                    first_line = (str(err).strip().splitlines() or [""])[0][:300]
                    row.update(status=f"failed: {type(err).__name__}: {first_line}", latency_ms=None,
                               clips_per_s=None)
                    rows.append(row)
                    continue
                if reference_logits is None:
                    reference_logits = out  # eager fp32 runs first
                row.update(status="ok", latency_ms=1e3 * median, clips_per_s=b / median,
                           max_abs_diff=float((out.float() - reference_logits.float()).abs().max()))
                if mode == "compile":
                    row["compile_s"] = max(0.0, first - median)  # first call = compile + one run
                if device.type == "cuda":
                    row["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
                rows.append(row)
        if "compile" in modes:
            torch._dynamo.reset()
    return rows


# ----------------------------------------------------------------------------------------------------------------
# wiring


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    return torch.device(name)


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other processes compete for the cores)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run(*, shapes: list[str], variants: list[str], parts: list[str], batch: int | None = None,
        repeat: int | None = None, warmup: int = 1, infer_batches: list[int] = (1, 16),
        modes: list[str] = INFERENCE_MODES, data_steps: int = 30, quick: bool = False, device: str = "auto",
        say: Callable[[str], None] = lambda _: None) -> dict:
    dev = pick_device(device)
    result: dict[str, Any] = {
        "benchmark": "speed", "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "load_average_start": _load(), "quick": quick,
        "memory_method": MEMORY_METHOD_CUDA if dev.type == "cuda" else MEMORY_METHOD_CPU,
        "train_step": [], "direct_overhead_ratio": None, "copy_per_candidate_overhead_ratio": None,
        "data": None, "data_wait_fraction": None, "inference": [],
    }
    if "train" in parts:
        rows, ratios = train_bench(shapes, variants, batch=batch, repeat=repeat, warmup=warmup, device=dev, say=say)
        result["train_step"] = rows
        result["ratios_to_i3d"] = ratios
        for shape in ("reference", "cpu"):  # the reference shape's ratio when it ran
            if shape in ratios and "gaze-direct" in ratios[shape]:
                result["direct_overhead_ratio"] = ratios[shape]["gaze-direct"]
                result["copy_per_candidate_overhead_ratio"] = ratios[shape].get(COPY_BASELINE)
                result["overhead_ratio_shape"] = shape
                break
    if "data" in parts:
        result["data"] = data_bench(quick=quick, steps=data_steps, warmup=2 if quick else 3, device=dev, say=say)
        result["data_wait_fraction"] = result["data"]["wait_fraction"]
    if "inference" in parts:
        result["inference"] = inference_bench(shapes, list(infer_batches), modes=list(modes), repeat=repeat,
                                              warmup=warmup, device=dev, say=say)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result["load_average_end"] = _load()
    return result


def _fmt(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def format_markdown(result: dict) -> str:
    """README-ready markdown tables of a :func:`run` result."""
    out = [f"device: {result['device']} ({result['machine']}), torch {result['torch']}, {result['threads']} "
           f"thread(s), load average {result['load_average_start']} → {result.get('load_average_end')}", ""]
    if result["train_step"]:
        ratios = result.get("ratios_to_i3d", {})
        out += ["| model | shape | batch | step (s, median) | × i3d | peak MB | state MB |",
                "|---|---|---|---|---|---|---|"]
        for r in result["train_step"]:
            ratio = ratios.get(r["shape"], {}).get(r["model"])
            out.append(f"| {r['model']} | {r['shape']} | {r['batch']} | {r['seconds']:.3f} | {_fmt(ratio, '.3f')} | "
                       f"{r['peak_mb']:.0f} | {r['state_mb']:.0f} |")
        out += ["", f"direct_overhead_ratio (gaze-direct / i3d, {result.get('overhead_ratio_shape')} shape): "
                f"{_fmt(result['direct_overhead_ratio'], '.3f')}; copy-per-candidate / i3d: "
                f"{_fmt(result['copy_per_candidate_overhead_ratio'], '.3f')}",
                f"peak MB: {result['memory_method']}", ""]
    if result["data"]:
        d, loop = result["data"], result["data"]["loop"]
        out += ["| data pipeline (cpu preset clips, mp4) | clips/s |", "|---|---|",
                f"| bare PyAV decode (bound) | {d['bare_decode_clips_per_s']:.1f} |"]
        out += [f"| decode + sample + augment + targets, {p['workers']} workers | {p['clips_per_s']:.1f} |"
                for p in d["pipeline"]]
        out.append("")
        for lp in (loop, d.get("loop_no_prefetch")):
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
    if result["inference"]:
        out += ["| shape | batch | mode | latency (ms) | clips/s | compile (s) | max abs Δlogit | status |",
                "|---|---|---|---|---|---|---|---|"]
        for r in result["inference"]:
            out.append(f"| {r['shape']} | {r['batch']} | {r['mode']} | {_fmt(r['latency_ms'], '.1f')} | "
                       f"{_fmt(r['clips_per_s'], '.2f')} | {_fmt(r.get('compile_s'), '.1f')} | "
                       f"{_fmt(r.get('max_abs_diff'), '.2e')} | {r['status']} |")
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
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: cpu shape, batch 2, 1 repetition, gaze-direct and i3d, tiny data world")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m for m in args.modes if not (args.no_compile and m == "compile")]
    modes = ["eager"] + [m for m in modes if m != "eager"]  # eager fp32 is the reference for max_abs_diff
    kwargs: dict[str, Any] = dict(shapes=args.shape, variants=args.variants, parts=args.parts, batch=args.batch,
                                  repeat=args.repeat, warmup=args.warmup, infer_batches=args.infer_batch,
                                  modes=modes, data_steps=args.data_steps, device=args.device)
    if args.quick:
        kwargs.update(shapes=["cpu"], variants=["gaze-direct", "i3d"], batch=args.batch or 2, repeat=1, warmup=0,
                      infer_batches=[1, 2], modes=["eager", "bf16"], data_steps=3, quick=True)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not args.quick else (lambda _: None)
    result = run(say=say, **kwargs)
    print(json.dumps(result, indent=2) if args.json else format_markdown(result))
    return 0
