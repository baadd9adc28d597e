"""Benchmark: clips/s through decode + sampling + augmentation, against bare PyAV decode of the same clips.

Run: ``gazeattn bench data [--root ROOT] [--workers 0 2] [--json]``. Without ``--root`` a small synthetic
world is written to a temporary folder first. The bound ("bare") is PyAV decoding the same 24-frame windows
to RGB arrays with no seeking logic, resizing, cropping, gaze or tensors; the pipeline numbers include
everything a training step receives.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter
import torch
from torch.utils.data import DataLoader

from gazeattn.data.dataset import ClipConfig, EgteaClips, collate_clips
from gazeattn.data.source import open_dataset
from gazeattn.data.targets import GazeTargetConfig


def bare_decode(paths: list[Path], frames: int) -> float:
    """Seconds to decode the first ``frames`` frames of each file to RGB arrays with plain PyAV."""
    t0 = time.perf_counter()
    for path in paths:
        reformatter = VideoReformatter()  # reused scaler context, as the pipeline does
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                reformatter.reformat(frame, format="rgb24").to_ndarray()
                if i + 1 >= frames:
                    break
    return time.perf_counter() - t0


def pipeline(dataset: EgteaClips, workers: int, batch: int) -> float:
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=collate_clips,
                        persistent_workers=False)
    t0 = time.perf_counter()
    n = 0
    for b in loader:
        n += 0 if b is None else len(b["label"])
    elapsed = time.perf_counter() - t0
    assert n == len(dataset), f"pipeline delivered {n} of {len(dataset)} clips"
    return elapsed


def run(root: Path, *, crop: int, short_side: int, workers: list[int], batch: int, limit: int) -> dict:
    layout = open_dataset(root)
    entries = layout.read_split(1, "train")[:limit]
    config = ClipConfig(frames=24, crop=crop, short_side=short_side, train_short_side=(short_side, short_side + 16),
                        targets=GazeTargetConfig())
    dataset = EgteaClips(layout, entries, config, train=True)
    for src in dataset.sources[:2]:  # warm the page cache and the gaze-table cache
        dataset.session_gaze(src.media.session)
    paths = [s.video for s in dataset.sources]
    bare_decode(paths[:4], 24)
    bare = bare_decode(paths, 24)
    result = {"root": str(root), "clips": len(dataset), "crop": crop, "short_side": short_side,
              "torch_threads": torch.get_num_threads(), "bare_decode_clips_per_s": len(paths) / bare, "pipeline": []}
    for w in workers:
        seconds = pipeline(dataset, w, batch)
        result["pipeline"].append({"workers": w, "clips_per_s": len(dataset) / seconds})
    result["clips_per_s"] = max(p["clips_per_s"] for p in result["pipeline"])
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn bench data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="EGTEA-layout dataset (default: write a synthetic world to a temp folder)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=80)
    parser.add_argument("--short-side", type=int, default=96)
    parser.add_argument("--limit", type=int, default=64, help="clips to time (default 64)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else None
        if root is None:
            from gazeattn.synth import SynthConfig, write_synthetic_egtea

            root = Path(tmp) / "world"
            write_synthetic_egtea(root, SynthConfig(sessions=6, clips_per_session=14, seed=0))
        result = run(root, crop=args.crop, short_side=args.short_side, workers=args.workers,
                     batch=args.batch, limit=args.limit)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"data pipeline on {result['clips']} clips ({result['crop']}² crops of {result['short_side']}p frames)")
        print(f"  bare PyAV decode of the same 24-frame windows: {result['bare_decode_clips_per_s']:.1f} clips/s")
        for p in result["pipeline"]:
            print(f"  decode+sample+augment+gaze targets, {p['workers']} workers: {p['clips_per_s']:.1f} clips/s")
    return 0
