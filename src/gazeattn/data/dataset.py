"""The clip dataset: pixels, labels, per-frame gaze and gaze targets on the model's grid, read from any
:class:`~gazeattn.data.source.ClipCatalog` (EGTEA Gaze+, the generic layout of the user's own videos).

Each item is a dict of tensors (RGB ``(C, T, H, W)`` in [-1, 1]; batched ``(B, C, T, H, W)``):

``rgb``, optional ``flow`` (2, T, H, W), ``label`` / ``verb`` / ``noun`` (0-based), ``nouns`` (3,) padded
with −1, ``gaze_xy`` (T, 2) normalised crop coordinates, ``gaze_type`` (T,) (0 untracked, 1 fixation,
2 saccade, 3 other, 4 truncated), ``gaze_target`` (T', H', W'), ``gaze_mask`` (T',), ``gaze_cell`` (T',),
``clip_index``, ``window`` and ``start`` (first clip frame of the window), and ``crop`` (the resized frame's
width and height, the crop box x0, y0, w, h, and the flip flag).

Sampling: training draws one window per clip at a uniformly random start (the reference always used
frames 1–24, a defect), plus scale jitter, random crop and horizontal flip that move the gaze with the
pixels. Testing enumerates every non-overlapping window from frame 0 (``floor(n / T)``, at least one) with a
centre crop; evaluation averages logits over a clip's windows. Clips shorter than a window (and videos that
decode a frame or two short of their name) are padded by repeating their last decoded frame, and each padded
frame takes that frame's gaze too (x, y and type): it shows that frame's pixels, so pixels and gaze stay one
pair, as under crop and flip. (Marking padded frames untracked instead would drop known gaze, and the
``uniform`` / ``center`` missing-slot targets would then put a made-up prior on pixels whose gaze is known.)
Randomness is a pure function of (seed, epoch, index), so runs are
reproducible whatever the number of workers, and a resumed run draws the same samples.

A gaze budget (``gaze_clips``, the names of the clips whose measured gaze is kept; see
:mod:`gazeattn.data.gaze_budget`) reads every other clip as if its session had no gaze file: every frame
untracked, so its slots have no measured target (masked out of the KL under ``targets.missing="mask"``, the
prior of ``uniform`` / ``center`` otherwise) and gaze-oracle sees the uniform map there. None keeps every clip.

Clip frame i shows recording (EGTEA: session) frame ``media.start_frame + i``; its gaze is read at row
``media.start_frame + i + gaze_frame_offset`` of the recording's gaze table (default 0, the reference's convention;
another public loader uses −1).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from gazeattn.data.annotations import SplitEntry
from gazeattn.data.begaze import UNTRACKED
from gazeattn.data.readability import FRAME_SLACK, check_media, gaze_coverage
from gazeattn.data.source import ClipCatalog, ClipSource
from gazeattn.data.targets import I3D_STRIDES, GazeTargetConfig, gaze_targets
from gazeattn.data.transforms import CropFlip, center_crop, random_crop_flip, to_unit_range
from gazeattn.data.video import read_folder_frames, read_video_frames
from gazeattn.utils.errors import DataError

log = logging.getLogger(__name__)

BAD_CLIP_POLICIES = ("error", "skip")
RESIZE_MODES = ("short_side", "square")


class ClipReadError(DataError):
    """A clip failed while being read (``on_bad_clip="error"``).

    DataLoader workers send exceptions to the main process as text and re-create them there as
    ``type(text)``; a plain DataError cannot be built from one argument, so torch would turn it into a
    RuntimeError (a traceback instead of ``gazeattn train: error: file: reason``). This one can."""

    def __init__(self, path: str | Path | None, message: str | None = None, line: int | None = None):
        if message is None:  # re-created from a worker's formatted traceback: keep its last line
            text = str(path)
            reason = text.rsplit(f"{type(self).__name__}: ", 1)[-1].strip()
            super().__init__(None, f"{reason} (in a DataLoader worker)" if reason != text.strip() else text)
        else:
            super().__init__(path, message, line)


@dataclass(frozen=True)
class ClipChoices:
    """The clip settings a person chooses (defaults: the reference's shape, 24 frames, 224² crops of 256p
    frames); :class:`ClipConfig` completes them with what the model and the gaze targets decide."""

    frames: int = 24
    crop: int = 224
    short_side: int = 256
    train_short_side: tuple[int, int] = (256, 320)
    flip_prob: float = 0.5
    source: str = "auto"  # "video" (mp4), "frames" (images_rgb folders) or "auto" (mp4, else frames)
    gaze_compat: str = "clean"
    gaze_frame_offset: int = 0
    train_window: str = "random"  # "random" or "first" (the reference's defect, for reproduction studies)
    # "short_side": the shorter side resized to short_side, aspect kept (the reference; the crop drops the sides);
    # "square": the whole frame resized to short_side × short_side (aspect not kept, nothing outside the crop's
    # margin is lost -- the CPU preset, so objects near the frame's edges stay in view at test time)
    resize: str = "short_side"

    def __post_init__(self) -> None:
        if self.source not in ("auto", "video", "frames"):
            raise ValueError(f"source must be auto, video or frames, got {self.source!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.train_window not in ("random", "first"):
            raise ValueError(f"train_window must be random or first, got {self.train_window!r}")
        if self.frames < 1 or self.crop < 1:
            raise ValueError("frames and crop must be positive")
        lo, hi = self.train_short_side
        if not (self.crop <= lo <= hi):
            raise ValueError(f"train_short_side {self.train_short_side} must satisfy crop <= lo <= hi")
        if self.short_side < self.crop:
            raise ValueError(f"short_side {self.short_side} is smaller than crop {self.crop}")


@dataclass(frozen=True)
class ClipConfig(ClipChoices):
    """How clips become model inputs: the :class:`ClipChoices` and what the model and the gaze-target policy
    decide: ``strides`` (the backbone's total strides, which size the gaze grid; tiny: (8, s, s), s = 8, 16, 32),
    ``flow`` (read the flow frames: the two_stream and flow models) and ``targets``."""

    strides: tuple[int, int, int] = I3D_STRIDES
    flow: bool = False
    targets: GazeTargetConfig = field(default_factory=GazeTargetConfig)

    @classmethod
    def complete(cls, choices: ClipChoices, *, strides: tuple[int, int, int], flow: bool,
                 targets: GazeTargetConfig) -> "ClipConfig":
        """``choices`` (any :class:`ClipChoices`) completed with what the model and the targets decide."""
        chosen = {f.name: getattr(choices, f.name) for f in dataclasses.fields(ClipChoices)}
        return cls(**chosen, strides=strides, flow=flow, targets=targets)


def resize_args(config: ClipConfig, short_side: int) -> dict[str, Any]:
    """The frame readers' resize arguments for a frame size ``short_side`` under ``config.resize``."""
    if config.resize == "square":
        return {"size": (short_side, short_side)}
    return {"short_side": short_side}


def window_starts(n_frames: int, window: int) -> list[int]:
    """Non-overlapping windows from frame 0: floor(n / window) of them, at least one."""
    return [i * window for i in range(max(1, n_frames // window))]


def _pad_frames(frames: np.ndarray, count: int) -> np.ndarray:
    if len(frames) >= count:
        return frames[:count]
    pad = np.repeat(frames[-1:], count - len(frames), axis=0)
    return np.concatenate([frames, pad], axis=0)


class EgteaClips(Dataset):
    """Clips of one split subset. ``train`` picks random windows and augmentation; otherwise all windows.

    Bad clips (``on_bad_clip``): clips without media are found at construction; with ``validate=True`` every
    video is also opened and demuxed and every gaze file parsed (:mod:`gazeattn.data.readability`), so broken
    files are found before training. ``"error"`` raises one DataError listing them all; ``"skip"`` leaves them
    out. A clip that still fails while being read is skipped (``__getitem__`` returns None) or raises.
    Skips are kept in ``skipped`` of the process that saw them; DataLoader workers hold copies, so with
    ``skip_log`` each skip is also appended to that JSON-lines file and :meth:`all_skipped` merges them.
    ``gaze_clips``: the names of the clips whose measured gaze is read (None: all); the others read as untracked.
    """

    def __init__(
        self,
        layout: ClipCatalog,
        entries: Sequence[SplitEntry],
        config: ClipConfig = ClipConfig(),
        *,
        train: bool,
        on_bad_clip: str = "error",
        seed: int = 0,
        validate: bool = False,
        skip_log: str | Path | None = None,
        gaze_clips: frozenset[str] | None = None,
    ):
        if on_bad_clip not in BAD_CLIP_POLICIES:
            raise ValueError(f"on_bad_clip must be one of {BAD_CLIP_POLICIES}, got {on_bad_clip!r}")
        self.layout = layout
        self.config = config
        self.train = train
        self.on_bad_clip = on_bad_clip
        self.seed = seed
        self.epoch = 0
        self.skipped: list[tuple[str, str]] = []  # (clip, reason), in this process only (see all_skipped)
        self.skip_log = Path(skip_log) if skip_log is not None else None
        self.gaze_clips = gaze_clips
        self.sessions_without_gaze: list[str] = []
        self.clips_beyond_gaze: list[tuple[str, int, int]] = []  # (clip, untracked frames past the file, frames)
        self._gaze_cache: dict[str, np.ndarray | None] = {}

        sources: list[ClipSource] = []
        kept: list[SplitEntry] = []
        problems: list[tuple[str, str]] = []
        for entry in entries:
            src = layout.resolve(entry.clip)
            reason = self._missing_reason(src)
            if reason is None:
                sources.append(src)
                kept.append(entry)
            else:
                problems.append((entry.clip.name, reason))
        if validate:
            sources, kept = self._validate(sources, kept, problems)
        if problems:
            self._report_bad(problems)
        self.entries = kept
        self.sources = sources
        self._parse_gaze_here()
        self.items: list[tuple[int, int]] = []  # (entry index, window start; -1 = random at train time)
        for i, entry in enumerate(kept):
            if train:
                self.items.append((i, -1))
            else:
                self.items += [(i, s) for s in window_starts(sources[i].media.n_frames, config.frames)]

    # --- validation ------------------------------------------------------------------------------------
    def _missing_reason(self, src: ClipSource) -> str | None:
        cfg = self.config
        if cfg.source == "video" and src.video is None:
            return f"no mp4 at {self.layout.video_path(src.clip)}"
        if cfg.source == "frames" and src.rgb_dir is None:
            return f"no frame folder at {self.layout.rgb_dir(src.clip)}"
        if not src.available:
            return f"no mp4 at {self.layout.video_path(src.clip)} and no frame folder at {self.layout.rgb_dir(src.clip)}"
        if cfg.flow and src.flow_dir is None:
            return f"no flow folder at {self.layout.flow_dir(src.clip)} (run `gazeattn prepare`)"
        return None

    def _validate(self, sources: list[ClipSource], kept: list[SplitEntry],
                  problems: list[tuple[str, str]]) -> tuple[list[ClipSource], list[SplitEntry]]:
        """Open and demux every video (no decoding) and parse every gaze file before anything is read.

        Broken media and unparsable gaze files join ``problems``; sessions without gaze and clips past the end
        of their gaze file are only warned about (their frames are untracked, so masked in the gaze loss)."""
        cfg = self.config
        reasons = check_media(sources, source=cfg.source)
        coverage = gaze_coverage(self.layout, sources, compat=cfg.gaze_compat, frame_offset=cfg.gaze_frame_offset)
        good_sources, good_entries = [], []
        for src, entry, reason in zip(sources, kept, reasons):
            reason = reason or coverage.unreadable.get(src.media.session)
            if reason is None:
                good_sources.append(src)
                good_entries.append(entry)
            else:
                problems.append((entry.clip.name, reason))
        self.sessions_without_gaze = coverage.sessions_without_gaze
        self._gaze_cache.update(coverage.tables)  # parsed once: the loader reads these
        good_names = {e.clip.name for e in good_entries}
        self.clips_beyond_gaze = [b for b in coverage.beyond if b[0] in good_names]
        if self.sessions_without_gaze:
            n = sum(s.media.session in self.sessions_without_gaze for s in good_sources)
            log.warning("%d session(s) have no gaze file in %s: %s; their %d clip(s) are trained with every gaze "
                        "frame untracked (masked out of the gaze loss)", len(self.sessions_without_gaze),
                        self.layout.gaze_dir, ", ".join(self.sessions_without_gaze), n)
        if self.clips_beyond_gaze:
            listing = ", ".join(f"{clip} ({k} of {n} frames)" for clip, k, n in self.clips_beyond_gaze[:20])
            more = f", ... and {len(self.clips_beyond_gaze) - 20} more" if len(self.clips_beyond_gaze) > 20 else ""
            log.warning("%d clip(s) reach past the end of their session's gaze file; those frames are untracked "
                        "(masked out of the gaze loss): %s%s", len(self.clips_beyond_gaze), listing, more)
        return good_sources, good_entries

    def _record_skip(self, clip: str, reason: str) -> None:
        """Remember a skipped clip here and, with ``skip_log``, in a file every DataLoader worker appends to."""
        self.skipped.append((clip, reason))
        if self.skip_log is None:
            return
        line = json.dumps({"clip": clip, "reason": reason[:1000], "pid": os.getpid()}) + "\n"
        try:  # one short O_APPEND write per record: lines from several processes never interleave
            with open(self.skip_log, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError as err:
            log.warning("cannot record skipped clip %s in %s: %s", clip, self.skip_log, err)

    def all_skipped(self) -> list[tuple[str, str]]:
        """Every clip skipped so far, in any process: this process's list plus ``skip_log``; first reason per clip."""
        records = list(self.skipped)
        if self.skip_log is not None and self.skip_log.is_file():
            for text in self.skip_log.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rec = json.loads(text)
                    records.append((str(rec["clip"]), str(rec["reason"])))
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a kill mid-write
        seen: dict[str, str] = {}
        for clip, why in records:
            seen.setdefault(clip, why)
        return list(seen.items())

    def _report_bad(self, problems: list[tuple[str, str]]) -> None:
        """``on_bad_clip="error"``: one DataError listing the clips, one line when they share one reason (a damaged
        gaze file or calibration stops every clip of its recording); "skip": each is logged and recorded."""
        if self.on_bad_clip == "error" and len({why for _, why in problems}) == 1:
            names = ", ".join(clip for clip, _ in problems[:20]) + (
                f", ... and {len(problems) - 20} more" if len(problems) > 20 else "")
            raise DataError(self.layout.root, f"{len(problems)} clip(s) cannot be read ({names}; use --on-bad-clip "
                                              f"skip to leave them out): {problems[0][1]}")
        if self.on_bad_clip == "error":
            listing = "\n".join(f"  {clip}: {why}" for clip, why in problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise DataError(self.layout.root, f"{len(problems)} clip(s) cannot be read "
                            f"(use --on-bad-clip skip to leave them out):\n{listing}{more}")
        for clip, why in problems:
            log.warning("skipping clip %s: %s", clip, why)
            self._record_skip(clip, why)

    # --- sampling --------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Training draws depend on (seed, epoch, index): call once per epoch for fresh draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _rng(self, index: int, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, index])

    def _parse_gaze_here(self) -> None:
        """Parse the gaze table of every session now, in the process that builds the dataset: DataLoader workers
        get the tables with it and never parse one, so a gaze file is read, and warned about, once rather than once
        per worker. A file that cannot be parsed is left to fail when one of its clips is read."""
        for session in sorted({src.media.session for src in self.sources} - self._gaze_cache.keys()):
            try:
                self.session_gaze(session)
            except DataError:
                pass

    def clip_has_gaze(self, entry_index: int) -> bool:
        """Whether clip ``entry_index`` is read with measured gaze: kept by the gaze budget and its session has a
        gaze file (its frames may still be untracked in places)."""
        src = self.sources[entry_index]
        if self.gaze_clips is not None and src.clip.name not in self.gaze_clips:
            return False
        try:
            return self.session_gaze(src.media.session) is not None
        except DataError:
            return False

    def session_gaze(self, session: str) -> np.ndarray | None:
        """The recording's per-frame gaze table (n, 3), read once per process; None when it has no gaze."""
        if session not in self._gaze_cache:
            self._gaze_cache[session] = self.layout.gaze_table(session, compat=self.config.gaze_compat)
        return self._gaze_cache[session]

    def _frame_gaze(self, src: ClipSource, start: int, count: int,
                    real: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Normalised full-frame gaze (count, 2) and types (count,) for clip frames start..start+count-1.
        With ``real`` (frames decoded), padded frames ``real..count-1`` repeat the gaze of frame real-1, as their
        pixels repeat that frame."""
        xy = np.zeros((count, 2), np.float64)
        types = np.full(count, UNTRACKED, np.int64)
        if self.gaze_clips is not None and src.clip.name not in self.gaze_clips:  # left out by the gaze budget
            return xy, types
        table = self.session_gaze(src.media.session)
        if table is None:
            return xy, types
        clip_frames = np.arange(count) if real is None else np.minimum(np.arange(count), max(real, 1) - 1)
        frames = src.media.start_frame + start + self.config.gaze_frame_offset + clip_frames
        inside = (frames >= 0) & (frames < len(table))
        xy[inside] = table[frames[inside], :2]
        types[inside] = table[frames[inside], 2].astype(np.int64)
        return xy, types

    def _read_rgb(self, src: ClipSource, start: int, count: int, short_side: int) -> tuple[np.ndarray, int]:
        """``count`` frames from ``start`` (padded by repeating the last one) and how many were decoded."""
        use_video = src.video is not None and self.config.source != "frames"
        if use_video:
            frames = read_video_frames(src.video, src.video_first_frame + start, count,
                                       **resize_args(self.config, short_side))
            where = src.video
        else:
            frames = read_folder_frames(src.rgb_dir, start, count, **resize_args(self.config, short_side))
            where = src.rgb_dir
        needed = min(count, max(src.media.n_frames - start, 1))
        if len(frames) < needed - FRAME_SLACK or len(frames) == 0:  # a frame or two short: how the release was cut
            raise DataError(where, f"has only {start + len(frames)} readable frames, the clip name says "
                                   f"{src.media.n_frames} (truncated or corrupt?)")
        return _pad_frames(frames, count), min(len(frames), count)

    def _read_flow(self, src: ClipSource, start: int, count: int, short_side: int) -> np.ndarray:
        size = resize_args(self.config, short_side)
        u = read_folder_frames(src.flow_dir / "u", start, count, gray=True, **size)
        v = read_folder_frames(src.flow_dir / "v", start, count, gray=True, **size)
        n = min(len(u), len(v))
        return _pad_frames(np.stack([u[:n], v[:n]], axis=-1), count)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        """``ds[index]`` draws with the dataset's current epoch; ``ds[(index, epoch)]`` names the epoch, so a
        sampler can drive the randomness from the main process (DataLoader workers hold their own copies)."""
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        entry_index, start = self.items[index]
        src = self.sources[entry_index]
        try:
            return self._load(index, entry_index, start, epoch)
        except DataError as err:
            if self.on_bad_clip == "skip":
                if src.clip.name not in dict(self.all_skipped()):  # said (and recorded) once, not at every read
                    log.warning("skipping clip %s: %s", src.clip.name, err)
                    self._record_skip(src.clip.name, str(err))
                return None
            raise ClipReadError(err.path, err.reason, err.line) from err

    def _load(self, index: int, entry_index: int, start: int, epoch: int) -> dict[str, Any]:
        cfg = self.config
        entry, src = self.entries[entry_index], self.sources[entry_index]
        n_frames = src.media.n_frames
        rng = self._rng(index, epoch)
        if start < 0:  # training window
            last = max(n_frames - cfg.frames, 0)
            start = 0 if cfg.train_window == "first" else int(rng.integers(0, last + 1))
            lo, hi = cfg.train_short_side
            short_side = int(rng.integers(lo, hi + 1))
        else:
            short_side = cfg.short_side

        frames, real = self._read_rgb(src, start, cfg.frames, short_side)
        h, w = frames.shape[1:3]
        plan: CropFlip = (random_crop_flip(w, h, cfg.crop, rng, flip_prob=cfg.flip_prob) if self.train
                          else center_crop(w, h, cfg.crop))
        rgb = to_unit_range(plan.frames(frames))  # (T, H, W, 3)

        xy_full, types = self._frame_gaze(src, start, cfg.frames, real)  # padded frames: the last frame's gaze
        xy = plan.points(xy_full)
        targets = gaze_targets(xy, types, crop_size=(cfg.crop, cfg.crop), strides=cfg.strides, config=cfg.targets)

        nouns = list(entry.nouns[:3]) + [-1] * (3 - len(entry.nouns[:3]))
        item: dict[str, Any] = {
            "rgb": torch.from_numpy(rgb).permute(3, 0, 1, 2).contiguous(),  # (T,H,W,C) -> (C,T,H,W)
            "label": entry.action,
            "verb": entry.verb,
            "noun": entry.noun,
            "nouns": torch.tensor(nouns, dtype=torch.long),
            "gaze_xy": torch.from_numpy(xy.astype(np.float32)),
            "gaze_type": torch.from_numpy(types),
            "gaze_target": torch.from_numpy(targets["gaze_target"]),
            "gaze_mask": torch.from_numpy(targets["gaze_mask"]),
            "gaze_cell": torch.from_numpy(targets["gaze_cell"]),
            "clip_index": entry_index,
            "window": start // cfg.frames if not self.train else 0,
            "start": start,
            # the spatial plan, so gaze and pixels can be related afterwards (overlays, tests)
            "crop": torch.tensor([plan.frame_width, plan.frame_height, plan.x0, plan.y0, plan.width, plan.height,
                                  int(plan.flip)], dtype=torch.long),
        }
        if cfg.flow:
            flow = self._read_flow(src, start, cfg.frames, short_side)
            flow = plan.flow(to_unit_range(flow))  # (T,H,W,2), u negated on flip
            item["flow"] = torch.from_numpy(np.ascontiguousarray(flow)).permute(3, 0, 1, 2).contiguous()
        return item


def collate_clips(batch: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """default_collate after dropping clips that were skipped (None); None when all were skipped."""
    kept = [b for b in batch if b is not None]
    return default_collate(kept) if kept else None
