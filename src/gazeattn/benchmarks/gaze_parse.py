"""`gazeattn bench gaze`: SMI BeGaze parse throughput (MB/s, 1 MB = 10^6 bytes of gaze file).

Compares the vectorised parser (official and clean modes, file read included) with a plain per-line Python
parse of the same files: the loop a typical user writes (split each line, float() the coordinates, aggregate
per frame in a dict). Before timing, the baseline is checked to give exactly the official table, so both do the
same work. Each number is the best of --repeat runs over all files.

    gazeattn bench gaze [--repeat N] [--json] [--fixtures DIR] [FILES...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import gazeattn
from gazeattn.data.begaze import GAZE_RESOLUTION, parse_begaze


def default_fixtures() -> Path:
    """``<repo>/../shared/fixtures/egtea/gaze_data``, the repo being the one holding this package (src layout)."""
    repo = Path(gazeattn.__file__).resolve().parents[2]
    return repo.parent / "shared" / "fixtures" / "egtea" / "gaze_data"


def baseline_parse(path: str | Path) -> np.ndarray:
    """Per-line Python parse giving the official table: split, float(), running average per frame in a dict."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("Time")) + 1
    frames: dict[int, list] = {}
    for line in lines[first:]:
        tok = line.split()
        if len(tok) == 7:
            px, py, frame, event = float(tok[3]), float(tok[4]), int(tok[5]), tok[6]
        elif len(tok) == 26:
            hh, mm, ss, ff = (int(v) for v in tok[-2].split(":"))
            px, py, frame, event = float(tok[5]), float(tok[6]), (hh * 3600 + mm * 60 + ss) * 24 + ff, tok[-1]
        else:
            raise ValueError(f"{path}: unexpected line {line!r}")
        kind = 1 if event == "Fixation" else 2 if event == "Saccade" else 3
        x32, y32 = np.float32(px), np.float32(py)
        if frame in frames:  # the official reader's running pairwise average, in float32
            old = frames[frame]
            frames[frame] = [(old[0] + x32) / np.float32(2), (old[1] + y32) / np.float32(2), kind]
        else:
            frames[frame] = [x32, y32, kind]
    table = np.zeros((max(frames) + 1, 3), dtype=np.float32)
    w, h = GAZE_RESOLUTION
    for frame, (x, y, kind) in frames.items():
        x = np.float32(0) if np.isnan(x) else min(max(x, np.float32(0)), np.float32(w - 1))
        y = np.float32(0) if np.isnan(y) else min(max(y, np.float32(0)), np.float32(h - 1))
        table[frame] = (x / np.float32(w), y / np.float32(h), kind)
    return table


def _best(fn, files: list[Path], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for f in files:
            fn(f)
        best = min(best, time.perf_counter() - t0)
    return best


def run(files: list[Path], repeat: int) -> dict:
    total = sum(f.stat().st_size for f in files)
    for f in files:  # fairness: the baseline computes exactly the official table
        assert np.array_equal(baseline_parse(f), parse_begaze(f, compat="official")), f"baseline differs on {f}"
    methods = {
        "per-line python": baseline_parse,
        "official": lambda f: parse_begaze(f, compat="official"),
        "clean": lambda f: parse_begaze(f, compat="clean"),
    }
    results = {}
    for name, fn in methods.items():
        seconds = _best(fn, files, repeat)
        results[name] = {"seconds": seconds, "mb_per_s": total / 1e6 / seconds}
    base = results["per-line python"]["seconds"]
    for r in results.values():
        r["speedup"] = base / r["seconds"]
    return {
        "benchmark": "gaze_parse",
        "files": [str(f) for f in files],
        "bytes": total,
        "repeat": repeat,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "results": results,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn bench gaze", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, metavar="FILES", help="gaze files (default: the fixtures)")
    parser.add_argument("--fixtures", type=Path, default=None, help="folder of gaze files (*.txt) to use")
    parser.add_argument("--repeat", type=int, default=5, help="runs per method; the best is reported (default 5)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    files = list(args.files)
    if not files:
        folder = args.fixtures or default_fixtures()
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if not files:
            print(f"gazeattn bench gaze: no gaze files in {folder} (pass FILES or --fixtures DIR)", file=sys.stderr)
            return 2
    report = run(files, args.repeat)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"gaze parse: {len(files)} files, {report['bytes'] / 1e6:.2f} MB, best of {args.repeat}")
    print(f"{'method':<16} {'seconds':>9} {'MB/s':>8} {'speedup':>8}")
    for name, r in report["results"].items():
        print(f"{name:<16} {r['seconds']:>9.4f} {r['mb_per_s']:>8.1f} {r['speedup']:>7.1f}x")
    return 0
