"""Evaluation exactly as the paper reports it, with deterministic test-time gaze by default.

Every non-overlapping 24-frame window of each test clip (centre crop) is classified; a clip's logits are the
mean over its windows; mean class accuracy (mean per-class recall) and overall accuracy come from the
confusion matrix. Test-time gaze is predicted, never measured (except for gaze-oracle):

- ``argmax``: z = one-hot of the argmax of q per slot (default, deterministic);
- ``expectation``: z = q itself (the relaxed map);
- ``sample``: a Gumbel-Max sample, seeded per (seed, clip, window): the reference's stochastic protocol.

Gaze quality is measured on slots with a measured fixation inside the crop (see :mod:`gazeattn.metrics.gaze`).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from gazeattn.data.begaze import FIXATION
from gazeattn.data.dataset import ClipConfig, EgteaClips, collate_clips
from gazeattn.data.layout import EgteaLayout
from gazeattn.data.prefetch import Prefetcher
from gazeattn.inference import predicted_gaze_map
from gazeattn.metrics.actions import action_report, aggregate_windows
from gazeattn.metrics.gaze import gaze_report
from gazeattn.train.distributed import DistInfo, all_gather_objects
from gazeattn.train.objective import measured_gaze_map

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


@torch.no_grad()
def _window_rows(model, batches, clip: ClipConfig, *, variant: str, test_gaze: str, seed: int,
                 device: torch.device) -> dict[str, list]:
    """Per-window class logits (and gaze logits, measured gaze) of every batch, on the CPU."""
    use_gaze = model.gaze_head is not None
    attends = model.config.attention != "none"
    rows: dict[str, list] = {"clip": [], "logits": [], "gaze_logits": [], "gaze_cell": [], "fix_xy": []}
    for b in batches:
        if b is None:
            continue
        rgb = b["rgb"].to(device) if model.config.streams != "flow" else None
        flow = b["flow"].to(device) if "flow" in b else None
        x4, x5 = model.backbone(rgb, flow)
        z = None
        if use_gaze:
            g = model.gaze_logits(x4)
            rows["gaze_logits"].append(g.float().cpu())
            rows["gaze_cell"].append(b["gaze_cell"])
            rows["fix_xy"].append(torch.from_numpy(slot_fixations(b["gaze_xy"], b["gaze_type"], clip.strides[0])))
            if attends:
                if variant == "gaze-oracle":
                    z = measured_gaze_map(b).to(device, x5.dtype)
                else:
                    seeds = [int(seed * 1_000_003 + c * 1009 + w) for c, w in zip(b["clip_index"], b["window"])]
                    z = predicted_gaze_map(g.float(), test_gaze, seeds=seeds).to(x5.dtype)
        rows["logits"].append(model.classify(z if attends else None, x5).float().cpu())
        rows["clip"].append(b["clip_index"])
    return rows


@torch.no_grad()
def evaluate(model, layout: EgteaLayout, entries, clip: ClipConfig, *, variant: str, test_gaze: str = "argmax",
             seed: int = 0, batch: int = 8, workers: int = 0, prefetch: int = 2,
             device: torch.device = torch.device("cpu"),
             dist: DistInfo = DistInfo(), on_bad_clip: str = "error", class_names: list[str] | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Evaluate on ``entries``; returns the JSON-able result (percentages), identical on every rank.

    With ``workers`` > 0, a thread receives their batches ``prefetch`` ahead (:mod:`gazeattn.data.prefetch`).
    ``result["skipped"]`` names the clips left out, or skipped while being read (``on_bad_clip="skip"``), on
    any rank and in any DataLoader worker (workers append to a temporary JSON-lines log)."""
    model.eval()
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
            rows = _window_rows(model, batches, clip, variant=variant, test_gaze=test_gaze, seed=seed,
                                device=device)
        skipped = ds.all_skipped()
    use_gaze = model.gaze_head is not None
    local = {k: (torch.cat(v) if v else None) for k, v in rows.items()}
    gathered = all_gather_objects(dist, local)
    merged = {k: torch.cat([g[k] for g in gathered if g[k] is not None]) if any(g[k] is not None for g in gathered)
              else None for k in local}
    if merged["clip"] is None:
        raise RuntimeError("no test clip could be evaluated")
    clip_ids, clip_logits = aggregate_windows(merged["clip"], merged["logits"])
    targets = torch.tensor([ds.entries[int(c)].action for c in clip_ids])
    num_classes = model.config.num_classes
    report = action_report(targets, clip_logits, num_classes, class_names=class_names)
    result = json.loads(report.to_json())
    result["n_clips"] = int(len(clip_ids))
    result["n_windows"] = int(len(merged["clip"]))
    result["test_gaze"] = "measured" if variant == "gaze-oracle" else test_gaze
    result["skipped"] = list(dict.fromkeys(name for part in all_gather_objects(dist, skipped) for name, _ in part))
    if use_gaze:
        frame = (clip.crop, clip.crop)
        result["gaze"] = json.loads(gaze_report(merged["gaze_logits"], merged["gaze_cell"], merged["fix_xy"],
                                     frame_size=frame).to_json())
    else:
        result["gaze"] = None
    return result
