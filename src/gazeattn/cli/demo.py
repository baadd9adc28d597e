"""`gazeattn demo [--out DIR]`: the main job on its embedded default.

Until training lands (issue [4/5]) the demo exercises the data layer end to end: it writes a synthetic
EGTEA world, checks it as a user would check a download, streams one epoch of augmented training clips
through a DataLoader, and draws the measured gaze and its grid targets on sample frames (PNG) so the
alignment of gaze and pixels can be seen.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from gazeattn.data.check import check_dataset, format_report
from gazeattn.data.dataset import ClipConfig, EgteaClips, collate_clips
from gazeattn.data.layout import EgteaLayout
from gazeattn.viz import draw_cell, draw_cross, save_png, tile, to_uint8

# CPU demo shape: 24 frames, 80² crops of 96p frames, a backbone with strides (8, 16, 16) -> grid 3×5×5.
DEMO_CLIPS = ClipConfig(frames=24, crop=80, short_side=96, train_short_side=(96, 112), strides=(8, 16, 16))


def gaze_sheet(dataset: EgteaClips, indices: list[int]) -> np.ndarray:
    """One row per clip: the first frame of each temporal slot, measured gaze (red) and target cell (green)."""
    cfg = dataset.config
    panels = []
    for i in indices:
        item = dataset[i]
        rgb = item["rgb"].permute(1, 2, 3, 0).numpy()  # (C,T,H,W) -> (T,H,W,C)
        t_slots, gh, gw = item["gaze_target"].shape
        for t in range(t_slots):
            f = t * cfg.strides[0]
            img = to_uint8(rgb[f]).copy()
            if item["gaze_mask"][t]:
                draw_cell(img, int(item["gaze_cell"][t]), (gh, gw))
            if int(item["gaze_type"][f]) in (1, 2):
                draw_cross(img, tuple(item["gaze_xy"][f].tolist()))
            panels.append(np.kron(img, np.ones((2, 2, 1), np.uint8)))
    return tile(panels, columns=len(panels) // len(indices))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from gazeattn.data.synth import SynthConfig, write_synthetic_egtea

    out = Path(args.out)
    world = out / "world"
    t0 = time.perf_counter()
    if not (world / "action_annotation").is_dir():
        write_synthetic_egtea(world, SynthConfig(seed=args.seed))
    print(f"[1/3] synthetic EGTEA world at {world} ({time.perf_counter() - t0:.1f} s)")

    report = check_dataset(world, split=1)
    print("[2/3] gazeattn check\n" + format_report(report))

    layout = EgteaLayout(world)
    train = EgteaClips(layout, layout.read_split(1, "train"), DEMO_CLIPS, train=True, seed=args.seed)
    loader = DataLoader(train, batch_size=8, num_workers=args.workers, collate_fn=collate_clips)
    t0 = time.perf_counter()
    n = slots = valid = 0
    for batch in loader:
        n += len(batch["label"])
        slots += batch["gaze_mask"].numel()
        valid += int(batch["gaze_mask"].sum())
    seconds = time.perf_counter() - t0
    shape = tuple(batch["rgb"].shape[1:])
    print(f"[3/3] one training epoch: {n} clips of shape {shape} in {seconds:.1f} s "
          f"({n / seconds:.1f} clips/s, {args.workers} workers); {100 * valid / slots:.1f} % of gaze slots measured")
    sheet = save_png(out / "gaze_samples.png", gaze_sheet(train, list(range(min(6, len(train))))))
    summary = {"clips_per_s": n / seconds, "clips": n, "input_shape": shape, "valid_gaze_slots": valid / slots,
               "check": report.to_json()}
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {sheet} (red: measured gaze, green: its target cell) and {out / 'demo.json'}")
    return 0
