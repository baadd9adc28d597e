"""Writing the synthetic world to disk (:func:`write_synthetic_egtea`): the clips (H.264 mp4, optionally JPEG
frames), the BeGaze gaze files, the annotation files with ids ordered by frequency, ``synth_truth.json``, and the
removal of files a previous run wrote that this one does not. The layout: see :mod:`gazeattn.synth`.

Encoding is reproducible: RGB → yuv420p is converted in numpy, and x264 runs single-threaded at a constant QP.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gazeattn.data.begaze import GAZE_RESOLUTION
from gazeattn.data.clipnames import FPS
from gazeattn.data.source import split_file_name
from gazeattn.data.truth import TRUTH_NAME
from gazeattn.synth.begaze_writer import write_begaze
from gazeattn.synth.config import SynthConfig
from gazeattn.synth.gaze import GAZE_HZ, LEAD_OBJECT, lead_start, simulate_gaze, tracker_drift
from gazeattn.synth.plan import PlannedClip, PlannedSession, clip_scene, plan_world, session_style
from gazeattn.synth.render import render_clip
from gazeattn.synth.vocabulary import VOCABULARIES

GENERATOR = "gazeattn.synth"
GENERATOR_VERSION = 1
GAZE_W, GAZE_H = GAZE_RESOLUTION


@dataclass(frozen=True)
class SynthSummary:
    """What was written: the main folders, counts, and every file (relative to ``root``)."""

    root: Path
    clips_dir: Path
    gaze_dir: Path
    annotation_dir: Path
    truth_path: Path
    frames_dir: Path | None
    n_sessions: int
    n_clips: int
    n_train: int
    n_test: int
    n_actions: int
    n_verbs: int
    n_nouns: int
    n_no_gaze_clips: int
    n_gaze_samples: int
    files: tuple[str, ...] = field(repr=False, default=())



def rgb_to_yuv420p(video: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB → (T, H·3/2, W) uint8 planar yuv420p (BT.601, limited range), in numpy.

    Converting here rather than in swscale keeps the encoder's input, hence the clips, reproducible
    (swscale's conversion was seen to vary from run to run in one process).
    """
    rgb = video.astype(np.float32)
    t, h, w, _ = rgb.shape
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    sub = 0.25 * (rgb[:, 0::2, 0::2] + rgb[:, 1::2, 0::2] + rgb[:, 0::2, 1::2] + rgb[:, 1::2, 1::2])  # 2×2 mean
    u = 128.0 + (-37.797 * sub[..., 0] - 74.203 * sub[..., 1] + 112.0 * sub[..., 2]) / 255.0
    v = 128.0 + (112.0 * sub[..., 0] - 93.786 * sub[..., 1] - 18.214 * sub[..., 2]) / 255.0
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v)]
    flat = np.concatenate([p.reshape(t, -1) for p in planes], axis=1)  # PyAV's layout: Y, then U, then V
    return flat.reshape(t, h * 3 // 2, w)


def _write_mp4(path: Path, video: np.ndarray, qp: int) -> None:
    """(T, H, W, 3) uint8 → H.264 yuv420p at 24 fps, single-threaded (reproducible)."""
    yuv = rgb_to_yuv420p(video)
    with av.open(str(path), "w") as container:
        # constant QP, one thread: x264's rate control (mb-tree lookahead) was seen to give different
        # bitstreams for the same input at these tiny sizes; with a fixed QP the output is reproducible
        stream = container.add_stream("libx264", rate=FPS, options={"qp": str(qp), "preset": "veryfast",
                                                                     "threads": "1", "x264-params": "mbtree=0"})
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        for i, img in enumerate(yuv):
            frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _write_jpegs(folder: Path, video: np.ndarray) -> list[Path]:
    """``folder/%04d.jpg`` (1-based) with PyAV's mjpeg encoder at high quality."""
    folder.mkdir(parents=True, exist_ok=True)
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = video.shape[2], video.shape[1], "yuvj420p"
    ctx.time_base = Fraction(1, FPS)
    ctx.qmin = ctx.qmax = 2
    paths = []
    for i, img in enumerate(video):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
        frame.pts = i
        data = b"".join(bytes(p) for p in ctx.encode(frame))
        path = folder / f"{i + 1:04d}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _ranked(counts: Counter, canonical: list[str]) -> list[str]:
    """Names by decreasing frequency (ties: canonical order): ids are ordered by frequency, as released."""
    return sorted(counts, key=lambda name: (-counts[name], canonical.index(name)))


def _r(a: np.ndarray, nd: int = 5) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def _check_target(out: Path, force: bool) -> list[str]:
    """Refuse a non-empty ``out`` unless ``force``; return the files a previous synth run wrote there."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; pass --force (force=True) to overwrite the synthetic "
                                  "dataset's own files (nothing else is touched)")
        truth = out / TRUTH_NAME
        if truth.is_file():
            try:
                old = json.loads(truth.read_text())
                if old.get("generator") == GENERATOR:
                    return [str(p) for p in old.get("files", [])]
            except (ValueError, OSError):
                pass
    return []


def write_synthetic_egtea(out: str | Path, config: SynthConfig, *, force: bool = False) -> SynthSummary:
    """Write the synthetic world into ``out`` (see :mod:`gazeattn.synth`). Deterministic in ``config``.

    ``out`` must be missing or empty unless ``force``: then only files this generator writes are replaced,
    and files a previous run listed in its ``synth_truth.json`` but this run does not write are removed.
    """
    out = Path(out)
    stale = _check_target(out, force)
    sessions = plan_world(config)
    written: list[Path] = []
    clips_dir, gaze_dir, ann_dir = out / "cropped_clips", out / "gaze_data", out / "action_annotation"
    raw_dir, frames_dir = out / "raw_annotations", out / "images_rgb"
    for d in (clips_dir, gaze_dir, ann_dir, raw_dir):
        d.mkdir(parents=True, exist_ok=True)

    truth_sessions = {s.name: _write_session(config, s, clips_dir, gaze_dir, frames_dir, written) for s in sessions}
    n_samples_total = sum(t["n_samples"] for t in truth_sessions.values())
    clips = [c for s in sessions for c in s.clips]
    labels = _Labels.of(clips, config)
    _write_annotations(ann_dir, raw_dir, clips, labels, written)

    truth_path = out / TRUTH_NAME
    new_files = sorted({str(p.relative_to(out)) for p in written} | {TRUTH_NAME})
    truth = {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "seed": config.seed, "width": config.width,
        "height": config.height, "fps": FPS, "gaze_hz": GAZE_HZ, "gaze_resolution": [GAZE_W, GAZE_H],
        "frame_offset": 0, "config": config.to_json(),
        "vocabulary": {"actions": labels.actions, "verbs": labels.verbs, "nouns": labels.nouns},
        "sessions": truth_sessions, "clips": {c.name.name: _clip_truth(c, labels, config) for c in clips},
        "files": new_files,
    }
    truth_path.write_text(json.dumps(truth, separators=(",", ":")) + "\n", encoding="utf-8")
    _remove_stale(out, stale, set(new_files))

    return SynthSummary(
        root=out, clips_dir=clips_dir, gaze_dir=gaze_dir, annotation_dir=ann_dir, truth_path=truth_path,
        frames_dir=frames_dir if config.frames else None, n_sessions=len(sessions), n_clips=len(clips),
        n_train=sum(c.split == "train" for c in clips), n_test=sum(c.split == "test" for c in clips),
        n_actions=len(labels.actions), n_verbs=len(labels.verbs), n_nouns=len(labels.nouns),
        n_no_gaze_clips=sum(c.no_gaze for c in clips), n_gaze_samples=n_samples_total, files=tuple(new_files),
    )


def _write_session(config: SynthConfig, s: PlannedSession, clips_dir: Path, gaze_dir: Path, frames_dir: Path,
                   written: list[Path]) -> dict:
    """Draw, render and encode session s's clips, simulate and write its gaze file; its entry of the truth."""
    s.style = session_style(config, s)
    (clips_dir / s.name).mkdir(exist_ok=True)
    for c in s.clips:
        c.scene = clip_scene(config, s, c)
        video = render_clip(c.scene)
        path = clips_dir / s.name / f"{c.name.name}.mp4"
        _write_mp4(path, video, config.qp)
        written.append(path)
        if config.frames:
            written += _write_jpegs(frames_dir / c.name.name, video)
    gaze = simulate_gaze(np.random.default_rng([config.seed, 3, s.index]), s, config)
    n = len(gaze["t"])
    if n and 2 * n <= int(gaze["frame"][-1]):  # the official reader sizes its table 2 × samples
        raise RuntimeError(f"{s.name}: too few gaze samples for the official reader ({n})")
    path = gaze_dir / f"{s.name}.txt"
    subject = s.name.split("-")[0]
    write_begaze(path, version=s.version, time_us=s.style["time0_us"] + np.round(gaze["t"] * 1e6).astype(np.int64),
                 x_px=gaze["x"] * GAZE_W, y_px=gaze["y"] * GAZE_H, frame=gaze["frame"], events=list(gaze["event"]),
                 subject=subject if s.version == 1 else f"{subject.lower()}-unified",
                 description="Run1" if s.version == 1 else "Run003")
    written.append(path)
    events = Counter(gaze["event"].tolist())
    truth = {
        "begaze_version": s.version, "n_frames": s.n_frames, "n_samples": n,
        "calibration_offset": _r(s.style["calibration"]), "out_of_frame_rate": round(s.style["p_out"], 4),
        "empty_frame_target": round(float(s.style["empty_frames"]), 4), "events": dict(sorted(events.items())),
    }
    if config.gaze_offset_share > 0:  # only with wrong gaze (keeps the original worlds' truth)
        truth["tracker_drift"] = _r(tracker_drift(s, config))
    return truth


@dataclass(frozen=True)
class _Labels:
    """Action, verb and noun names by decreasing frequency, and their 1-based ids (the release's ordering)."""

    actions: list[str]
    verbs: list[str]
    nouns: list[str]

    @classmethod
    def of(cls, clips: list[PlannedClip], config: SynthConfig) -> _Labels:
        vocab = VOCABULARIES[config.vocabulary]
        return cls(_ranked(Counter(c.action_name for c in clips), [f"{v} {n}" for v, n, _ in vocab.actions]),
                   _ranked(Counter(c.verb for c in clips), list(vocab.verbs)),
                   _ranked(Counter(n for c in clips for n in c.nouns), [n.name for n in vocab.nouns]))

    def action_id(self, name: str) -> int:
        return self.actions.index(name) + 1

    def verb_id(self, name: str) -> int:
        return self.verbs.index(name) + 1

    def noun_id(self, name: str) -> int:
        return self.nouns.index(name) + 1


def _write_annotations(ann_dir: Path, raw_dir: Path, clips: list[PlannedClip], labels: _Labels,
                       written: list[Path]) -> None:
    """The id files, the split files and the raw ``action_labels.csv``, as in the release."""

    def write_text(path: Path, lines: list[str]) -> None:
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(path)

    write_text(ann_dir / "action_idx.txt", [f"{n} {labels.action_id(n)}" for n in labels.actions])
    write_text(ann_dir / "verb_idx.txt", [f"{n} {labels.verb_id(n)}" for n in labels.verbs])
    write_text(ann_dir / "noun_idx.txt", [f"{n} {labels.noun_id(n)}" for n in labels.nouns])
    for subset in ("train", "test"):
        write_text(ann_dir / split_file_name(1, subset),
                   [" ".join([c.name.name, str(labels.action_id(c.action_name)), str(labels.verb_id(c.verb)),
                              *(str(labels.noun_id(n)) for n in c.nouns)]) for c in clips if c.split == subset])
    csv = ["# Clip ID (Unique, used only internally); Clip Prefix (Unique); Video Session; Starting Time (ms); "
           "Ending Time (ms); Action Label; Verb Label; Noun Label(s)"]
    csv += [f"{i}; {c.name.prefix}; {c.name.session}; {c.name.start_ms}; {c.name.end_ms}; {c.action_name}; "
            f"{c.verb}; {','.join(c.nouns)}" for i, c in enumerate(clips, start=1)]
    write_text(raw_dir / "action_labels.csv", csv)


def _clip_truth(c: PlannedClip, labels: _Labels, config: SynthConfig) -> dict:
    """Clip c's entry of ``synth_truth.json`` (see :mod:`gazeattn.synth`)."""
    objs = [{"noun": o.noun, "shape": o.shape, "colour": list(o.colour), "role": o.role, "motion": o.motion,
             "centre": _r(o.centre), "radius_px": _r(o.radius_px, 3)} for o in c.scene.objects]
    truth = {
        "session": c.name.session, "split": c.split, "action": labels.action_id(c.action_name),
        "verb": labels.verb_id(c.verb), "nouns": [labels.noun_id(n) for n in c.nouns], "action_name": c.action_name,
        "verb_name": c.verb, "noun_names": list(c.nouns), "n_frames": c.name.n_frames,
        "action_frames": list(c.action_frames), "no_gaze": c.no_gaze, "target": objs[0], "objects": objs,
        "hand_centre": _r(c.scene.hand_centre), "hand_radius_px": round(c.scene.hand_radius_px, 3),
        "hand_colour": list(c.scene.skin),
    }
    if config.gaze_lead > 0:  # only with wrong gaze (keeps the original worlds' truth)
        truth["gaze_lead"] = {"from_frame": lead_start(c.action_frames, config.gaze_lead), "object": LEAD_OBJECT}
    if c.scene.camera_px is not None:  # only with camera motion (keeps the original worlds' truth)
        truth["camera_offset"] = _r(c.scene.camera_px / np.array([config.width, config.height]))
    return truth


def _remove_stale(out: Path, stale: list[str], keep: set[str]) -> None:
    """Delete files a previous synth run wrote that this run did not rewrite (never anything else)."""
    root = out.resolve()
    for rel in stale:
        if rel in keep:
            continue
        path = out / rel
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if root in resolved.parents and path.is_file() and not path.is_symlink():
            path.unlink()
            parent = path.parent
            while parent != out and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
