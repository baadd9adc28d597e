"""`gazeattn gaze`: tools for SMI BeGaze gaze exports of EGTEA Gaze+.

    gazeattn gaze parse FILE [--compat official|clean] --out OUT.npy|OUT.csv

writes the per-frame table (float32 columns x, y, type; row = session frame; see gazeattn.data.begaze) and
prints a one-line summary. Outputs are written atomically (temporary file in the same folder, then os.replace);
an output that cannot be written is a one-line error naming it (exit 1), and leaves no file behind.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from gazeattn.data.begaze import COMPAT_MODES, TYPE_NAMES, read_begaze_table
from gazeattn.utils.atomic import atomic_output, prepare_output
from gazeattn.utils.errors import DataError, OutputError

_OUT_SUFFIXES = (".npy", ".csv")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gazeattn gaze", description="Tools for SMI BeGaze gaze files (EGTEA Gaze+).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parse = sub.add_parser(
        "parse",
        help="parse a gaze file into the per-frame table (x, y, type)",
        description="Parse an SMI BeGaze export into a float32 table: one row per 24 fps session frame, "
        "columns x, y (normalised by 1280x960) and type (0 untracked, 1 fixation, 2 saccade, 3 other, "
        "4 truncated: clean mode only).",
    )
    parse.add_argument("file", type=Path, metavar="FILE", help="the gaze file (<session>.txt)")
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


def _parse(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.suffix.lower() not in _OUT_SUFFIXES:
        print(f"gazeattn gaze parse: error: --out must end in .npy or .csv, got {str(out)!r}", file=sys.stderr)
        return 2
    if not out.parent.is_dir():  # parse writes into an existing folder only (a typo should not create folders)
        what = f"{out.parent} is not a folder" if out.parent.exists() else f"the folder {out.parent} does not exist"
        raise OutputError(out, f"cannot write: {what}")
    prepare_output(out)  # a folder named OUT, a read-only folder: fail before parsing
    gaze = read_begaze_table(args.file, compat=args.compat)  # DataError: missing, a folder, malformed
    table = gaze.table
    _write_atomic(out, table)
    print(summary(args.file, table, gaze.version, args.compat))
    return 0


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
