"""The synthetic world in the generic layout (:mod:`gazeattn.data.generic`, ``docs/data-generic.md``):
:func:`write_synthetic_generic`, the same sessions, scenes, gaze and labels as :func:`write_synthetic_egtea`, written
as one recording per session::

    OUT/videos/<session>.mp4          every session frame: each clip's frames at its session frames, black between
    OUT/gaze/<session>.txt            the session's BeGaze file (as in the EGTEA layout; Frame = video frame)
    OUT/dataset.toml                  gaze_format = "begaze" (or the gaze_format below)
    OUT/labels.csv                    clip,video,start_frame,end_frame,action (clip = the EGTEA clip name)
    OUT/actions.txt                   action names by decreasing frequency: class i is EGTEA-layout action i + 1
    OUT/splits/{train,test}_split1.txt
    OUT/synth_truth.json              as in the EGTEA layout (clips by the same names)

A clip's frame i is video frame ``F_start + i`` and its gaze row ``F_start + i``, exactly as in the EGTEA layout,
so both layouts give the same pixels (up to the encoder: one stream per session here), labels and gaze.

With ``gaze_format`` other than ``"begaze"`` (``aria-mps``, ``egoexo4d``, ``ego4d``) each session's gaze is written
in that format instead, from the per-frame table the BeGaze file would give (:mod:`gazeattn.synth.gaze_writers`:
``gaze/<session>.csv``, its side files and ``gaze/<session>.toml`` naming the format); ``dataset.toml`` says the
format and ``synth_truth.json`` gets ``"gaze_format"``. The videos, labels, splits and truth are the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gazeattn.data.clipnames import FPS
from gazeattn.data.source import split_file_name
from gazeattn.data.truth import TRUTH_NAME
from gazeattn.synth.begaze_writer import write_begaze
from gazeattn.synth.config import SynthConfig
from gazeattn.synth.gaze import GAZE_HZ, simulate_gaze
from gazeattn.synth.gaze_writers import GAZE_FORMATS, Recording, true_frame_table, write_recording_gaze
from gazeattn.synth.plan import PlannedClip, PlannedSession, clip_scene, plan_world, session_style
from gazeattn.synth.render import render_clip
from gazeattn.synth.writer import (GAZE_H, GAZE_W, GENERATOR, GENERATOR_VERSION, SynthSummary, _check_target,
                                   _clip_truth, _Labels, _remove_stale, _write_mp4)


def write_synthetic_generic(out: str | Path, config: SynthConfig, *, force: bool = False,
                            gaze_format: str = "begaze") -> SynthSummary:
    """Write the synthetic world into ``out`` in the generic layout (module docstring), its gaze in ``gaze_format``
    (one of :data:`~gazeattn.synth.gaze_writers.GAZE_FORMATS`). Deterministic in ``config``; ``out`` must be
    missing or empty unless ``force`` (then only this generator's files are replaced)."""
    if gaze_format not in GAZE_FORMATS:
        raise ValueError(f"gaze_format must be one of {', '.join(GAZE_FORMATS)}, got {gaze_format!r}")
    out = Path(out)
    stale = _check_target(out, force)
    sessions = plan_world(config)
    written: list[Path] = []
    videos_dir, gaze_dir, splits_dir = out / "videos", out / "gaze", out / "splits"
    for d in (videos_dir, gaze_dir, splits_dir):
        d.mkdir(parents=True, exist_ok=True)
    n_samples = sum(_write_recording(config, s, videos_dir, gaze_dir, written, gaze_format) for s in sessions)
    clips = [c for s in sessions for c in s.clips]
    labels = _Labels.of(clips, config)
    _write_labels(out, clips, labels, written, gaze_format)

    new_files = sorted({str(p.relative_to(out)) for p in written} | {TRUTH_NAME})
    truth = {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "layout": "generic", "seed": config.seed,
        "width": config.width, "height": config.height, "fps": FPS, "gaze_hz": GAZE_HZ,
        "gaze_resolution": [GAZE_W, GAZE_H], "frame_offset": 0, "config": config.to_json(),
        "vocabulary": {"actions": labels.actions, "verbs": labels.verbs, "nouns": labels.nouns},
        "clips": {c.name.name: _clip_truth(c, labels, config) for c in clips}, "files": new_files,
    }
    if gaze_format != "begaze":
        truth["gaze_format"] = gaze_format
    (out / TRUTH_NAME).write_text(json.dumps(truth, separators=(",", ":")) + "\n", encoding="utf-8")
    _remove_stale(out, stale, set(new_files))
    return SynthSummary(
        root=out, clips_dir=videos_dir, gaze_dir=gaze_dir, annotation_dir=out, truth_path=out / TRUTH_NAME,
        frames_dir=None, n_sessions=len(sessions), n_clips=len(clips), n_train=sum(c.split == "train" for c in clips),
        n_test=sum(c.split == "test" for c in clips), n_actions=len(labels.actions), n_verbs=len(labels.verbs),
        n_nouns=len(labels.nouns), n_no_gaze_clips=sum(c.no_gaze for c in clips), n_gaze_samples=n_samples,
        files=tuple(new_files),
    )


def _write_recording(config: SynthConfig, s: PlannedSession, videos_dir: Path, gaze_dir: Path,
                     written: list[Path], gaze_format: str) -> int:
    """Session s as one video (its clips at their session frames) and its gaze file (BeGaze, or ``gaze_format``
    from the table the BeGaze file gives); the number of samples (rows with gaze)."""
    s.style = session_style(config, s)
    end = max([s.n_frames] + [c.name.end_frame for c in s.clips])
    video = np.zeros((end, config.height, config.width, 3), np.uint8)  # (T, H, W, 3), black between clips
    for c in s.clips:
        c.scene = clip_scene(config, s, c)
        frames = render_clip(c.scene)
        video[c.name.start_frame:c.name.start_frame + len(frames)] = frames
    path = videos_dir / f"{s.name}.mp4"
    _write_mp4(path, video, config.qp)
    written.append(path)
    gaze = simulate_gaze(np.random.default_rng([config.seed, 3, s.index]), s, config)
    if gaze_format != "begaze":
        rec = Recording(stem=s.name, table=true_frame_table(gaze, end), fps=float(FPS), width=config.width,
                        height=config.height, t0_ns=int(s.style["time0_us"]) * 1000)
        return write_recording_gaze(gaze_format, gaze_dir, rec, written)
    path = gaze_dir / f"{s.name}.txt"
    subject = s.name.split("-")[0]
    n = write_begaze(path, version=s.version,
                     time_us=s.style["time0_us"] + np.round(gaze["t"] * 1e6).astype(np.int64),
                     x_px=gaze["x"] * GAZE_W, y_px=gaze["y"] * GAZE_H, frame=gaze["frame"], events=list(gaze["event"]),
                     subject=subject if s.version == 1 else f"{subject.lower()}-unified",
                     description="Run1" if s.version == 1 else "Run003")
    written.append(path)
    return n


def _write_labels(out: Path, clips: list[PlannedClip], labels: _Labels, written: list[Path],
                  gaze_format: str) -> None:
    """``labels.csv`` (spans in video frames), ``actions.txt``, the split files and ``dataset.toml``."""

    def write_text(path: Path, lines: list[str]) -> None:
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(path)

    write_text(out / "dataset.toml", [f'gaze_format = "{gaze_format}"'])
    write_text(out / "actions.txt", list(labels.actions))
    write_text(out / "labels.csv", ["clip,video,start_frame,end_frame,action"] + [
        f"{c.name.name},{c.name.session},{c.name.start_frame},{c.name.end_frame},{c.action_name}" for c in clips])
    for subset in ("train", "test"):
        write_text(out / "splits" / split_file_name(1, subset), [c.name.name for c in clips if c.split == subset])
