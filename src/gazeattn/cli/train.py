"""`gazeattn train`: train a model variant on an EGTEA-layout dataset (torchrun-ready)."""

from __future__ import annotations

import argparse
import os
import sys

from gazeattn.data.dataset import BAD_CLIP_POLICIES
from gazeattn.cli import parsed_config
from gazeattn.utils.errors import DataError
from gazeattn.data.source import detect_format
from gazeattn.train.config import PRESETS, apply_overrides, load_toml, parse_set_flags, preset
from gazeattn.train.variants import VARIANTS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gazeattn train", description=
                                "Train a model variant. Overrides apply in this order: --preset, --config FILE.toml, "
                                "--set section.key=value, then the named flags. Multi-GPU / multi-node: "
                                "torchrun --nproc_per_node=N -m gazeattn train ...")
    p.add_argument("--data", help="dataset root (EGTEA layout)")
    p.add_argument("--split", type=int, help="split number (default 1)")
    p.add_argument("--split-dir", help="read {train,test}_splitN.txt from this folder (e.g. the reference's split)")
    p.add_argument("--frames-root", help="root of images_rgb/ and images_flow/ (default: --data)")
    p.add_argument("--variant", "--model", dest="variant", choices=VARIANTS,
                   help="model variant (run.variant, default gaze-direct); --model is the same flag")
    p.add_argument("--out", required=True, help="run folder (config, log.jsonl, checkpoints/)")
    p.add_argument("--preset", choices=PRESETS, default="cpu", help="cpu (default): tiny backbone, minutes on 2 cores; "
                   "reference: the WACV 2021 recipe")
    p.add_argument("--config", help="TOML file with [data] [clip] [targets] [model] [optim] [loss] [estimator] [run]")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override one value")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int, help="clips per process and step")
    p.add_argument("--workers", type=int, help="DataLoader workers per process (default: chosen with the torch "
                   "threads from the usable cores; 1 worker + 1 thread on 2 cores)")
    p.add_argument("--seed", type=int)
    p.add_argument("--on-bad-clip", choices=BAD_CLIP_POLICIES, help="unreadable clips: stop before training (error) "
                   "or leave them out and report them (skip)")
    p.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out")
    p.add_argument("--eval", action="store_true", help="evaluate at the end, on the clips of run.eval_on (the "
                   "validation clips when data.validation_fraction > 0, else the test split)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace):
    """The preset, then --config, then --set, then the flags; ``data.format``, when none of them sets it, is
    detected from the folder (generic when it holds labels.csv, as ``check`` and ``prepare`` do)."""
    config = preset(args.preset)
    given: list[dict] = []
    if args.config:
        given.append(load_toml(args.config))
        config = apply_overrides(config, given[-1], args.config)
    if args.set:
        given.append(parse_set_flags(args.set))
        config = apply_overrides(config, given[-1], "--set")
    flags = {"data": {k: v for k, v in (("root", args.data), ("split", args.split), ("split_dir", args.split_dir),
                                        ("frames_root", args.frames_root), ("workers", args.workers),
                                        ("on_bad_clip", args.on_bad_clip)) if v is not None},
             "run": {k: v for k, v in (("variant", args.variant), ("steps", args.steps), ("batch", args.batch),
                                       ("seed", args.seed)) if v is not None}}
    config = apply_overrides(config, {k: v for k, v in flags.items() if v}, "command line")
    if config.data.root and not any("format" in (g.get("data") or {}) for g in given):
        detected = detect_format(config.data.root)
        if detected != config.data.format:
            config = apply_overrides(config, {"data": {"format": detected}}, f"the layout of {config.data.root}")
    return config


def main(argv: list[str]) -> int:
    args, config = parsed_config("train", build_parser(), argv, config_from_args)
    if config is None:
        return 2
    from gazeattn.train.engine import NonFiniteLoss, train

    try:
        result = train(config, args.out, resume=args.resume, progress=not args.no_progress, evaluate_at_end=args.eval)
    except NonFiniteLoss as err:
        print(f"gazeattn train: stopped: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # one message, not one per torchrun process
            from gazeattn.runs.checkpoints import list_checkpoints

            saved = list_checkpoints(args.out)
            where = (f"the newest checkpoint is {saved[-1]}; add --resume to continue from it" if saved
                     else "no checkpoint had been written yet")
            print(f"\ngazeattn train: interrupted; {where}", file=sys.stderr)
        return 130
    except DataError:
        raise  # the dispatcher prints it (file and line) and returns 1
    except ValueError as err:
        print(f"gazeattn train: error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # rank 0 wrote the checkpoints and says so; the other ranks wrote none
        return 0
    print(f"trained {result.step} steps in {result.seconds:.1f} s; checkpoint {result.checkpoint}")
    for part, evaluation in (result.eval or {}).items():
        print(f"{part}: mean class accuracy {evaluation['mean_class_accuracy']:.2f} %, "
              f"overall accuracy {evaluation['overall_accuracy']:.2f} % on {evaluation['n_clips']} clips")
    return 0
