"""The machine's fp32 peak, to set a step's achieved FLOP/s beside: from the CPU's ISA flags, and measured.

``nominal``: usable cores × clock × fp32 FLOPs per cycle per core, read from ``/proc/cpuinfo`` (Linux): with
``avx512f`` 16 lanes × 2 (a fused multiply-add) = 32 FLOPs per cycle per FMA unit, with ``avx2`` and ``fma``
16, else 8 (SSE: 4 lanes × add + multiply), times ``FMA_UNITS`` = 2 units per core (assumed: server Xeons
since Skylake-SP Gold have two; a core with one has half this peak). The clock is ``cpu MHz`` as the kernel
reports it (the base clock on a VM; turbo is not counted). ``measured``: the FLOP/s of a 2048² fp32 matmul
(``torch.mm``, 2·n³ FLOPs) with the threads given, the best of a few: what the BLAS reaches on this machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

__all__ = ["nominal_peak", "measured_peak", "FMA_UNITS"]

FMA_UNITS = 2


def _cpuinfo(path: Path) -> tuple[set[str], float | None]:
    """The first CPU's flags and clock (MHz) in ``path``."""
    flags: set[str] = set()
    mhz = None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return flags, mhz
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "cpu MHz" and mhz is None:
            try:
                mhz = float(value)
            except ValueError:
                pass
    return flags, mhz


def flops_per_cycle(flags: set[str]) -> int:
    """fp32 FLOPs per cycle of one core with these ISA flags (``FMA_UNITS`` units; see the module docstring)."""
    if "avx512f" in flags:
        return 32 * FMA_UNITS
    if "avx2" in flags and "fma" in flags:
        return 16 * FMA_UNITS
    return 8


def nominal_peak(cores: int, cpuinfo: Path = Path("/proc/cpuinfo")) -> dict | None:
    """``{flops, cores, ghz, flops_per_cycle, isa, assumption}`` or None where /proc/cpuinfo gives no clock."""
    flags, mhz = _cpuinfo(cpuinfo)
    if mhz is None:
        return None
    per_cycle = flops_per_cycle(flags)
    isa = "avx512f" if "avx512f" in flags else ("avx2+fma" if {"avx2", "fma"} <= flags else "sse")
    return {"flops": cores * mhz * 1e6 * per_cycle, "cores": cores, "ghz": mhz / 1e3, "flops_per_cycle": per_cycle,
            "isa": isa, "assumption": f"{FMA_UNITS} FMA units per core, base clock, fp32"}


def measured_peak(threads: int, n: int = 2048, repeat: int = 3, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of an n×n matmul in ``dtype`` (fp32; bf16 runs on AMX or AVX512-BF16 where the CPU has them) on
    ``threads`` torch threads, the best of ``repeat``."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        return 2 * n**3 / best
    finally:
        torch.set_num_threads(before)
