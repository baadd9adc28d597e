"""`gazeattn prepare ROOT --out FRAMES_ROOT`: RGB frames and optical flow in the reference's frame folders, for
the clips of an EGTEA-layout dataset (every mp4 of ``cropped_clips/``) or of a generic one (every clip of its
``labels.csv``, a span of its video; folders named by clip id).

See :mod:`gazeattn.data.flow` for the layout, the flow encoding and resumability. Flow needs
``pip install opencv-contrib-python-headless``; ``--flow none`` extracts frames only.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from gazeattn.utils.atomic import prepare_output

from gazeattn.data.flow import (
    FLOW_METHODS,
    FlowUnavailable,
    PrepareConfig,
    clip_done,
    flow_function,
    list_jobs,
    prepare_clip,
)
from gazeattn.data.source import FORMATS, detect_format


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 340x256, got {text!r}") from None
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gazeattn prepare",
        description="Extract RGB frames (FRAMES_ROOT/images_rgb/<clip>/%04d.jpg) and optical flow "
                    "(FRAMES_ROOT/images_flow/<clip>/{u,v}/%04d.jpg, ±20 px ↦ 0..255) from "
                    "ROOT/cropped_clips (or the clips of a generic dataset's labels.csv). Resumable: finished clips "
                    "are skipped.")
    p.add_argument("root", type=Path, help="EGTEA Gaze+ folder holding cropped_clips/, or a generic dataset")
    p.add_argument("--format", choices=FORMATS, help="the dataset's layout (default: generic when ROOT holds "
                                                     "labels.csv, else egtea)")
    p.add_argument("--out", type=Path, required=True, help="FRAMES_ROOT")
    p.add_argument("--flow", choices=FLOW_METHODS, default="tvl1", help="flow method (default tvl1; none: frames only)")
    p.add_argument("--size", type=_size, default=(340, 256), metavar="WxH", help="frame size (default 340x256)")
    p.add_argument("--bound", type=float, default=20.0, help="flow clipping bound in pixels (default 20)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    config = PrepareConfig(size=args.size, flow=args.flow, bound=args.bound)
    if config.flow != "none":
        try:
            flow_function(config.flow)  # fail before any work when OpenCV is missing
        except FlowUnavailable as err:
            print(f"gazeattn prepare: error: {err}", file=sys.stderr)
            return 2
    prepare_output(args.out, folder=True)  # an unwritable FRAMES_ROOT fails before any work (one-line error)
    clips = list_jobs(args.root, format=args.format or detect_format(args.root))
    todo = [c for c in clips if not clip_done(args.out, c.name, config.flow != "none")]
    print(f"{len(clips)} clips, {len(clips) - len(todo)} already done, {len(todo)} to prepare into {args.out}")
    if args.workers <= 1:
        for video in tqdm(todo, desc="prepare", unit="clip"):
            prepare_clip(video, args.out, config)
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            futures = [pool.submit(prepare_clip, video, args.out, config) for video in todo]
            for fut in tqdm(as_completed(futures), total=len(futures), desc="prepare", unit="clip"):
                fut.result()
    return 0
