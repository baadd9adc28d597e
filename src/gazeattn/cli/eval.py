"""`gazeattn eval`: mean class and overall accuracy as the paper reports them, plus gaze quality."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
                   "train_splitN.txt; default: the run's data.split_dir)")
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


def _entries(args: argparse.Namespace, layout, config, split: int) -> list:
    """The clips to evaluate: the test split (``--split-dir``'s file, else the layout's own), or the run's validation
    clips, recomputed from its saved config over its training split (``--split-dir``, else its data.split_dir)."""
    import dataclasses

    from gazeattn.train.splits import validation_entries

    if args.split_part == "validation":
        data = dataclasses.replace(config.data, split=split, split_dir=args.split_dir or config.data.split_dir)
        return validation_entries(layout, data)
    split_path = Path(args.split_dir) / f"test_split{split}.txt" if args.split_dir else None
    return layout.read_split(split, "test", split_path)


def _evaluate(args: argparse.Namespace) -> int:
    from gazeattn.data.layout import EgteaLayout
    from gazeattn.runs.checkpoints import load_checkpoint, resolve_checkpoint
    from gazeattn.train.config import from_dict
    from gazeattn.train.distributed import pick_device
    from gazeattn.train.evaluate import evaluate

    ckpt = load_checkpoint(resolve_checkpoint(args.run or args.checkpoint), with_state=False)
    config = from_dict(ckpt.meta["config"])
    root = args.data or config.data.root
    if not root:
        print("gazeattn eval: error: no dataset: pass --data ROOT", file=sys.stderr)
        return 2
    split = args.split or config.data.split
    layout = EgteaLayout(root, config.data.frames_root or None)
    try:
        entries = _entries(args, layout, config, split)
    except ValueError as err:
        print(f"gazeattn eval: error: {err}", file=sys.stderr)
        return 2
    if ckpt.model.config.num_classes <= max(e.action for e in entries):
        print(f"gazeattn eval: error: the {args.split_part} clips have labels up to "
              f"{max(e.action for e in entries) + 1} but the model has {ckpt.model.config.num_classes} classes",
              file=sys.stderr)
        return 2
    device = pick_device(args.device)
    model = ckpt.model.to(device)
    clip = config.clip_config()
    result = evaluate(model, layout, entries, clip, variant=config.run.model,
                      test_gaze=args.test_gaze or config.estimator.test_gaze, seed=args.seed, batch=args.batch,
                      workers=args.workers, device=device, on_bad_clip=args.on_bad_clip,
                      class_names=ckpt.meta.get("class_names"), samples=args.samples)
    result["checkpoint"] = str(ckpt.path)
    result["step"] = ckpt.meta.get("step")
    result["variant"] = config.run.model
    result["part"] = args.split_part
    if args.out:
        from gazeattn.utils.provenance import provenance

        trained = ckpt.meta.get("provenance") or {}
        record = {**result, "provenance": provenance(), "trained_with": trained.get("fingerprint", "unknown")}
        write_text_atomic(args.out, json.dumps(record, indent=2) + "\n")
    if args.json:
        shown = result if args.full else {k: v for k, v in result.items() if k not in ("per_class", "confusion")}
        print(json.dumps(shown, indent=2))
    else:
        print(f"{config.run.model} @ step {result['step']} ({ckpt.path}) on {result['n_clips']} {args.split_part} "
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
    return 0
