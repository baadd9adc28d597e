"""`gazeattn check ROOT [--split N] [--format F] [--json] [--strict]`: the first command to run on a download.

Exit status: 1 when the report holds something that stops `gazeattn train` (a bad index, labels or split file, an
unreadable gaze file, split clips without their video or frames or that cannot be read), with one line on stderr
saying so; with ``--strict`` also for recordings without a gaze file; else 0."""

from __future__ import annotations

import argparse
import json
import sys

from gazeattn.data.inventory import DatasetReport, check_dataset, format_report
from gazeattn.data.source import FORMATS, detect_format


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn check", description=
                                     "Summarise what a dataset has and lacks: split clips without a video "
                                     "or frame folder, recordings without a gaze file, each recording's gaze coverage "
                                     "(frames with gaze, fixations), clips with no fixation, label ranges and clip "
                                     "lengths.")
    parser.add_argument("root", help="dataset root: EGTEA (cropped_clips/, gaze_data/, action_annotation/) or generic "
                                     "(videos/, gaze/, labels.csv, splits/; docs/data-generic.md)")
    parser.add_argument("--format", choices=FORMATS, help="the dataset's layout (default: generic when ROOT holds "
                                                          "labels.csv, else egtea)")
    parser.add_argument("--split", type=int, default=1, help="split number (default 1)")
    parser.add_argument("--split-dir", help="read {train,test}_splitN.txt from this folder instead "
                                            "(e.g. the WACV 2021 reference's modified split)")
    parser.add_argument("--frames-root", help="root of images_rgb/ and images_flow/ (default: ROOT)")
    parser.add_argument("--window", type=int, default=24, help="model window in frames (default 24)")
    parser.add_argument("--probe-videos", action="store_true",
                        help="decode every video to find corrupt or truncated files")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 on anything missing, sessions without a gaze "
                        "file included (by default those pass: training masks their frames out of the gaze loss)")
    args = parser.parse_args(argv)
    fmt = args.format or detect_format(args.root)
    report = check_dataset(args.root, split=args.split, window=args.window, split_dir=args.split_dir,
                           probe_videos=args.probe_videos, frames_root=args.frames_root, format=fmt)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report, window=args.window))
    if _stops_training(report):
        print(f"gazeattn check: {args.root}: problems found that stop training (see the report)", file=sys.stderr)
        return 1
    if args.strict and not report.ok:
        print(f"gazeattn check: {args.root}: problems found (see the report)", file=sys.stderr)
        return 1
    return 0


def _stops_training(report: DatasetReport) -> bool:
    """What `gazeattn train` refuses (with --on-bad-clip error): bad index or split files, unreadable gaze files,
    split clips without their video or frames, or unreadable ones. Sessions without gaze do not stop it."""
    return bool(report.errors or report.gaze_errors
                or any(s.n_missing_media or s.unreadable for s in report.subsets.values()))
