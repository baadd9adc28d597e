"""Benchmark: scoring the direct-optimization candidates with ``model.candidate_losses`` against copying x5
once per candidate (what the reference implementation does).

Run: ``gazeattn bench candidates [--batch 1 8] [--repeats 5] [--threads N] [--json]``.

Setting: the Min & Corso attention + classifier head (eval mode: dropout off) on x5 of shape
(B, 1024, 3, 7, 7), 106 classes, and the 3·49 = 147 coordinate-wise candidates of each clip (one-hot maps
(B, 147, 3, 7, 7)), under ``torch.no_grad()``.

* ``batched``: ``model.candidate_losses(z, x5, labels)`` -- x5 flattened once (a view), the attention weights of
  all candidates (B, M, 147) multiplied with x5ᵀ (B, 147, 1024) in one matmul, then the classifier.
* ``copy``: x5 repeated for every candidate (B·M, 1024, 3, 7, 7) and one ``classify`` call on the whole
  stack -- the reference's way.

Time: median wall time of ``--repeats`` calls after one warm-up. Memory: peak bytes of the tensors the call
allocates (inputs excluded), measured exactly with a ``TorchDispatchMode`` that sees every op's outputs and
tracks which storages are still alive (a storage counts from its first output until the last tensor using
it is freed). This counts tensor data only, not allocator slack, the Python heap or BLAS scratch space;
tracemalloc cannot be used because torch's CPU allocator bypasses Python's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import weakref

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from gazeattn.models import GazeAttentionModel, ModelConfig

GRID = (3, 7, 7)
CHANNELS = 1024
CLASSES = 106


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes of live tensor storages created by ops run inside the mode (inputs made outside not counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage data_ptr -> [nbytes, live tensors using it]
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        flat_in = tree_flatten((args, kwargs or {}))[0]
        inputs = {t.untyped_storage().data_ptr() for t in flat_in if isinstance(t, Tensor)}
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key == 0 or (key in inputs and key not in self.live):
                continue  # an in-place op or a view of an input made outside the mode
            if key not in self.live:
                self.live[key] = [storage.nbytes(), 0]
                self.current += storage.nbytes()
                self.peak = max(self.peak, self.current)
            self.live[key][1] += 1
            weakref.finalize(t, self._release, key)
        return out


def coordinate_candidates(z_star: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """(B, T') flat cells → (B, T'·K, T', H', W') one-hot maps: z* with one slot moved to each cell."""
    b, t_slots = z_star.shape
    k = grid[1] * grid[2]
    base = F.one_hot(z_star, k).float()  # (B, T', K)
    cands = base.unsqueeze(1).repeat(1, t_slots * k, 1, 1)  # (B, T'·K, T', K)
    m = torch.arange(t_slots * k)
    cands[:, m, m // k, :] = 0
    cands[:, m, m // k, m % k] = 1
    return cands.view(b, t_slots * k, *grid)


def copy_losses(model: GazeAttentionModel, z: Tensor, x5: Tensor, labels: Tensor) -> Tensor:
    """The reference's way: x5 copied per candidate, the head run on the (B·M) stack without dropout (as
    candidates are scored). (B, M) losses."""
    b, m = z.shape[:2]
    x5_rep = x5.unsqueeze(1).expand(b, m, *x5.shape[1:]).reshape(b * m, *x5.shape[1:])  # (B·M, C5, T', H', W')
    head = model.attention
    logits = head.fc_f(head.pooled(z.reshape(b * m, *z.shape[2:]), x5_rep)).flatten(1)  # (B·M, C), no dropout
    return F.cross_entropy(logits, labels.repeat_interleave(m), reduction="none").view(b, m)


def _measure(fn, repeats: int) -> tuple[float, int, Tensor]:
    with torch.no_grad():
        out = fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        mode = PeakTensorMemory()
        with mode:
            fn()
    return statistics.median(times), mode.peak, out


def run(batches: list[int], repeats: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    cfg = ModelConfig(backbone="tiny", num_classes=CLASSES, tiny_widths=(4, 4, 4, 8, CHANNELS), head_channels=(4, 4),
                      attention="min2021")  # only the attention head is used; a tiny backbone keeps setup fast
    model = GazeAttentionModel(cfg).eval()
    rows = []
    for b in batches:
        x5 = torch.randn(b, CHANNELS, *GRID)
        labels = torch.randint(0, CLASSES, (b,))
        z = coordinate_candidates(torch.randint(0, GRID[1] * GRID[2], (b, GRID[0])), GRID)  # (B, 147, 3, 7, 7)
        t_fast, m_fast, l_fast = _measure(lambda: model.candidate_losses(z, x5, labels), repeats)
        t_copy, m_copy, l_copy = _measure(lambda: copy_losses(model, z, x5, labels), repeats)
        rows.append({
            "batch": b, "candidates": z.shape[1],
            "batched_ms": 1e3 * t_fast, "copy_ms": 1e3 * t_copy, "speedup": t_copy / t_fast,
            "batched_peak_mb": m_fast / 2**20, "copy_peak_mb": m_copy / 2**20, "memory_ratio": m_copy / max(m_fast, 1),
            "max_abs_loss_diff": float((l_fast - l_copy).abs().max()),
        })
    return {"benchmark": "candidates", "x5": [CHANNELS, *GRID], "classes": CLASSES, "threads": torch.get_num_threads(),
            "memory_method": "peak live tensor storage bytes via TorchDispatchMode (inputs excluded)", "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gazeattn bench candidates", description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per setting (median; default 5)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.batch, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"candidate scoring, x5 (B, {CHANNELS}, {GRID[0]}, {GRID[1]}, {GRID[2]}), {CLASSES} classes, "
          f"{result['threads']} thread(s); memory = {result['memory_method']}")
    print(f"{'B':>3} {'M':>4} {'batched ms':>11} {'copy ms':>9} {'speedup':>8} {'batched MB':>11} {'copy MB':>9} "
          f"{'mem ratio':>9} {'max |Δloss|':>12}")
    for r in result["rows"]:
        print(f"{r['batch']:>3} {r['candidates']:>4} {r['batched_ms']:>11.2f} {r['copy_ms']:>9.2f} "
              f"{r['speedup']:>8.1f} "
              f"{r['batched_peak_mb']:>11.2f} {r['copy_peak_mb']:>9.2f} {r['memory_ratio']:>9.1f} "
              f"{r['max_abs_loss_diff']:>12.2e}")
    return 0
