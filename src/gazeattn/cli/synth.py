"""`gazeattn synth OUT`: write a synthetic dataset in the exact EGTEA Gaze+ layout (see gazeattn.data.synth)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gazeattn.data.synth import SynthConfig, write_synthetic_egtea


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 128x96, got {text!r}") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even and >= 16 (H.264 yuv420p), got {text!r}")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    d = SynthConfig()
    p = argparse.ArgumentParser(
        prog="gazeattn synth",
        description="Write a synthetic world in the EGTEA Gaze+ layout: H.264 clips, SMI BeGaze gaze files "
                    "(v1 for OP* sessions, v2 for P* sessions), label indices and split 1, and synth_truth.json "
                    "with the true object positions. Same seed, same files.")
    p.add_argument("out", type=Path, help="output folder (must be missing or empty unless --force)")
    p.add_argument("--sessions", type=int, default=d.sessions, help=f"recording sessions (default {d.sessions})")
    p.add_argument("--clips-per-session", type=int, default=d.clips_per_session,
                   help=f"clips per session (default {d.clips_per_session})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--size", type=_size, default=(d.width, d.height), metavar="WxH",
                   help=f"clip size in pixels, even (default {d.width}x{d.height})")
    p.add_argument("--min-frames", type=int, default=d.min_frames, help=f"shortest clip (default {d.min_frames})")
    p.add_argument("--max-frames", type=int, default=d.max_frames, help=f"longest clip (default {d.max_frames})")
    p.add_argument("--no-gaze-fraction", type=float, default=d.no_gaze_clip_fraction,
                   help=f"share of clips whose frames get no gaze sample (default {d.no_gaze_clip_fraction})")
    p.add_argument("--frames", action="store_true",
                   help="also write the reference's frame folders images_rgb/<clip>/%%04d.jpg")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder, replacing only files the generator writes")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = SynthConfig(sessions=args.sessions, clips_per_session=args.clips_per_session, seed=args.seed,
                             width=args.size[0], height=args.size[1], min_frames=args.min_frames,
                             max_frames=args.max_frames, frames=args.frames,
                             no_gaze_clip_fraction=args.no_gaze_fraction)
    except ValueError as err:
        print(f"gazeattn synth: error: {err}", file=sys.stderr)
        return 2
    print(f"config: {config}")
    start = time.perf_counter()
    try:
        s = write_synthetic_egtea(args.out, config, force=args.force)
    except FileExistsError as err:
        print(f"gazeattn synth: error: {err}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"wrote {s.root} in {seconds:.1f} s: {s.n_sessions} sessions, {s.n_clips} clips "
          f"({s.n_train} train / {s.n_test} test), {s.n_actions} actions, {s.n_verbs} verbs, {s.n_nouns} nouns, "
          f"{s.n_gaze_samples} gaze samples, {s.n_no_gaze_clips} clips without gaze")
    print(f"  clips       {s.clips_dir}")
    print(f"  gaze        {s.gaze_dir}")
    print(f"  annotations {s.annotation_dir}")
    if s.frames_dir is not None:
        print(f"  frames      {s.frames_dir}")
    print(f"  truth       {s.truth_path}")
    return 0
