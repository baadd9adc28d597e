"""The ``inference`` part of ``gazeattn bench speed``: latency and clips/s of ``gazeattn predict``'s forward at
several batch sizes, eager fp32, channels-last 3d, bf16 autocast, both, and ``torch.compile``; and its markdown
table."""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from contextlib import nullcontext
from typing import Any, Callable

import torch
from torch import Tensor

from gazeattn.benchmarks.speed.common import NUM_CLASSES, fmt, shape_config, sync
from gazeattn.inference import Predictor, forward_clips
from gazeattn.models import GazeAttentionModel, build_model
from gazeattn.train.variants import model_config

INFERENCE_MODES = ("eager", "channels_last", "bf16", "channels_last+bf16", "compile")


def predict_forward(model: GazeAttentionModel, rgb: Tensor, test_gaze: str = "argmax") -> Tensor:
    """The test-time forward that :meth:`gazeattn.inference.Predictor.predict` runs on one batch of windows
    (:func:`~gazeattn.inference.forward_clips`, RGB only): class logits (B, C)."""
    return forward_clips(model, rgb, None, test_gaze=test_gaze).logits  # (B, C)


def inference_predictor(shape: str, device: torch.device) -> Predictor:
    """The gaze-direct model of ``shape`` on the RGB stream only (what ``gazeattn predict`` runs), random init."""
    config = shape_config(shape, "gaze-direct")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, streams="rgb"))
    torch.manual_seed(0)
    model = build_model(model_config(config, num_classes=NUM_CLASSES)).to(device)
    return Predictor(model, clip=config.clip_config(), class_names=[f"class {i}" for i in range(NUM_CLASSES)])


def _time_calls(fn: Callable[[], Tensor], device: torch.device, warmup: int,
                repeat: int) -> tuple[float, float, Tensor]:
    """(seconds of the first call, median seconds of ``repeat`` calls after ``warmup`` more, last output)."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
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


def markdown(rows: list[dict]) -> list[str]:
    """The latency table of a result's ``inference`` rows."""
    out = ["| shape | batch | mode | latency (ms) | clips/s | compile (s) | max abs Δlogit | status |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['shape']} | {r['batch']} | {r['mode']} | {fmt(r['latency_ms'], '.1f')} | "
                   f"{fmt(r['clips_per_s'], '.2f')} | {fmt(r.get('compile_s'), '.1f')} | "
                   f"{fmt(r.get('max_abs_diff'), '.2e')} | {r['status']} |")
    return out
