"""`gazeattn gaze`: tools for gaze files (SMI BeGaze of EGTEA Gaze+ by default; Project Aria MPS eye gaze,
Ego-Exo4D 2D gaze and Ego4D gaze with ``--format``).

    gazeattn gaze parse FILE [--compat official|clean] --out OUT.npy|OUT.csv
    gazeattn gaze parse FILE --format aria-mps --calibration device_calibration.json
                             (--frame-times rgb_frames.csv | --fps F [--frames N] [--start S]) [--upright | --raw]
                             --out OUT
    gazeattn gaze parse FILE --format egoexo4d [--fps 30] [--frames N] --out OUT
    gazeattn gaze parse FILE --format ego4d --fps F [--frames N] [--min-confidence C] [--glc-saccades] --out OUT

writes the per-frame table (float32 columns x, y, type; row = video frame; see gazeattn.data.begaze and
gazeattn.data.gaze_formats) and prints a one-line summary. Without ``--frames`` the table covers the frames up to
the last gaze sample. Outputs are written atomically (temporary file in the same folder, then os.replace);
an output that cannot be written is a one-line error naming it (exit 1), and leaves no file behind.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from gazeattn.data.begaze import COMPAT_MODES, TYPE_NAMES, read_begaze_table
from gazeattn.data.gaze_formats import FORMATS, aria_mps, ego4d, egoexo4d
from gazeattn.utils.atomic import atomic_output, prepare_output
from gazeattn.utils.errors import DataError, OutputError

_OUT_SUFFIXES = (".npy", ".csv")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gazeattn gaze", description="Tools for gaze files: SMI BeGaze (EGTEA "
                                     "Gaze+), Project Aria MPS eye gaze, Ego-Exo4D 2D gaze, Ego4D gaze.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parse = sub.add_parser(
        "parse",
        help="parse a gaze file into the per-frame table (x, y, type)",
        description="Parse a gaze file into a float32 table: one row per video frame (BeGaze: 24 fps session "
        "frame), columns x, y (normalised by the frame size) and type (0 untracked, 1 fixation, 2 saccade, "
        "3 other, 4 truncated: valid gaze outside the frame).",
    )
    parse.add_argument("file", type=Path, metavar="FILE", help="the gaze file")
    parse.add_argument("--format", choices=FORMATS, default="begaze",
                       help="the file's format (default: begaze, the SMI BeGaze export of EGTEA Gaze+)")
    parse.add_argument("--calibration", type=Path, metavar="JSON",
                       help="aria-mps: the device calibration JSON (required: gaze is put on pixels through it)")
    side = parse.add_mutually_exclusive_group()
    side.add_argument("--upright", dest="upright", action="store_true", default=True,
                      help="aria-mps: pixels of the RGB video rotated 90 degrees clockwise, as datasets publish it "
                      "(default)")
    side.add_argument("--raw", dest="upright", action="store_false", help="aria-mps: pixels of the raw sensor image")
    parse.add_argument("--frame-times", type=Path, metavar="CSV",
                       help="aria-mps: the video frames' capture_timestamp_ns (the gaze's clock), one row per frame")
    parse.add_argument("--fps", type=float, help="video frame rate (egoexo4d: 30 by default; ego4d: required)")
    parse.add_argument("--frames", type=int, metavar="N",
                       help="number of video frames (default: up to the last gaze sample)")
    parse.add_argument("--start", type=float, default=0.0, metavar="S",
                       help="aria-mps with --fps: time of frame 0 in the gaze file's clock, seconds (default 0)")
    parse.add_argument("--min-confidence", type=float, default=0.0, metavar="C",
                       help="ego4d: leave samples of lower confidence out (default 0: all, as GLC)")
    parse.add_argument("--glc-saccades", action="store_true",
                       help="ego4d: mark frames whose gaze moved over 40 px at 1088x1080 as saccades, as GLC does")
    parse.add_argument(
        "--compat",
        choices=COMPAT_MODES,
        default="clean",
        help="'official': bit-exact with the official EGTEA reader, quirks included; "
        "'clean' (default): per-frame mean of valid in-frame samples, NaN-free, truncated frames marked",
    )
    parse.add_argument("--out", type=Path, required=True, metavar="OUT", help="output path ending in .npy or .csv")
    return parser


def _write_atomic(out: Path, table: np.ndarray) -> None:
    """Write the table as .npy or .csv (by the suffix, any case) via a temporary file in the same folder."""
    with atomic_output(out) as tmp, open(tmp, "wb") as fh:
        if out.suffix.lower() == ".npy":
            # through memory: numpy's own file write (fwrite) turns a full disk into "N requested and M written",
            # a Python write says "No space left on device"
            buffer = io.BytesIO()
            np.save(buffer, table)
            fh.write(buffer.getbuffer())
        else:
            fh.write(b"frame,x,y,type\n")
            frames = np.arange(table.shape[0])
            rows = np.column_stack([frames, table.astype(np.float64)])  # float32 -> float64 is exact
            # %.9g round-trips float32 exactly
            np.savetxt(fh, rows, fmt=["%d", "%.9g", "%.9g", "%d"], delimiter=",")


def summary(path: str | Path, table: np.ndarray, version: int, compat: str) -> str:
    """One line: frames, share of each type, file version."""
    n = table.shape[0]
    counts = np.bincount(table[:, 2].astype(np.int64), minlength=len(TYPE_NAMES))
    shares = ", ".join(f"{name} {100.0 * c / max(n, 1):.1f}%" for name, c in zip(TYPE_NAMES, counts))
    begaze = {1: "BeGaze 3.1", 2: "BeGaze 3.4"}.get(version, "?")
    return f"{path}: {n} frames ({compat}): {shares}; v{version} ({begaze})"


def _frames_to_last_sample(last_s: float, fps: float, start_s: float = 0.0) -> int:
    return max(0, int(np.floor((last_s - start_s) * fps + 1e-9)) + 1)


def _other_table(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    """The table of a non-BeGaze file, and what to say about it in the summary."""
    name, n = args.format, args.frames
    if args.format != "aria-mps" and (args.calibration or args.frame_times):
        raise _Usage(f"--calibration and --frame-times are for --format aria-mps, not {name}")
    if name == "aria-mps":
        if args.calibration is None:
            raise _Usage("--format aria-mps needs --calibration device_calibration.json (no field of view is assumed)")
        if (args.frame_times is None) == (args.fps is None):
            raise _Usage("--format aria-mps needs --frame-times CSV or --fps (one of them)")
        if args.frame_times is not None:
            times = aria_mps.read_frame_times(args.frame_times)
            table = aria_mps.frame_table(args.file, calibration=args.calibration, frame_times_s=times,
                                         upright=args.upright)
        else:
            if n is None:
                n = _frames_to_last_sample(aria_mps.read_eye_gaze(args.file).time_s[-1], args.fps, args.start)
            table = aria_mps.frame_table(args.file, calibration=args.calibration, n_frames=n, fps=args.fps,
                                         start_s=args.start, upright=args.upright)
        return table, "upright" if args.upright else "raw"
    if name == "egoexo4d":
        fps = egoexo4d.VIDEO_FPS if args.fps is None else args.fps
        if n is None:
            n = _frames_to_last_sample((egoexo4d.read_gaze_2d(args.file)[0].size - 1) / egoexo4d.GAZE_HZ, fps)
        return egoexo4d.frame_table(args.file, n_frames=n, fps=fps), f"{fps:g} fps"
    if args.fps is None:
        raise _Usage("--format ego4d needs --fps (the video's frame rate)")
    if n is None:
        n = _frames_to_last_sample(ego4d.read_gaze(args.file)[0][-1], args.fps)
    table = ego4d.frame_table(args.file, n_frames=n, fps=args.fps, min_confidence=args.min_confidence,
                              glc_saccades=args.glc_saccades)
    return table, f"{args.fps:g} fps"


class _Usage(Exception):
    """A combination of options that does not work (exit 2, as argparse's own errors)."""


def _parse(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.suffix.lower() not in _OUT_SUFFIXES:
        print(f"gazeattn gaze parse: error: --out must end in .npy or .csv, got {str(out)!r}", file=sys.stderr)
        return 2
    if not out.parent.is_dir():  # parse writes into an existing folder only (a typo should not create folders)
        what = f"{out.parent} is not a folder" if out.parent.exists() else f"the folder {out.parent} does not exist"
        raise OutputError(out, f"cannot write: {what}")
    if args.frames is not None and args.frames < 0:
        print("gazeattn gaze parse: error: --frames must be >= 0", file=sys.stderr)
        return 2
    if args.fps is not None and not (np.isfinite(args.fps) and args.fps > 0):
        print("gazeattn gaze parse: error: --fps must be positive", file=sys.stderr)
        return 2
    prepare_output(out)  # a folder named OUT, a read-only folder: fail before parsing
    if args.format == "begaze":
        gaze = read_begaze_table(args.file, compat=args.compat)  # DataError: missing, a folder, malformed
        table = gaze.table
        _write_atomic(out, table)
        print(summary(args.file, table, gaze.version, args.compat))
        return 0
    try:
        table, how = _other_table(args)
    except _Usage as err:
        print(f"gazeattn gaze parse: error: {err}", file=sys.stderr)
        return 2
    _write_atomic(out, table)
    print(format_summary(args.file, table, args.format, how))
    return 0


def format_summary(path: str | Path, table: np.ndarray, name: str, how: str) -> str:
    """One line: frames, share of each type, the format."""
    n = table.shape[0]
    counts = np.bincount(table[:, 2].astype(np.int64), minlength=len(TYPE_NAMES))
    shares = ", ".join(f"{t} {100.0 * c / max(n, 1):.1f}%" for t, c in zip(TYPE_NAMES, counts))
    return f"{path}: {n} frames ({name}, {how}): {shares}"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "parse":
            return _parse(args)
    except DataError as err:
        print(f"gazeattn gaze {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # named as the errors are (the output is written atomically: nothing is left)
        print(f"\ngazeattn gaze {args.command}: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover
