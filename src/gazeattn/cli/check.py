"""`gazeattn check ROOT [--split N] [--json]`: the first command to run on a download."""

from __future__ import annotations

import argparse
import json

from gazeattn.data.check import check_dataset, format_report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn check", description=
                                     "Summarise what an EGTEA-layout dataset has and lacks: split clips without an mp4 "
                                     "or frame folder, sessions without a gaze file, clips with no fixation, label "
                                     "ranges and clip lengths.")
    parser.add_argument("root", help="dataset root (cropped_clips/, gaze_data/, action_annotation/)")
    parser.add_argument("--split", type=int, default=1, help="split number (default 1)")
    parser.add_argument("--split-dir", help="read {train,test}_splitN.txt from this folder instead "
                                            "(e.g. the WACV 2021 reference's modified split)")
    parser.add_argument("--frames-root", help="root of images_rgb/ and images_flow/ (default: ROOT)")
    parser.add_argument("--window", type=int, default=24, help="model window in frames (default 24)")
    parser.add_argument("--probe-videos", action="store_true", help="decode every mp4 to find corrupt or truncated files")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything is missing or broken")
    args = parser.parse_args(argv)
    report = check_dataset(args.root, split=args.split, window=args.window, split_dir=args.split_dir,
                           probe_videos=args.probe_videos, frames_root=args.frames_root)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report, window=args.window))
    return 1 if (args.strict and not report.ok) else 0
