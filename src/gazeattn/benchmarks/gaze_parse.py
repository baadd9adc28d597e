"""`gazeattn bench gaze`: SMI BeGaze parse throughput (MB/s, 1 MB = 10^6 bytes of gaze file) and peak memory.

1. Real files (by default the real EGTEA gaze files in tests/data/egtea): the vectorised parser (official and
   clean modes, file read included) against the official EGTEA reader's method, a plain per-line Python parse of the same files (split
   each line, float() the coordinates, running average per frame in a dict). Before timing, that baseline is
   checked to give exactly the official table, so both do the same work. Each number is the best of --repeat
   runs, or of as many as fit in 1 s; wall-clock and CPU seconds are both reported (CPU time is steadier on a
   shared machine).
2. Generated files of --sizes MB (a real file's samples repeated, the frame counter restarting each time, as a
   long export glued together would), written to a temporary folder and deleted after. Each parse runs in a
   fresh Python process, which reports its time (wall and CPU), its peak resident memory (ru_maxrss: the
   interpreter and imports included; its resident size before the parse is reported too) and the peak of the
   parse's own allocations (tracemalloc, in a second parse), so the peaks of different files never mix.

    gazeattn bench gaze [--repeat N] [--sizes MB,...] [--source FILE] [--tmp DIR] [--json] [--fixtures DIR] [FILES...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import gazeattn
from gazeattn.data.begaze import GAZE_RESOLUTION, parse_begaze


def default_fixtures() -> Path:
    """The real EGTEA gaze files the repository carries for its tests (``<repo>/tests/data/egtea/gaze_data``), or
    ``<repo>/../shared/fixtures/egtea/gaze_data`` where a checkout has that instead (src layout)."""
    repo = Path(gazeattn.__file__).resolve().parents[2]
    inside = repo / "tests" / "data" / "egtea" / "gaze_data"
    return inside if inside.is_dir() else repo.parent / "shared" / "fixtures" / "egtea" / "gaze_data"


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


def _best(fn, files: list[Path], repeat: int, min_seconds: float = 1.0) -> tuple[float, float]:
    """Best wall and best CPU seconds over at least ``repeat`` runs, and as many more as fit in ``min_seconds``:
    a fast method gets as many chances as a slow one to run while the machine is quiet."""
    best_wall = best_cpu = float("inf")
    start, runs = time.perf_counter(), 0
    while runs < repeat or time.perf_counter() - start < min_seconds:
        t0, c0 = time.perf_counter(), time.process_time()
        for f in files:
            fn(f)
        best_wall, best_cpu = min(best_wall, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        runs += 1
    return best_wall, best_cpu


def run(files: list[Path], repeat: int) -> dict:
    """Part 1: MB/s of each method on ``files`` (best of ``repeat``), speed-ups over the per-line baseline."""
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
        seconds, cpu = _best(fn, files, repeat)
        results[name] = {"seconds": seconds, "mb_per_s": total / 1e6 / seconds, "cpu_seconds": cpu}
    base = results["per-line python"]
    for r in results.values():
        r["speedup"] = base["seconds"] / r["seconds"]
        r["speedup_cpu"] = base["cpu_seconds"] / r["cpu_seconds"]
    return {
        "benchmark": "gaze_parse",
        "files": [str(f) for f in files],
        "bytes": total,
        "repeat": repeat,
        "machine": machine(),
        "results": results,
    }


def machine() -> dict:
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = None
    return {"python": platform.python_version(), "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load_1min": load}


# ------------------------------------------------------------------------------------------ generated files


def generate(source: Path, out: Path, size: int) -> int:
    """Write ``source``'s header once, then its sample lines repeated until ``out`` holds >= ``size`` bytes (whole
    repetitions, at least one); returns the bytes written."""
    data = source.read_bytes()
    start = data.find(b"\nTime")
    if start < 0:
        raise ValueError(f"{source}: no 'Time' column-header line")
    end = data.index(b"\n", start + 1) + 1
    header, body = data[:end], data[end:]
    if not body.endswith(b"\n"):
        body += b"\r\n"
    times = max(1, -(-(size - len(header)) // len(body)))
    with open(out, "wb") as fh:
        fh.write(header)
        for _ in range(times):
            fh.write(body)
    return len(header) + times * len(body)


# Run in a fresh interpreter per parse, so that its ru_maxrss (kB on Linux) is this one parse's peak: the
# interpreter, numpy and gazeattn (rss_before_kb, resident before the parse) plus what the parse adds. The parse
# is then run again under tracemalloc for the bytes it allocates itself (numpy arrays included).
_CHILD = """
import json, logging, resource, sys, time, tracemalloc
logging.disable(logging.WARNING)  # the restarting frame counter of a generated file warns; not what is timed
from gazeattn.data.begaze import read_begaze_table
def rss_kb():
    with open("/proc/self/status") as fh:
        return next((int(l.split()[1]) for l in fh if l.startswith("VmRSS:")), 0)
before = rss_kb() if sys.platform.startswith("linux") else 0
t0, c0 = time.perf_counter(), time.process_time()
info = read_begaze_table(sys.argv[1], compat=sys.argv[2])
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
read_begaze_table(sys.argv[1], compat=sys.argv[2])
allocated = tracemalloc.get_traced_memory()[1]
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_kb": peak, "rss_before_kb": before,
                  "parse_alloc_peak_bytes": allocated, "frames": int(info.table.shape[0]),
                  "samples": info.n_samples}))
"""


def measure_in_child(path: Path, compat: str) -> dict:
    env = dict(os.environ)
    src = str(Path(gazeattn.__file__).resolve().parents[1])  # the package being benchmarked, installed or not
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), compat], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"parsing {path} ({compat}) failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout)


def run_generated(source: Path, sizes_mb: list[float], repeat: int, tmp: Path | None = None) -> dict:
    """Part 2: per generated size and compat mode, the best MB/s and the peak RSS (of the fastest run)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="gazeattn-bench-gaze-", dir=tmp) as folder:
        for mb in sizes_mb:
            path = Path(folder) / f"generated_{mb:g}MB.txt"
            size = generate(source, path, int(mb * 1e6))
            runs = repeat if size <= 20e6 else 1
            for compat in ("official", "clean"):
                best = min((measure_in_child(path, compat) for _ in range(runs)), key=lambda r: r["seconds"])
                rows.append({"size_mb": mb, "bytes": size, "compat": compat, "runs": runs,
                             "mb_per_s": size / 1e6 / best["seconds"], "mb_per_cpu_s": size / 1e6 / best["cpu_seconds"],
                             **best})
            path.unlink()
    return {"source": str(source), "rows": rows}


def _sizes(text: str) -> list[float]:
    try:
        sizes = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes in MB separated by commas, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn bench gaze", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, metavar="FILES", help="gaze files (default: the fixtures)")
    parser.add_argument("--fixtures", type=Path, default=None, help="folder of gaze files (*.txt) to use")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per method at least (more while under 1 s in all); the best is reported (default 5)")
    parser.add_argument("--sizes", type=_sizes, default=[2.0, 200.0], metavar="MB,...",
                        help="generated file sizes in MB, one fresh process per parse (default 2,200; add 1000 for "
                             "the 1 GB case, about a minute more; an empty string skips this part)")
    parser.add_argument("--source", type=Path, default=None,
                        help="the real file whose samples are repeated (default: OP01-R02-TurkeySandwich.txt when "
                             "it is among the files, else the first file)")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the generated files (default: the "
                                                               "system's temporary folder)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of the tables")
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
    if args.sizes:
        source = args.source or next((f for f in files if f.name.startswith("OP01-R02")), files[0])
        report["generated"] = run_generated(source, args.sizes, args.repeat, args.tmp)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    print(f"gaze parse: {len(files)} real files, {report['bytes'] / 1e6:.2f} MB, best of >= {args.repeat} runs "
          f"(and >= 1 s) per method "
          f"(python {m['python']}, numpy {m['numpy']}, {m['cores']} cores, load average "
          f"{'?' if m['load_1min'] is None else round(m['load_1min'], 1)})")
    print(f"{'method':<36} {'seconds':>8} {'MB/s':>7} {'speed-up':>9} {'CPU s':>8} {'speed-up':>9}")
    labels = {"per-line python": "official reader's method (per-line)", "official": "ours, compat=official",
              "clean": "ours, compat=clean"}
    for name, r in report["results"].items():
        print(f"{labels[name]:<36} {r['seconds']:>8.4f} {r['mb_per_s']:>7.1f} {r['speedup']:>8.1f}x "
              f"{r['cpu_seconds']:>8.4f} {r['speedup_cpu']:>8.1f}x")
    if "generated" in report:
        gen = report["generated"]
        print(f"\ngenerated files ({Path(gen['source']).name}'s samples repeated), one fresh process per parse:")
        print(f"{'size':>9} {'compat':<9} {'seconds':>8} {'MB/s':>7} {'(CPU)':>7} {'peak RSS':>10} "
              f"{'RSS before':>11} {'parse allocs':>13}")
        for r in gen["rows"]:
            print(f"{r['bytes'] / 1e6:>6.1f} MB {r['compat']:<9} {r['seconds']:>8.3f} {r['mb_per_s']:>7.1f} "
                  f"{r['mb_per_cpu_s']:>7.1f} {r['peak_rss_kb'] / 1e3:>7.1f} MB {r['rss_before_kb'] / 1e3:>8.1f} MB "
                  f"{r['parse_alloc_peak_bytes'] / 1e6:>10.1f} MB")
    return 0
