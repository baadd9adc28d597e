"""`gazeattn bench NAME`: benchmarks that report numbers (never pass/fail timings)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: dict[str, tuple[str, str]] = {
    "gaze": ("gazeattn.benchmarks.gaze_parse", "SMI gaze parse MB/s vs the official reader; peak memory, 2 MB-1 GB"),
    "data": ("gazeattn.benchmarks.data_pipeline", "clip decode+augment throughput vs bare PyAV decode"),
    "candidates": ("gazeattn.benchmarks.candidates", "candidate_losses vs copying x5 per candidate (time, memory)"),
    "estimators": ("gazeattn.benchmarks.estimators", "bias, variance and cost of the gradient estimators"),
    "speed": ("gazeattn.benchmarks.speed", "training step, data pipeline and inference: time and peak memory"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: gazeattn bench NAME [ARGS...]\n\nbenchmarks:")
        for name, (_, help_) in BENCHMARKS.items():
            print(f"  {name:<11} {help_}")
        return 0
    if argv[0] not in BENCHMARKS:
        print(f"gazeattn bench: unknown benchmark {argv[0]!r}; one of {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(BENCHMARKS[argv[0]][0]).main(argv[1:]))
