"""`gazeattn predict VIDEO --checkpoint CKPT`: top-k actions and a gaze/attention overlay for one video.

    gazeattn predict clip.mp4 --checkpoint runs/rgb/checkpoints/step_0001000 --top 5 --overlay clip_gaze.gif

Runs the test protocol (non-overlapping windows from frame 0, centre crop, logits averaged over windows) with
deterministic test-time gaze (``--test-gaze argmax``, the default, or ``expectation``). RGB-only models only:
two-stream and flow models need optical-flow frames (``gazeattn prepare``), which a bare video has not.
``--overlay`` writes the gaze distribution and the attention map over the centre crops, with the predicted
actions and a legend (:mod:`gazeattn.report.overlays`), as an animated ``.gif``, an ``.mp4``, or a ``.png``
contact sheet. ``--json`` prints
``{"video", "top": [{"label", "name", "probability"}], "windows", ...}`` instead of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from gazeattn.cli.args import int_in
from gazeattn.utils.atomic import prepare_output
from gazeattn.inference import DETERMINISTIC, Prediction, load_predictor
from gazeattn.report.overlays import OVERLAY_SUFFIXES, write_overlay


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gazeattn predict",
                                description="Top-k actions and a gaze/attention overlay for a video (RGB-only models).")
    p.add_argument("video", type=Path, help="a video file (mp4 or anything FFmpeg reads)")
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="model.safetensors, a checkpoint folder (model.safetensors + meta.json) or a run folder")
    p.add_argument("--top", type=int_in(1), default=5, help="how many classes to list, >= 1 (default 5)")
    p.add_argument("--overlay", type=Path, help=f"write gaze/attention pictures here ({', '.join(OVERLAY_SUFFIXES)})")
    p.add_argument("--test-gaze", choices=DETERMINISTIC, default="argmax",
                   help="test-time gaze: one-hot argmax per slot (default) or the expectation q")
    p.add_argument("--batch-size", type=int_in(1), default=4, help="windows per forward pass, >= 1 (default 4)")
    p.add_argument("--json", action="store_true", help="print the prediction as JSON")
    return p


def format_prediction(pred: Prediction) -> str:
    """The human-readable summary: windows used, then the ranked classes."""
    n = len(pred.starts)
    used = n * pred.window_frames
    tail = ""
    if pred.n_frames > used:
        tail = f", last {pred.n_frames - used} frame(s) not in a full window"
    elif pred.n_frames < used:
        tail = f", padded from {pred.n_frames} by repeating the last frame"
    gaze = f", test gaze {pred.test_gaze}" if pred.gaze is not None else ", no gaze head"
    if pred.gaze is not None and pred.attention is None:
        gaze += ", no attention map (attention 'none': the classifier does not use the gaze)"
    lines = [f"{pred.video}: {n} window(s) of {pred.window_frames} frames ({pred.n_frames} frames{tail}){gaze}", ""]
    width = max(len("action"), *(len(r.name) for r in pred.top))
    lines.append(f"{'rank':>4}  {'label':>5}  {'action':<{width}}  probability")
    for i, r in enumerate(pred.top, 1):
        lines.append(f"{i:>4}  {r.label:>5}  {r.name:<{width}}  {r.probability:11.4f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.overlay is not None and args.overlay.suffix.lower() not in OVERLAY_SUFFIXES:
        print(f"gazeattn predict: error: --overlay must end in one of {', '.join(OVERLAY_SUFFIXES)}", file=sys.stderr)
        return 2
    # Check the video before loading the model: a typo should fail fast (the dispatcher prints DataErrors).
    if not args.video.is_file():
        from gazeattn.utils.errors import DataError

        raise DataError(args.video, "video not found" if not args.video.exists() else "not a file")
    if args.overlay is not None:  # an unwritable overlay fails now, not after the model has run
        prepare_output(args.overlay)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor = load_predictor(args.checkpoint, test_gaze=args.test_gaze, batch_size=args.batch_size)
    for w in caught:
        print(f"gazeattn predict: warning: {w.message}", file=sys.stderr)

    pred = predictor.predict(args.video, top=args.top, keep_frames=args.overlay is not None)
    overlay = None
    if args.overlay is not None:
        if pred.gaze is None:
            print("gazeattn predict: warning: the model has no gaze head (attention='none'); no overlay written",
                  file=sys.stderr)
        else:
            cfg = predictor.model.config
            overlay = write_overlay(pred, args.overlay, title=f"{args.video.name}: {cfg.backbone} model, attention "
                                                              f"{cfg.attention}")

    if args.json:
        out = pred.to_json()
        out["overlay"] = None if overlay is None else str(overlay)
        print(json.dumps(out, indent=2))
    else:
        cfg, clip = predictor.model.config, predictor.clip
        print(f"model: {predictor.source} ({cfg.backbone}, {cfg.streams}, attention {cfg.attention}); input "
              f"{clip.frames}x{clip.crop}x{clip.crop} centre crops, short side {clip.short_side}")
        print(format_prediction(pred))
        if overlay is not None:
            note = " (gaze only: the attention panel says NO ATTENTION)" if pred.attention is None else ""
            print(f"\noverlay: {overlay}{note}")
    return 0
