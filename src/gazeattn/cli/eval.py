"""`gazeattn eval`: mean class and overall accuracy as the paper reports them, plus gaze quality."""

from __future__ import annotations

import argparse
import json
import sys

from gazeattn.cli.args import int_in
from gazeattn.data.dataset import BAD_CLIP_POLICIES
from gazeattn.utils.atomic import write_text_atomic
from gazeattn.inference import TEST_GAZE
from gazeattn.runs.lock import output_file_lock
from gazeattn.train.config import MAX_SEED


def _device(text: str) -> str:
    """An argparse type: a device this torch can use here (auto, cpu, cuda[:N], mps)."""
    from gazeattn.train.distributed import check_device

    try:
        return check_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gazeattn eval", description=
                                "Evaluate a checkpoint on the test split (or its validation clips): non-overlapping "
                                "24-frame windows, logits averaged per clip, confusion-matrix metrics; test-time "
                                "gaze is predicted "
                                "(deterministic argmax by default).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run folder (its newest good checkpoint)")
    src.add_argument("--checkpoint", help="checkpoint folder or its model.safetensors")
    p.add_argument("--data", help="dataset root (default: the one the run was trained on)")
    p.add_argument("--split", type=int, help="split number (default: the run's)")
    p.add_argument("--split-dir", help="read test_splitN.txt from this folder (with --split-part validation: "
                   "train_splitN.txt; default: the run's data.split_dir, or with --data that dataset's own files)")
    p.add_argument("--split-part", choices=("test", "validation"), default="test", help="the clips evaluated: the "
                   "test split (default), or the validation clips the run held out of its training split (recomputed "
                   "from its saved data.validation_* config: exactly the clips it never trained on)")
    p.add_argument("--test-gaze", choices=TEST_GAZE, help="the headline mode (default: the variant's own -- argmax, "
                   "expectation for gaze-gumbel, measured for gaze-oracle); sample is the reference's stochastic "
                   "protocol (use --seed), sample-mean averages --samples samples. Every mode and the ablations "
                   "(shuffled, uniform, measured) are reported beside it")
    p.add_argument("--samples", type=int_in(1), default=8, help="Gumbel-Max samples of the sample-mean mode (default 8)")
    p.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help=f"0..{MAX_SEED} (default 0)")
    p.add_argument("--batch", type=int_in(1), default=8, help="clips per batch, >= 1 (default 8)")
    p.add_argument("--workers", type=int_in(0), default=0, help="DataLoader workers, >= 0 (default 0)")
    p.add_argument("--on-bad-clip", choices=BAD_CLIP_POLICIES, default="error")
    p.add_argument("--device", type=_device, default="auto", help="auto (default: a CUDA GPU when there is one), "
                   "cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--full", action="store_true", help="with --json: include per-class accuracy and the confusion matrix")
    p.add_argument("--out", help="also write the full result JSON here")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not args.out:
        return _evaluate(args)
    # one writer per output file: a second `eval --out` on the same file is refused at once; an unwritable --out
    # fails here, before the evaluation (the lock file is created beside it)
    with output_file_lock(args.out):
        return _evaluate(args)


def _run_config(args: argparse.Namespace, config):
    """The run's config with the dataset, split and split folder this command reads: ``--data``, ``--split`` and
    ``--split-dir``. Without ``--split-dir`` the split files are the run's (its ``data.split_dir``, as training,
    its evaluations and the study read them), except with ``--data``: another dataset's own split files."""
    import dataclasses

    split_dir = args.split_dir or ("" if args.data else config.data.split_dir)
    data = dataclasses.replace(config.data, root=args.data or config.data.root, split=args.split or config.data.split,
                               split_dir=split_dir)
    return dataclasses.replace(config, data=data)


def _evaluate(args: argparse.Namespace) -> int:
    from gazeattn.runs.checkpoints import load_checkpoint, resolve_checkpoint
    from gazeattn.train.config import from_dict
    from gazeattn.train.evaluate import checkpoint_clips, evaluate_checkpoint

    ckpt = load_checkpoint(resolve_checkpoint(args.run or args.checkpoint), with_state=False)
    config = from_dict(ckpt.meta["config"])
    if not (args.data or config.data.root):
        print("gazeattn eval: error: no dataset: pass --data ROOT", file=sys.stderr)
        return 2
    try:
        config = _run_config(args, config)
        clips = checkpoint_clips(config, args.split_part, num_classes=ckpt.model.config.num_classes)
    except ValueError as err:
        print(f"gazeattn eval: error: {err}", file=sys.stderr)
        return 2
    result = evaluate_checkpoint(ckpt, config, part=args.split_part, clips=clips, test_gaze=args.test_gaze or "",
                                 seed=args.seed, batch=args.batch, workers=args.workers, device=args.device,
                                 on_bad_clip=args.on_bad_clip, samples=args.samples)
    result.update(checkpoint=str(ckpt.path), step=ckpt.meta.get("step"), variant=config.run.variant,
                  part=args.split_part)
    if args.out:
        from gazeattn.utils.provenance import provenance

        trained = ckpt.meta.get("provenance") or {}
        record = {**result, "provenance": provenance(), "trained_with": trained.get("fingerprint", "unknown")}
        write_text_atomic(args.out, json.dumps(record, indent=2) + "\n")
    if args.json:
        shown = result if args.full else {k: v for k, v in result.items() if k not in ("per_class", "confusion")}
        print(json.dumps(shown, indent=2))
    else:
        _print_summary(result, args.split_part)
    return 0


def _print_summary(result: dict, part: str) -> None:
    """The result in a few lines: headline accuracies, every test-time gaze, gaze quality, skipped clips."""
    print(f"{result['variant']} @ step {result['step']} ({result['checkpoint']}) on {result['n_clips']} {part} "
          f"clips, {result['n_windows']} windows, test gaze {result['test_gaze']}")
    print(f"  mean class accuracy {result['mean_class_accuracy']:.2f} %   overall accuracy "
          f"{result['overall_accuracy']:.2f} %")
    if len(result["by_test_gaze"]) > 1:
        print("  by test-time gaze (mean class / overall %): " + ", ".join(
            f"{mode} {acc['mean_class_accuracy']:.1f} / {acc['overall_accuracy']:.1f}"
            for mode, acc in result["by_test_gaze"].items()))
    if result.get("gaze"):
        print("  gaze: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                    for k, v in result["gaze"].items()))
    if result.get("gaze_truth"):
        print("  gaze against the truly attended cell (synthetic truth): " + ", ".join(
            f"{k} {'–' if v is None else (f'{v:.1f}' if isinstance(v, float) else v)}"
            for k, v in result["gaze_truth"].items()))
    if result["skipped"]:
        print(f"  skipped {len(result['skipped'])} unreadable clip(s): " + ", ".join(result["skipped"]))
