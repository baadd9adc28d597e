"""The `gazeattn` command: a thin dispatcher to subcommand modules, each exposing `main(argv) -> int`."""

from __future__ import annotations

import importlib
import io
import os
import sys

from gazeattn.utils.errors import DataError, os_reason

# name -> (module holding main(argv) -> int, one-line help). Imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gazeattn.cli.demo", "the main job: synthetic world, data checks, a training epoch of clips, gaze pictures"),
    "train": ("gazeattn.cli.train", "train a model variant (gaze-direct, gaze-gumbel, ..., i3d); torchrun-ready"),
    "eval": ("gazeattn.cli.eval", "mean class / overall accuracy and gaze quality of a checkpoint"),
    "synth": ("gazeattn.cli.synth", "write a synthetic dataset in the exact EGTEA Gaze+ layout (or the generic one)"),
    "check": ("gazeattn.cli.check", "summarise what a dataset (EGTEA or generic layout) has and lacks"),
    "gaze": ("gazeattn.cli.gaze", "gaze file tools (parse SMI BeGaze exports)"),
    "bench": ("gazeattn.cli.bench", "benchmarks that report numbers (gaze parsing, data pipeline, estimators)"),
    "weights": ("gazeattn.cli.weights", "model weights: convert Kinetics I3D, import reference checkpoints, inspect"),
    "prepare": ("gazeattn.cli.prepare", "extract RGB frames and optical flow (TV-L1) into the reference's frame folders"),
    "predict": ("gazeattn.cli.predict", "top-k actions and a gaze/attention overlay for a video"),
    "study": ("gazeattn.cli.study", "run a grid of worlds × variants × seeds (resumable): means, 95 % CIs, paired tests"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: gazeattn COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `gazeattn COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command: its exit code. Whatever happens, the user sees one line, never a traceback: bad input and
    unwritable outputs are ``gazeattn CMD: error: ...`` (1), Ctrl-C is ``gazeattn CMD: interrupted`` (130), and a
    reader that stops early (``gazeattn ... | head -1``) ends the command quietly with 141 = 128 + SIGPIPE, the
    status of a coreutils tool killed by SIGPIPE there.
    Printing never fails on the terminal's encoding."""
    _never_fail_on_encoding()
    try:
        try:
            return _dispatch(list(sys.argv[1:] if argv is None else argv))
        finally:  # argparse's --help and usage errors too: a closed pipe shows here, not at interpreter exit
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return 141


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from gazeattn import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"gazeattn: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest))
    except KeyboardInterrupt:  # the commands with more to say (train, study, synth) catch it themselves
        print(f"\ngazeattn {name}: interrupted", file=sys.stderr)
        return 130
    except DataError as err:
        print(f"gazeattn {name}: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # stdout's reader has gone: main ends quietly
    except OSError as err:  # last resort: an OS failure no write site converted still gets one line, no traceback
        print(f"gazeattn {name}: error: {_os_error_line(err)}", file=sys.stderr)
        return 1


def _never_fail_on_encoding() -> None:
    """Printing a name the terminal's encoding cannot spell (``PYTHONIOENCODING=ascii``, a non-ASCII path) shows it
    escaped (``\\xe9``) instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again on the closed pipe."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _os_error_line(err: OSError) -> str:
    """``PATH: reason`` (``SRC -> DST: reason`` for a rename) from an OSError, or its text when it names no file."""
    names = [os.fsdecode(f) if isinstance(f, (bytes, os.PathLike)) else str(f)
             for f in (err.filename, err.filename2) if f is not None]
    reason = os_reason(err)
    return f"{' -> '.join(names)}: {reason}" if names else reason


def parsed_config(command: str, parser, argv: list[str], make_config):
    """``(args, config)`` of a command whose flags decide a config (``make_config(args)``, ValueError when it is
    invalid); ``(args, None)`` after printing ``gazeattn COMMAND: error: ...`` for an invalid one (exit status 2)."""
    args = parser.parse_args(argv)
    try:
        return args, make_config(args)
    except ValueError as err:
        print(f"gazeattn {command}: error: {err}", file=sys.stderr)
        return args, None


def run() -> None:
    sys.exit(main())
