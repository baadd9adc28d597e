"""The ``train`` part of ``gazeattn bench speed``: one optimizer step of each model variant, as ``gazeattn train``
takes it, timed (median, variants interleaved) and its peak memory measured; and its markdown table."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from gazeattn.benchmarks.candidates import PeakTensorMemory, copy_losses
from gazeattn.benchmarks.speed.common import NUM_CLASSES, fmt, shape_config, sync
from gazeattn.models import GazeAttentionModel, build_model
from gazeattn.train.config import TrainConfig
from gazeattn.train.engine import step_generator
from gazeattn.train.objective import GazeObjective
from gazeattn.train.optim import build_optimizer
from gazeattn.train.precision import Precision, resolve as resolve_precision
from gazeattn.train.schedules import learning_rate
from gazeattn.train.variants import build_estimator, model_config

COPY_BASELINE = "copy-per-candidate"  # a gaze-direct step scoring candidates by copying x5
MEMORY_METHOD_CPU = ("peak live tensor storage bytes allocated during one step (TorchDispatchMode; parameters and "
                     "existing optimizer state excluded, allocator slack and BLAS scratch not counted)")
MEMORY_METHOD_CUDA = "torch.cuda.max_memory_allocated during one step minus the bytes allocated before it"


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


class TrainStep:
    """One variant's model, objective and optimizer, built as ``gazeattn train`` builds them, and its batch."""

    def __init__(self, shape: str, variant: str, *, batch: int | None, device: torch.device, copy_candidates=False,
                 seed: int = 0, diagnose_every: int = 1, precision: Precision | None = None):
        self.config = shape_config(shape, variant, batch)
        self.shape, self.device = shape, device
        self.name = COPY_BASELINE if copy_candidates else variant
        # the preset's run.amp and run.channels_last as training resolves them on this device, unless given
        self.precision = precision or resolve_precision(self.config.run.amp, self.config.run.channels_last, device)
        torch.manual_seed(seed)
        model = build_model(model_config(self.config, num_classes=NUM_CLASSES)).to(device).train()
        self.model = self.precision.prepare_model(model)
        self.scored = CopyPerCandidate(self.model) if copy_candidates else self.model
        self.objective = GazeObjective(variant, build_estimator(self.config), self.config.loss)
        o = self.config.optim
        self.optimizer = build_optimizer(self.model.parameters(), o)
        self.batch = {k: self.precision.prepare_input(v)  # clips in the step's memory format, as training does
                      for k, v in random_batch(self.config, num_classes=NUM_CLASSES, device=device, seed=seed).items()}
        self.steps = 0
        self.diagnose_every = diagnose_every  # the objective's diagnostics on every n-th step (the engine: log_every)

    def __call__(self) -> float:
        """One training step, as the engine's loop body; returns the loss."""
        step, config = self.steps, self.config
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        with self.precision.autocast(self.device):
            terms = self.objective(self.scored, self.batch, step, step_generator(config.run.seed, step, 0),
                                   diagnose=(step + 1) % self.diagnose_every == 0)
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
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            self()
            sync(self.device)
            return torch.cuda.max_memory_allocated(self.device) - before
        meter = PeakTensorMemory()
        with meter:
            self()
        return meter.peak

    def timed(self) -> float:
        sync(self.device)
        t0 = time.perf_counter()
        loss = self()  # float(loss) waits for the device
        sync(self.device)
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


def markdown(result: dict) -> list[str]:
    """The step-time table of a :func:`gazeattn.benchmarks.speed.run` result, the overhead ratios and the memory
    method."""
    ratios = result.get("ratios_to_i3d", {})
    out = ["| model | shape | batch | step (s, median) | × i3d | peak MB | state MB |",
           "|---|---|---|---|---|---|---|"]
    for r in result["train_step"]:
        ratio = ratios.get(r["shape"], {}).get(r["model"])
        out.append(f"| {r['model']} | {r['shape']} | {r['batch']} | {r['seconds']:.3f} | {fmt(ratio, '.3f')} | "
                   f"{r['peak_mb']:.0f} | {r['state_mb']:.0f} |")
    out += ["", f"direct_overhead_ratio (gaze-direct / i3d, {result.get('overhead_ratio_shape')} shape): "
            f"{fmt(result['direct_overhead_ratio'], '.3f')}; copy-per-candidate / i3d: "
            f"{fmt(result['copy_per_candidate_overhead_ratio'], '.3f')}",
            f"peak MB: {result['memory_method']}", ""]
    return out
