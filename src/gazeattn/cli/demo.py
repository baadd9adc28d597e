"""`gazeattn demo [--out DIR]`: the main job on its embedded default, on a laptop CPU.

1. writes a synthetic EGTEA world (``DIR/world``) in the exact EGTEA Gaze+ layout and checks it as a user
   checks a download;
2. trains ``gaze-direct`` (Min & Corso: Gumbel-Max gaze + direct optimization), ``gaze-gumbel`` (Li et al.:
   Gumbel-Softmax) and ``i3d`` (no gaze) with the CPU preset (``DIR/runs/<model>``; a rerun resumes or reuses);
3. evaluates all three on the test split (deterministic test-time gaze);
4. writes ``DIR/report.md`` with learning curves, the accuracy table and gaze overlays, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gazeattn.atomic import write_text_atomic
from gazeattn.data.check import check_dataset, format_report
from gazeattn.data.dataset import EgteaClips
from gazeattn.data.layout import EgteaLayout
from gazeattn.viz import draw_cell, draw_cross, save_png, tile, to_uint8

DEMO_MODELS = ("gaze-direct", "gaze-gumbel", "i3d")
DEMO_WORLD = {"sessions": 10, "clips_per_session": 16}


def gaze_sheet(dataset: EgteaClips, indices: list[int]) -> np.ndarray:
    """One row per clip: the first frame of each temporal slot, measured gaze (red) and target cell (green)."""
    cfg = dataset.config
    panels = []
    for i in indices:
        item = dataset[i]
        rgb = item["rgb"].permute(1, 2, 3, 0).numpy()  # (C,T,H,W) -> (T,H,W,C)
        t_slots, gh, gw = item["gaze_target"].shape
        for t in range(t_slots):
            f = t * cfg.strides[0]
            img = to_uint8(rgb[f]).copy()
            if item["gaze_mask"][t]:
                draw_cell(img, int(item["gaze_cell"][t]), (gh, gw))
            if int(item["gaze_type"][f]) in (1, 2):
                draw_cross(img, tuple(item["gaze_xy"][f].tolist()))
            panels.append(np.kron(img, np.ones((2, 2, 1), np.uint8)))
    return tile(panels, columns=len(panels) // len(indices))


def _completed(run: Path, steps: int) -> bool:
    latest = run / "checkpoints" / "latest"
    return latest.is_file() and latest.read_text().strip() == f"step_{steps:07d}"


def _read_log(run: Path) -> list[dict]:
    path = run / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gazeattn demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the world and of the training runs")
    parser.add_argument("--steps", type=int, default=None, help="training steps per model (default: the CPU preset's)")
    parser.add_argument("--models", nargs="+", default=list(DEMO_MODELS), help=f"variants (default {' '.join(DEMO_MODELS)})")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--sessions", type=int, default=DEMO_WORLD["sessions"])
    parser.add_argument("--clips-per-session", type=int, default=DEMO_WORLD["clips_per_session"])
    args = parser.parse_args(argv)

    from gazeattn.data.synth import SynthConfig, write_synthetic_egtea
    from gazeattn.predict import load_predictor, write_overlay
    from gazeattn.report import format_table, write_report
    from gazeattn.train.config import apply_overrides, preset
    from gazeattn.train.engine import train
    from gazeattn.train.evaluate import evaluate
    from gazeattn.train.checkpoint import load_latest

    t_demo = time.perf_counter()
    out = Path(args.out)
    world = out / "world"
    synth = SynthConfig(sessions=args.sessions, clips_per_session=args.clips_per_session, seed=args.seed)
    truth = world / "synth_truth.json"
    if truth.is_file() and json.loads(truth.read_text()).get("config") == json.loads(json.dumps(synth.__dict__)):
        print(f"[1/4] reusing the synthetic EGTEA world at {world}")
    else:
        t0 = time.perf_counter()
        write_synthetic_egtea(world, synth, force=world.exists())
        print(f"[1/4] wrote a synthetic EGTEA world to {world} ({time.perf_counter() - t0:.1f} s)")
    report = check_dataset(world, split=1)
    print(format_report(report))

    results: dict[str, dict] = {}
    logs: dict[str, list[dict]] = {}
    overlays: dict[str, Path] = {}
    configs: dict[str, dict] = {}
    for k, model in enumerate(args.models, start=1):
        run = out / "runs" / model
        overrides = {"data": {"root": str(world), "workers": args.workers}, "run": {"model": model, "seed": args.seed}}
        if args.steps:
            overrides["run"]["steps"] = args.steps
        config = apply_overrides(preset("cpu"), overrides, "demo")
        configs[model] = config.to_dict()
        t0 = time.perf_counter()
        if _completed(run, config.run.steps):
            print(f"[2/4] {model}: reusing the finished run in {run}")
        else:
            print(f"[2/4] training {model} ({k}/{len(args.models)}), {config.run.steps} steps -> {run}")
            train(config, run, resume=(run / "checkpoints").is_dir(), progress=True)
        wall = time.perf_counter() - t0
        loaded = load_latest(run, with_state=False)
        layout = EgteaLayout(world)
        result = evaluate(loaded.model, layout, layout.read_split(1, "test"), config.clip_config(), variant=model,
                          test_gaze="argmax", seed=args.seed, batch=16, workers=0,
                          class_names=loaded.meta.get("class_names"))
        # training time as the run logged it (so a reused run still reports what its training took)
        logs[model] = _read_log(run)
        result["train_seconds"] = sum(r.get("seconds", 0.0) for r in logs[model] if r.get("kind") == "train") or wall
        write_text_atomic(run / "eval.json", json.dumps(result, indent=2) + "\n")
        results[model] = result
        print(f"[3/4] {model}: mean class accuracy {result['mean_class_accuracy']:.2f} %, "
              f"overall {result['overall_accuracy']:.2f} % on {result['n_clips']} test clips")
        if loaded.model.config.has_gaze_head and loaded.model.config.attention != "none":
            entry = layout.read_split(1, "test")[0]
            predictor = load_predictor(loaded.path)
            prediction = predictor.predict(layout.resolve(entry.clip).video, top=5)
            overlays[f"{model} on {entry.clip.name}"] = write_overlay(prediction, out / "overlays" / f"{model}.png")

    layout = EgteaLayout(world)
    data_view = EgteaClips(layout, layout.read_split(1, "train")[:6], preset("cpu").clip_config(), train=True)
    overlays["measured gaze (red) and its target cells (green), training clips"] = save_png(
        out / "overlays" / "measured_gaze.png", gaze_sheet(data_view, list(range(len(data_view)))))
    command = ["gazeattn", "demo", "--out", str(out), "--seed", str(args.seed)] + (
        ["--steps", str(args.steps)] if args.steps else [])
    path = write_report(out, results, logs, overlays,
                        {"command": command, "world": f"{args.sessions} sessions x {args.clips_per_session} clips, "
                         f"seed {args.seed}", "machine": _machine(), "config": configs[args.models[0]]},
                        curve_metrics=("loss", "ce", "kl", "acc"))
    print("\n" + format_table(results))
    print(f"\n[4/4] report: {path} (total {time.perf_counter() - t_demo:.0f} s)")
    return 0


def _machine() -> str:
    import os
    import platform

    import torch

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
