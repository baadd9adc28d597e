"""Top-k actions, gaze and attention for one video, with a trained model, under the test protocol.

    predictor = load_predictor("runs/x/checkpoints/step_0001000")   # or .../model.safetensors, or the run folder
    pred = predictor.predict("clip.mp4", top=5)
    pred.top                      # [Ranked(label, name, probability)], best first
    gazeattn.report.overlays.write_overlay(pred, "clip_gaze.gif")    # pictures: .gif, .mp4 or .png

Protocol (the same as :mod:`gazeattn.train.evaluate`): every non-overlapping ``frames``-long window from frame 0
(:func:`~gazeattn.data.dataset.window_starts`; a video shorter than one window is padded with its last frame),
frames resized so the short side is ``short_side``, centre-cropped to ``crop``², RGB in [-1, 1] as
``(B, C, T, H, W)``; the test-time forward is :func:`gazeattn.inference.forward.forward_clips`, as in evaluation;
class logits averaged over the windows, then a softmax. Test-time gaze is deterministic (the modes that need
nothing but the video, :data:`~gazeattn.inference.test_gaze.DETERMINISTIC`): ``argmax`` (z = one-hot of the argmax
of q per slot, the default) or ``expectation`` (z = q = softmax of the gaze logits per slot, a relaxed map).

Only RGB models run on a bare video: two-stream and flow models need optical-flow frames (``gazeattn prepare``),
which a single mp4 has not, and are refused with an error saying so. Models with ``attention="none"`` have no
attention map: without a gaze head (``i3d``) they predict actions only; with one (``gaze-aux``) they report the
gaze distribution, and the overlay's attention panel is marked "NO ATTENTION".

Checkpoints: ``model.safetensors`` (our format, the model config in its header) or a checkpoint folder holding it
and ``meta.json`` (``{"class_names": [...], "clip": {ClipConfig fields}}``; a run folder follows its
``checkpoints/latest``, see :func:`gazeattn.runs.checkpoints.resolve_checkpoint`). Without ``meta.json`` the input
size comes from the model config (short side = round(crop·8/7)) and classes are named "class 0", "class 1", ...;
a warning says so.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch

from gazeattn.data.dataset import ClipConfig, resize_args, window_starts
from gazeattn.data.targets import GazeTargetConfig
from gazeattn.data.transforms import center_crop, to_unit_range
from gazeattn.data.video import probe_video, read_video_frames
from gazeattn.inference.forward import forward_clips
from gazeattn.inference.test_gaze import DETERMINISTIC, predicted_gaze_map
from gazeattn.models import ATTENTIONS, GazeAttentionModel
from gazeattn.models.weights import load_model
from gazeattn.runs.checkpoints import resolve_checkpoint, sha256_file
from gazeattn.utils.errors import DataError

__all__ = ["Ranked", "Prediction", "Predictor", "load_predictor"]

MODEL_FILE, META_FILE = "model.safetensors", "meta.json"


class Ranked(NamedTuple):
    label: int  # 0-based class index
    name: str
    probability: float


@dataclass(frozen=True, eq=False)
class Prediction:
    """What :meth:`Predictor.predict` found in one video (W windows, C classes, gaze grid T'×H'×W')."""

    video: Path
    class_names: tuple[str, ...]
    probabilities: np.ndarray  # (C,) softmax of the window-averaged logits, float64, sums to 1
    window_logits: np.ndarray  # (W, C) class logits per window
    top: tuple[Ranked, ...]  # best first
    starts: tuple[int, ...]  # first frame of each window
    window_frames: int  # T, frames per window
    n_frames: int  # frames in the video (header count)
    fps: float
    test_gaze: str
    gaze: np.ndarray | None  # (W, T', H', W') q: per-slot softmax of the gaze logits; None without a gaze head
    gaze_z: np.ndarray | None  # (W, T', H', W') the z the classifier used (one-hot or q); None for attention "none"
    attention: np.ndarray | None  # (W, T', H', W') the head's attention_map(z): cell weights in units of global
    # average pooling (min2021: sigmoid(FC(z))); None for attention "none" (no gaze head, or gaze-aux's head,
    # which the classifier does not use)
    frames: np.ndarray | None  # (W, T, crop, crop, 3) uint8, the centre crops the model saw (None if not kept)
    t_stride: int  # frames per gaze slot

    @property
    def grid(self) -> tuple[int, int, int] | None:
        return None if self.gaze is None else tuple(self.gaze.shape[1:])  # type: ignore[return-value]

    def gaze_cells(self) -> np.ndarray | None:
        """(W, T') flat index ``row·W' + col`` of the most probable cell of each slot."""
        if self.gaze is None:
            return None
        return self.gaze.reshape(*self.gaze.shape[:2], -1).argmax(-1)

    def to_json(self) -> dict[str, Any]:
        """JSON-able summary: ``{"video", "top": [{"label", "name", "probability"}], "windows", ...}``.

        ``windows`` lists, per window, its ``start`` frame, its own top class and, with a gaze head, the argmax
        cell of each slot (``slot``, ``cell``, ``row``, ``col``, ``probability``).
        """
        cells = self.gaze_cells()
        windows = []
        for w, start in enumerate(self.starts):
            best = int(np.argmax(self.window_logits[w]))
            item: dict[str, Any] = {"start": int(start), "frames": self.window_frames, "top_label": best,
                                    "top_name": self.class_names[best]}
            if cells is not None:
                _, _, gw = self.gaze.shape[1:]  # type: ignore[union-attr]
                item["gaze"] = [{"slot": s, "cell": int(c), "row": int(c) // gw, "col": int(c) % gw,
                                 "probability": float(self.gaze.reshape(*self.gaze.shape[:2], -1)[w, s, c])}
                                for s, c in enumerate(cells[w])]
            windows.append(item)
        return {
            "video": str(self.video),
            "top": [{"label": r.label, "name": r.name, "probability": r.probability} for r in self.top],
            "windows": windows,
            "probabilities": [float(p) for p in self.probabilities],
            "n_frames": self.n_frames,
            "test_gaze": self.test_gaze if self.gaze is not None else None,
            "grid": list(self.grid) if self.grid is not None else None,
            "attention_map": self.attention is not None,
        }


def _clip_from_dict(values: Mapping[str, Any], source: Path) -> ClipConfig:
    """A ClipConfig from its fields as JSON (lists for tuples, a dict for ``targets``); unknown keys are errors."""
    known = {f.name for f in dataclasses.fields(ClipConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DataError(source, f"unknown clip config keys {unknown}; known: {sorted(known)}")
    kwargs = dict(values)
    for name in ("train_short_side", "strides"):
        if name in kwargs:
            kwargs[name] = tuple(kwargs[name])
    try:
        if isinstance(kwargs.get("targets"), Mapping):
            kwargs["targets"] = GazeTargetConfig(**kwargs["targets"])
        return ClipConfig(**kwargs)
    except (TypeError, ValueError) as err:
        raise DataError(source, f"bad clip config: {err}") from err


def _fallback_clip(model: GazeAttentionModel) -> ClipConfig:
    frames, height, width = model.config.clip
    crop = height
    short = max(crop, round(crop * 8 / 7))
    return ClipConfig(frames=frames, crop=crop, short_side=short, train_short_side=(short, short),
                      strides=model.config.strides)


def _resolve(checkpoint: Path) -> tuple[Path, Path | None]:
    """(model.safetensors, meta.json or None) for a file, a checkpoint folder or a run folder."""
    if not checkpoint.exists():
        raise DataError(checkpoint, "checkpoint not found")
    if checkpoint.is_dir():
        if (checkpoint / "checkpoints").is_dir():  # a run folder: its newest checkpoint that verifies
            checkpoint = resolve_checkpoint(checkpoint)
        model_path = checkpoint / MODEL_FILE
        if not model_path.is_file():
            raise DataError(checkpoint, f"no {MODEL_FILE} in the checkpoint folder")
    else:
        model_path = checkpoint
    meta_path = model_path.parent / META_FILE
    return model_path, (meta_path if meta_path.is_file() else None)


def load_predictor(checkpoint: str | Path, *, test_gaze: str = "argmax", batch_size: int = 4,
                   device: str | torch.device = "cpu") -> "Predictor":
    """A :class:`Predictor` for a checkpoint (see the module docstring for what a checkpoint may be).

    Raises :class:`DataError` naming the file for a missing or unreadable checkpoint or meta.json, and for a
    model that needs optical flow. Emits a ``UserWarning`` when meta.json is missing (fallback input size and
    class names).
    """
    model_path, meta_path = _resolve(Path(checkpoint))
    meta: dict[str, Any] = {}
    if meta_path is not None:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(meta_path, f"cannot read checkpoint metadata: {err}") from err
        if not isinstance(meta, dict):
            raise DataError(meta_path, "checkpoint metadata must be a JSON object")
    digest = (meta.get("sha256") or {}).get(MODEL_FILE) if isinstance(meta.get("sha256"), Mapping) else None
    if digest is not None and sha256_file(model_path) != digest:
        raise DataError(model_path, f"checksum does not match {meta_path.name} (corrupt checkpoint)")
    # the tensors' own SHA-256 (in the file's header) is verified too: WeightsError (a DataError) names the file
    model = load_model(model_path, checked_by_meta=digest is not None)
    _require_rgb(model, model_path)

    notes = []
    if "clip" in meta:
        if not isinstance(meta["clip"], Mapping):
            raise DataError(meta_path, "'clip' must be an object of ClipConfig fields")
        clip = _clip_from_dict(meta["clip"], meta_path)  # type: ignore[arg-type]
    else:
        clip = _fallback_clip(model)
        notes.append(f"no clip config in {meta_path or model_path.parent / META_FILE}: using the model's input size "
                     f"{clip.frames}x{clip.crop}x{clip.crop} with the short side resized to {clip.short_side}")
    num_classes = model.config.num_classes
    names = meta.get("class_names")
    if names is None:
        names = [f"class {i}" for i in range(num_classes)]
        notes.append(f"no class names in {meta_path or model_path.parent / META_FILE}: classes are named "
                     f"'class 0' .. 'class {num_classes - 1}'")
    elif not isinstance(names, list) or len(names) != num_classes:
        raise DataError(meta_path, f"class_names must be a list of {num_classes} names (the model's classes), got "
                                   f"{len(names) if isinstance(names, list) else type(names).__name__}")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)

    expected = (clip.frames, clip.crop, clip.crop)
    if ATTENTIONS[model.config.attention].needs_grid and tuple(model.config.clip) != expected:
        raise DataError(meta_path or model_path, f"clip config gives inputs {expected} (frames, crop, crop) but the "
                                                 f"model's attention is sized for {tuple(model.config.clip)}")
    return Predictor(model.to(device), clip=clip, class_names=[str(n) for n in names], test_gaze=test_gaze,
                     batch_size=batch_size, source=model_path, notes=notes)


def _require_rgb(model: GazeAttentionModel, source: Path | None) -> None:
    streams = model.config.streams
    if streams != "rgb":
        raise DataError(source, f"this model uses streams={streams!r}, which needs optical-flow frames that a bare "
                                "video has not; extract them with `gazeattn prepare` and evaluate on the dataset. "
                                "`gazeattn predict` supports RGB-only models (streams='rgb') on a video file")


class Predictor:
    """A model in eval mode plus the test protocol (clip config, class names, test-time gaze)."""

    def __init__(self, model: GazeAttentionModel, *, clip: ClipConfig, class_names: list[str],
                 test_gaze: str = "argmax", batch_size: int = 4, source: Path | None = None,
                 notes: list[str] | None = None):
        if test_gaze not in DETERMINISTIC:
            raise ValueError(f"test gaze must be one of {DETERMINISTIC}, got {test_gaze!r}")
        if len(class_names) != model.config.num_classes:
            raise ValueError(f"{len(class_names)} class names for {model.config.num_classes} classes")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        _require_rgb(model, source)
        self.model = model.eval()
        self.clip = clip
        self.class_names = list(class_names)
        self.test_gaze = test_gaze
        self.batch_size = batch_size
        self.source = source
        self.notes = list(notes or [])

    @property
    def has_gaze(self) -> bool:
        return self.model.gaze_head is not None

    def read_windows(self, video: str | Path) -> tuple[np.ndarray, list[int], int, float]:
        """Centre crops (W, T, crop, crop, 3) uint8 of the test windows, their starts, the frame count, the fps."""
        path = Path(video)
        if not path.is_file():
            raise DataError(path, "video not found" if not path.exists() else "not a file")
        info = probe_video(path)
        t, crop = self.clip.frames, self.clip.crop
        windows, starts = [], []
        for start in window_starts(info.n_frames, t):
            frames = read_video_frames(path, start, t, **resize_args(self.clip, self.clip.short_side))  # (n, H, W, 3)
            if len(frames) == 0:
                if not starts:
                    raise DataError(path, "no frame could be decoded")
                break  # the header promised more frames than the file holds: keep the complete windows
            if len(frames) < t:  # a video shorter than a window (or a short last read): repeat the last frame
                frames = np.concatenate([frames, np.repeat(frames[-1:], t - len(frames), axis=0)])
            h, w = frames.shape[1:3]
            try:
                plan = center_crop(w, h, crop)
            except ValueError as err:
                raise DataError(path, str(err)) from err
            windows.append(plan.frames(frames))  # (T, crop, crop, 3)
            starts.append(start)
        return np.stack(windows), starts, info.n_frames, info.fps

    @torch.inference_mode()
    def predict(self, video: str | Path, top: int = 5, *, keep_frames: bool = True) -> Prediction:
        """Classify a video under the test protocol; see :class:`Prediction`. ``top`` is clipped to the class count."""
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        crops, starts, n_frames, fps = self.read_windows(video)
        model = self.model
        device = next(model.parameters()).device
        logits, gaze, zs, attn = [], [], [], []
        for i in range(0, len(crops), self.batch_size):
            batch = to_unit_range(crops[i:i + self.batch_size])  # (B, T, H, W, C) in [-1, 1]
            rgb = torch.from_numpy(batch).permute(0, 4, 1, 2, 3).contiguous().to(device)  # -> (B, C, T, H, W)
            out = forward_clips(model, rgb, None, test_gaze=self.test_gaze)
            logits.append(out.logits.cpu())  # (B, C)
            if out.gaze_logits is not None:
                gaze.append(predicted_gaze_map(out.gaze_logits, "expectation").cpu())  # q (B, T', H', W')
            if out.z is not None:  # attention "none" (i3d, gaze-aux): the classifier saw no z, there is no map
                zs.append(out.z.float().cpu())
                attn.append(out.attention.cpu())  # (B, T', H', W')
        window_logits = torch.cat(logits).double()  # (W, C)
        probs = torch.softmax(window_logits.mean(0), dim=-1).numpy()  # (C,)
        k = min(int(top), len(probs))
        order = np.argsort(-probs, kind="stable")[:k]
        ranked = tuple(Ranked(int(c), self.class_names[c], float(probs[c])) for c in order)
        cat = lambda xs: torch.cat(xs).numpy() if xs else None  # noqa: E731
        return Prediction(
            video=Path(video), class_names=tuple(self.class_names), probabilities=probs,
            window_logits=window_logits.numpy(), top=ranked, starts=tuple(starts), window_frames=self.clip.frames,
            n_frames=n_frames, fps=fps, test_gaze=self.test_gaze, gaze=cat(gaze), gaze_z=cat(zs),
            attention=cat(attn), frames=crops if keep_frames else None, t_stride=model.config.strides[0],
        )
