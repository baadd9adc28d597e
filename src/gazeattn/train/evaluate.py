"""Evaluation exactly as the paper reports it, with deterministic test-time gaze by default.

Every non-overlapping 24-frame window of each test clip (centre crop) is classified; a clip's logits are the
mean over its windows; mean class accuracy (mean per-class recall) and overall accuracy come from the
confusion matrix. Test-time gaze is predicted, never measured (except for gaze-oracle); see
:mod:`gazeattn.inference` for the modes. The primary mode (``test_gaze``, by default the variant's: argmax for
the hard-sample variants, expectation for gaze-gumbel, measured for gaze-oracle) gives the headline numbers;
the backbone runs once per window and every other mode is classified from the same features, so each result
also holds ``by_test_gaze``: argmax, expectation, sample-mean, and the ablations ``shuffled`` (z of another
clip), ``uniform`` and ``measured`` -- which tell whether the decision uses where the model looks.

Gaze quality is measured on slots with a measured fixation inside the crop (see :mod:`gazeattn.metrics.gaze`).
On a synthetic world (its root holds ``synth_truth.json``, :mod:`gazeattn.data.truth`), ``gaze_truth`` also
scores the predicted and the measured gaze cells against the truly attended one (the acted-on object during the
action), so a model that corrects wrong measured gaze is seen to; elsewhere it is None. Only evaluation reads
the truth, never training.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from gazeattn.data.begaze import FIXATION
from gazeattn.data.dataset import ClipConfig, EgteaClips, collate_clips
from gazeattn.data.source import ClipCatalog, open_dataset
from gazeattn.data.transforms import CropFlip
from gazeattn.data.truth import read_truth
from gazeattn.inference import classify_with_gaze, forward_clips
from gazeattn.inference.test_gaze import (DEFAULT_SAMPLES, EVALUATED, WITHOUT_GAZE_HEAD, ShuffledGaze,
                                          measured_gaze_map)
from gazeattn.metrics.actions import action_report, aggregate_windows
from gazeattn.metrics.gaze import gaze_report, gaze_truth_report
from gazeattn.runs.checkpoints import LoadedCheckpoint
from gazeattn.train.distributed import DistInfo, all_gather_objects, pick_device
from gazeattn.train.parallelism import parallelism_of
from gazeattn.train.prefetch import Prefetcher
from gazeattn.train.splits import validation_entries
from gazeattn.train.variants import default_test_gaze


def test_gaze_modes(model, variant: str, test_gaze: str = "") -> list[str]:
    """The modes an evaluation computes, the primary first (``["none"]`` for a model without attention)."""
    if not model.config.attends:
        return ["none"]
    primary = test_gaze or default_test_gaze(variant)
    extras = EVALUATED if model.gaze_head is not None else WITHOUT_GAZE_HEAD
    if model.gaze_head is None and primary not in ("measured", "uniform"):
        raise ValueError(f"test gaze {primary!r} needs a gaze head; this model takes z from outside (measured)")
    return [primary] + [m for m in extras if m != primary]


def slot_fixations(gaze_xy: torch.Tensor, gaze_type: torch.Tensor, t_stride: int) -> np.ndarray:
    """(B, T', 2) mean normalised crop position of each slot's in-crop fixations; NaN where none."""
    xy, types = gaze_xy.numpy(), gaze_type.numpy()
    b, t = types.shape
    slots = math.ceil(t / t_stride)
    out = np.full((b, slots, 2), np.nan)
    ok = (types == FIXATION) & (xy[..., 0] >= 0) & (xy[..., 0] < 1) & (xy[..., 1] >= 0) & (xy[..., 1] < 1)
    for s in range(slots):
        sl = slice(s * t_stride, (s + 1) * t_stride)
        for i in range(b):
            m = ok[i, sl]
            if m.any():
                out[i, s] = xy[i, sl][m].mean(0)
    return out


def truth_cells_of(layout, ds: EgteaClips, clip: ClipConfig) -> Callable[[dict], torch.Tensor] | None:
    """batch → (B, T') truly attended cell of each slot (−1: none), or None when ``layout``'s root holds no
    synthetic truth (:mod:`gazeattn.data.truth`)."""
    root = getattr(layout, "root", None)
    truth = read_truth(root) if root is not None else None
    if truth is None:
        return None

    def cells(b: dict) -> torch.Tensor:
        out = []
        for c, start, crop in zip(b["clip_index"].tolist(), b["start"].tolist(), b["crop"].tolist()):
            known = truth.get(ds.entries[c].clip.name)
            plan = CropFlip(*crop[:6], flip=bool(crop[6]))
            out.append(known.slot_cells(start, clip.frames, plan, clip.strides) if known is not None
                       else np.full(b["gaze_cell"].shape[1], -1, np.int64))
        return torch.from_numpy(np.stack(out))
    return cells


@torch.no_grad()
def _window_rows(model, batches, clip: ClipConfig, *, modes: list[str], seed: int, samples: int,
                 device: torch.device, truth_cells: Callable[[dict], torch.Tensor] | None = None) -> dict[str, Any]:
    """Per-window class logits of every mode (and gaze logits, measured gaze, truth cells) of every batch, on the
    CPU."""
    use_gaze = model.gaze_head is not None
    rows: dict[str, Any] = {"clip": [], "gaze_logits": [], "gaze_cell": [], "fix_xy": [], "truth_cell": [],
                            "logits": {m: [] for m in modes}, "shuffle_fallbacks": 0}
    shuffled = ShuffledGaze(seed)
    for b in batches:
        if b is None:
            continue
        rgb = b["rgb"].to(device) if model.config.streams != "flow" else None
        flow = b["flow"].to(device) if "flow" in b else None
        seeds = [int(seed * 1_000_003 + c * 1009 + w) for c, w in zip(b["clip_index"], b["window"])]
        measured = measured_gaze_map(b).to(device)
        out = forward_clips(model, rgb, flow, test_gaze=modes[0] if modes[0] != "none" else "argmax",
                            seeds=seeds, measured=measured, samples=samples)
        rows["logits"][modes[0]].append(out.logits.cpu())
        for mode in modes[1:]:
            z = None
            if mode == "shuffled":
                z, fallbacks = shuffled(out.z, b["clip_index"].to(out.z.device))
                rows["shuffle_fallbacks"] += fallbacks
            logits, _ = classify_with_gaze(model, out.x5, out.gaze_logits, mode, seeds=seeds, measured=measured,
                                           samples=samples, z=z)
            rows["logits"][mode].append(logits.cpu())
        rows["gaze_cell"].append(b["gaze_cell"])
        if truth_cells is not None:
            rows["truth_cell"].append(truth_cells(b))
        if use_gaze:
            rows["gaze_logits"].append(out.gaze_logits.cpu())
            rows["fix_xy"].append(torch.from_numpy(slot_fixations(b["gaze_xy"], b["gaze_type"], clip.strides[0])))
        rows["clip"].append(b["clip_index"])
    return rows


def _accuracies(targets: torch.Tensor, clip_ids, logits: torch.Tensor, num_classes: int,
                class_names: list[str] | None) -> dict[str, Any]:
    _, clip_logits = aggregate_windows(clip_ids, logits)
    return json.loads(action_report(targets, clip_logits, num_classes, class_names=class_names).to_json())


@torch.no_grad()
def evaluate(model, layout: ClipCatalog, entries, clip: ClipConfig, *, variant: str, test_gaze: str = "",
             seed: int = 0, batch: int = 8, workers: int = 0, prefetch: int = 2,
             device: torch.device = torch.device("cpu"),
             dist: DistInfo = DistInfo(), on_bad_clip: str = "error", class_names: list[str] | None = None,
             progress: bool = False, samples: int = DEFAULT_SAMPLES) -> dict[str, Any]:
    """Evaluate on ``entries``; returns the JSON-able result (percentages), identical on every rank.

    ``test_gaze`` "" is the variant's default. The headline numbers are the primary mode's; ``by_test_gaze``
    maps every mode computed (:func:`test_gaze_modes`) to its mean class and overall accuracy.
    With ``workers`` > 0, a thread receives their batches ``prefetch`` ahead (:mod:`gazeattn.train.prefetch`).
    ``result["skipped"]`` names the clips left out, or skipped while being read (``on_bad_clip="skip"``), on
    any rank and in any DataLoader worker (workers append to a temporary JSON-lines log)."""
    model.eval()
    modes = test_gaze_modes(model, variant, test_gaze)
    with tempfile.TemporaryDirectory(prefix="gazeattn-eval-") as tmp:
        ds = EgteaClips(layout, entries, clip, train=False, on_bad_clip=on_bad_clip,
                        skip_log=Path(tmp) / "skipped.jsonl")
        shard = Subset(ds, list(range(dist.rank, len(ds), dist.world)))
        loader = DataLoader(shard, batch_size=batch, num_workers=workers, collate_fn=collate_clips)
        with Prefetcher(loader, depth=prefetch if workers else 0) as prefetched:
            batches = prefetched
            if progress and dist.is_main:
                from tqdm import tqdm

                batches = tqdm(prefetched, total=len(loader), desc="eval", unit="batch", leave=False)
            rows = _window_rows(model, batches, clip, modes=modes, seed=seed, samples=samples, device=device,
                                truth_cells=truth_cells_of(layout, ds, clip))
        skipped = ds.all_skipped()
    merged = _gather_rows(rows, dist)
    result = _action_results(merged, [e.action for e in ds.entries], modes,
                             model.config.num_classes, class_names)
    result["shuffle_fallbacks"] = int(merged["shuffle_fallbacks"].sum())
    result["skipped"] = list(dict.fromkeys(name for part in all_gather_objects(dist, skipped) for name, _ in part))
    result.update(_gaze_results(merged, clip, use_gaze=model.gaze_head is not None))
    return result


def _gather_rows(rows: dict[str, Any], dist: DistInfo) -> dict[str, torch.Tensor | None]:
    """Every rank's window rows, concatenated (``logits/<mode>`` per mode; None where no rank has any).
    RuntimeError when no window was evaluated anywhere."""
    local = {k: (torch.cat(v) if v else None) for k, v in rows.items() if k not in ("logits", "shuffle_fallbacks")}
    local.update({f"logits/{m}": torch.cat(v) if v else None for m, v in rows["logits"].items()})
    local["shuffle_fallbacks"] = torch.tensor([rows["shuffle_fallbacks"]])
    gathered = all_gather_objects(dist, local)
    merged = {k: torch.cat([g[k] for g in gathered if g[k] is not None]) if any(g[k] is not None for g in gathered)
              else None for k in local}
    if merged["clip"] is None:
        raise RuntimeError("no test clip could be evaluated")
    return merged


def _action_results(merged: dict[str, Any], actions: list[int], modes: list[str], num_classes: int,
                    class_names: list[str] | None) -> dict[str, Any]:
    """The primary mode's action report (clip logits: the mean of its windows'), the counts, and ``by_test_gaze``:
    every mode's mean class and overall accuracy. ``actions``: the label of each clip index."""
    clip_ids, _ = aggregate_windows(merged["clip"], merged[f"logits/{modes[0]}"])
    targets = torch.tensor([actions[int(c)] for c in clip_ids])
    result = _accuracies(targets, merged["clip"], merged[f"logits/{modes[0]}"], num_classes, class_names)
    result["n_clips"] = int(len(clip_ids))
    result["n_windows"] = int(len(merged["clip"]))
    result["test_gaze"] = modes[0]
    by_mode = {}
    for mode in modes:
        acc = result if mode == modes[0] else _accuracies(targets, merged["clip"], merged[f"logits/{mode}"],
                                                          num_classes, None)
        by_mode[mode] = {k: acc[k] for k in ("mean_class_accuracy", "overall_accuracy")}
    result["by_test_gaze"] = by_mode
    return result


def _gaze_results(merged: dict[str, Any], clip: ClipConfig, *, use_gaze: bool) -> dict[str, Any]:
    """``gaze`` (the gaze head's quality against the measured fixations; None without a gaze head) and
    ``gaze_truth`` (against a synthetic world's truly attended cell; None elsewhere)."""
    gaze = None
    if use_gaze:
        gaze = json.loads(gaze_report(merged["gaze_logits"], merged["gaze_cell"], merged["fix_xy"],
                                      frame_size=(clip.crop, clip.crop)).to_json())
    truth = None if merged["truth_cell"] is None else json.loads(gaze_truth_report(
        merged["truth_cell"], merged["gaze_cell"], merged["gaze_logits"] if use_gaze else None).to_json())
    return {"gaze": gaze, "gaze_truth": truth}


# ------------------------------------------------------------------------------------- a checkpoint of a run


def checkpoint_clips(config, part: str = "test", *, num_classes: int) -> tuple[ClipCatalog, list]:
    """The dataset of ``config.data`` (a run's DataConfig: root, format, split, split_dir) and the clips of
    ``part``: the test split, or (``"validation"``) the clips the run held out of its training split
    (:mod:`gazeattn.train.splits`). ValueError (one line) when the run holds out none, or when the clips' labels
    exceed ``num_classes``."""
    data = config.data
    layout = open_dataset(data.root, format=data.format, frames_root=data.frames_root or None)
    if part == "validation":
        entries = validation_entries(layout, data)
    elif part == "test":
        entries = layout.read_split(data.split, "test", layout.split_path(data.split, "test", data.split_dir))
    else:
        raise ValueError(f"an evaluation reads the test or the validation clips, not {part!r}")
    top = max((e.action for e in entries), default=-1)
    if num_classes <= top:
        raise ValueError(f"the {part} clips have labels up to {top + 1} but the model has {num_classes} classes")
    return layout, entries


def evaluate_checkpoint(loaded: LoadedCheckpoint, config, *, part: str = "test", clips=None, test_gaze: str = "",
                        seed: int | None = None, batch: int | None = None, workers: int | None = None,
                        device: str | None = None, on_bad_clip: str | None = None, samples: int = DEFAULT_SAMPLES,
                        progress: bool = False) -> dict[str, Any]:
    """Evaluate a loaded checkpoint of a run with ``config`` (a TrainConfig) on its test split (``part``
    "validation": the clips it held out of its training split): :func:`evaluate`'s result.

    ``clips``: (layout, entries), default :func:`checkpoint_clips`. Every setting left None is the run's:
    ``seed`` (for the ``shuffled`` and ``sample`` modes) ``run.seed``, ``batch`` ``run.batch``, ``workers`` its
    DataLoader workers, ``device`` ``run.device``, ``on_bad_clip`` ``data.on_bad_clip``; ``test_gaze`` "" its
    ``estimator.test_gaze`` (else the variant's default)."""
    layout, entries = clips or checkpoint_clips(config, part, num_classes=loaded.model.config.num_classes)
    device = pick_device(device or config.run.device)
    return evaluate(loaded.model.to(device), layout, entries, config.clip_config(), variant=config.run.variant,
                    test_gaze=test_gaze or config.estimator.test_gaze,
                    seed=config.run.seed if seed is None else seed, batch=batch or config.run.batch,
                    workers=parallelism_of(config).workers if workers is None else workers,
                    prefetch=config.data.prefetch, device=device,
                    on_bad_clip=on_bad_clip or config.data.on_bad_clip, class_names=loaded.meta.get("class_names"),
                    progress=progress, samples=samples)
