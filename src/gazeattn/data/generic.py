"""The generic layout: the user's own videos, one gaze file per video, a labels CSV and split files -- the
``"generic"`` :class:`~gazeattn.data.source.ClipCatalog` (``data.format = "generic"``). ``docs/data-generic.md``
walks through it; the precise rules::

    ROOT/videos/<stem>.<ext>               one recording per video; ext one of VIDEO_SUFFIXES
    ROOT/gaze/<stem>.<ext>                 that video's gaze file (any extension); without one, the video's
                                           frames are untracked (no gaze target; masked out of the gaze loss)
    ROOT/gaze/<stem>.toml                  optional: its format and the format's keywords; side files
                                           <stem>.calibration.json, <stem>.frame_times.csv (data/generic_gaze.py)
    ROOT/dataset.toml                      optional: gaze_format = "begaze" (the default for every video)
    ROOT/labels.csv                        the clips (below)
    ROOT/actions.txt                       optional: the action classes, one name a line, class = line order
    ROOT/splits/{train,test}_split<N>.txt  the clips of split N: a clip id a line, or a video stem (all of its
                                           clips, in labels order); blank lines and lines from '#' are skipped
    FRAMES/images_rgb/<clip id>/%04d.jpg   optional frame folders (FRAMES = data.frames_root, default ROOT)
    FRAMES/images_flow/<clip id>/{u,v}/%04d.jpg

``labels.csv``: UTF-8, comma-separated, a header row naming the columns (any order, case-insensitive; other
columns are ignored), one clip a row:

- ``video``: the video's stem (``kitchen1`` for ``videos/kitchen1.mp4``; a file name with its extension is
  accepted too).
- the clip's span, half-open [start, end), either in seconds, ``start`` and ``end`` (decimal; frame =
  ``round(seconds × fps)`` with the video container's average frame rate, so the video must exist), or in video
  frames, ``start_frame`` and ``end_frame`` (0-based integers). The header decides; not both. A span ends by the
  video's end (the frame count of its header, + FRAME_SLACK) when the video can be opened.
- ``action``: the action's name. Class indices: the line order of ``actions.txt`` when present (a name missing
  from it is an error), else the distinct names sorted (Python string order).
- ``clip`` (optional): the clip's id, as split files name it; default ``<video>-<start>-<end>`` with the span as
  written in the file (``kitchen1-12.5-15.0``, ``kitchen1-300-360``). Ids are unique and hold no ``/``.

Gaze: the video's gaze file read by its format's reader (:data:`gazeattn.data.gaze_formats.FORMATS`; which file,
format and keywords: :mod:`gazeattn.data.generic_gaze`) into one row per video frame, ``[x / width, y / height,
type]``; clip frame i reads row ``start_frame + i``. Every damaged file gives one DataError naming the file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from gazeattn.data.annotations import LabelIndex, SplitEntry, _read_lines
from gazeattn.data.generic_gaze import DEFAULT_FORMAT, check_format, gaze_file, read_settings, video_gaze_table, \
    video_settings
from gazeattn.data.readability import FRAME_SLACK
from gazeattn.data.source import ClipSource, split_path_in
from gazeattn.data.video import VideoInfo, probe_video
from gazeattn.utils.errors import DataError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
TOML_KEYS = ("format", "gaze_format")
_SPANS = {("start", "end"): "seconds", ("start_frame", "end_frame"): "frames"}


@dataclass(frozen=True, order=True)
class GenericClip:
    """One row of ``labels.csv``: ``name`` (the clip id), ``session`` (the video's stem: the recording whose gaze
    it reads), the span [``start_frame``, ``end_frame``) in video frames."""

    name: str
    session: str
    start_frame: int
    end_frame: int

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def prefix(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class _Row:
    clip: GenericClip
    action: str
    line: int


class GenericLayout:
    """The dataset at ``root`` in the generic layout (module docstring). ``frames_root`` defaults to ``root``."""

    format = "generic"

    def __init__(self, root: str | Path, frames_root: str | Path | None = None):
        self.root = Path(root)
        self.frames_root = Path(frames_root) if frames_root is not None else self.root
        if not self.root.is_dir():
            raise DataError(self.root, "dataset root is not a folder")
        self._info: dict[str, VideoInfo] = {}

    # --- folders -----------------------------------------------------------------------------------
    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    @property
    def gaze_dir(self) -> Path:
        return self.root / "gaze"

    @property
    def labels_path(self) -> Path:
        return self.root / "labels.csv"

    @property
    def actions_path(self) -> Path:
        return self.root / "actions.txt"

    @property
    def splits_dir(self) -> Path:
        return self.root / "splits"

    @cached_property
    def settings(self) -> dict[str, str]:
        """``dataset.toml`` (empty without one); unknown keys and values are errors naming the file."""
        path = self.root / "dataset.toml"
        data = read_settings(path)
        unknown = sorted(set(data) - set(TOML_KEYS))
        if unknown:
            raise DataError(path, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(TOML_KEYS)})")
        if data.get("format", self.format) != self.format:
            raise DataError(path, f"format = {data['format']!r}, but this is read as {self.format!r}")
        return {"gaze_format": check_format(data.get("gaze_format", DEFAULT_FORMAT), path)}

    # --- videos ------------------------------------------------------------------------------------
    @cached_property
    def _videos(self) -> dict[str, Path]:
        """stem -> video file; two videos with one stem are an error."""
        found: dict[str, Path] = {}
        if self.videos_dir.is_dir():
            for path in sorted(self.videos_dir.iterdir()):
                if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
                    continue
                if path.stem in found:
                    raise DataError(path, f"two videos named {path.stem!r} ({found[path.stem].name} too)")
                found[path.stem] = path
        return found

    def video_info(self, stem: str) -> VideoInfo | None:
        """The video's frame count, size and frame rate from its header (read once), or None without a video."""
        if stem not in self._info:
            path = self._videos.get(stem)
            if path is None:
                return None
            self._info[stem] = probe_video(path)
        return self._info[stem]

    # --- labels and splits -------------------------------------------------------------------------
    @cached_property
    def _rows(self) -> list[_Row]:
        return self._read_labels()

    def _read_labels(self) -> list[_Row]:
        path = self.labels_path
        if not path.is_file():
            raise DataError(path, "no labels file (the generic layout needs labels.csv: video,start,end,action)")
        try:
            return self._labels_from(path, csv.reader(_read_lines(path)))
        except csv.Error as err:  # e.g. a field past csv's size limit
            raise DataError(path, f"not CSV: {err}") from None

    def _labels_from(self, path: Path, reader) -> list[_Row]:
        header = next(reader, None)
        cols = {name.strip().lower(): i for i, name in enumerate(header or [])}
        spans = [(span, unit) for span, unit in _SPANS.items() if all(c in cols for c in span)]
        if "video" not in cols or "action" not in cols or len(spans) != 1:
            raise DataError(path, "the header must name video, action and either start,end (seconds) or "
                            f"start_frame,end_frame (frames), got {','.join(header or [])!r}", 1)
        (start_col, end_col), unit = spans[0]
        rows: list[_Row] = []
        seen: dict[str, int] = {}
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            get = {name: (fields[i].strip() if i < len(fields) else "") for name, i in cols.items()}
            row = self._row(path, line, get, start_col, end_col, unit)
            if row.clip.name in seen:
                raise DataError(path, f"duplicate clip id {row.clip.name!r} (first on line {seen[row.clip.name]})",
                                line)
            seen[row.clip.name] = line
            rows.append(row)
        if not rows:
            raise DataError(path, "no clips in labels file")
        return rows

    def _row(self, path: Path, line: int, get: dict[str, str], start_col: str, end_col: str, unit: str) -> _Row:
        video, action = get["video"], get["action"]
        stem = Path(video).stem if Path(video).suffix.lower() in VIDEO_SUFFIXES else video
        if not stem or "/" in stem or "\\" in stem:
            raise DataError(path, f"video must be a file stem in videos/, got {video!r}", line)
        if not action:
            raise DataError(path, "empty action", line)
        start, end = self._span(path, line, stem, get[start_col], get[end_col], unit)
        name = get.get("clip") or f"{stem}-{get[start_col]}-{get[end_col]}"
        if "/" in name or "\\" in name:
            raise DataError(path, f"clip id {name!r} holds a path separator", line)
        return _Row(GenericClip(name, stem, start, end), action, line)

    def _span(self, path: Path, line: int, stem: str, start_text: str, end_text: str, unit: str) -> tuple[int, int]:
        """[start, end) in video frames from the row's text; checked against the video's length when it exists."""
        try:
            values = [float(start_text), float(end_text)] if unit == "seconds" else [int(start_text), int(end_text)]
        except ValueError:
            kind = "decimal seconds" if unit == "seconds" else "integer frames"
            raise DataError(path, f"start and end must be {kind}, got {start_text!r} and {end_text!r}", line) from None
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise DataError(path, f"start and end must be finite and >= 0, got {start_text!r} and {end_text!r}", line)
        try:
            info = self.video_info(stem)
        except DataError as err:  # spans in frames do not need the video: its damage is the media checks' to report
            if unit == "seconds":
                raise DataError(path, f"video {stem!r}: {err}", line) from None
            info = None
        if unit == "seconds":
            if info is None:
                raise DataError(path, f"no video {stem!r} in {self.videos_dir} (times in seconds need its frame rate)",
                                line)
            values = [round(v * info.fps) for v in values]
        start, end = int(values[0]), int(values[1])
        if end <= start:
            raise DataError(path, f"the clip ends (frame {end}) before it starts (frame {start})", line)
        if info is not None and end > info.n_frames + FRAME_SLACK:
            raise DataError(path, f"the clip ends at frame {end}, past the end of video {stem!r} ({info.n_frames} "
                                  "frames)", line)
        return start, end

    @cached_property
    def actions(self) -> LabelIndex:
        """The action classes: ``actions.txt`` in line order, else the labels' distinct names sorted."""
        if not self.actions_path.is_file():
            return LabelIndex(tuple(sorted({r.action for r in self._rows})), None)
        names: dict[str, int] = {}
        for line, text in enumerate(_read_lines(self.actions_path), start=1):
            name = text.strip()
            if not name or name.startswith("#"):
                continue
            if name in names:
                raise DataError(self.actions_path, f"action {name!r} given twice (first on line {names[name]})", line)
            names[name] = line
        if not names:
            raise DataError(self.actions_path, "no actions")
        return LabelIndex(tuple(names), str(self.actions_path))

    verbs = None  # the generic layout labels actions only
    nouns = None

    def split_path(self, split: int, subset: str, folder: str | Path | None = None) -> Path:
        """``{subset}_split{split}.txt`` in ``folder``, else in ``splits/``."""
        return split_path_in(self.splits_dir, split, subset, folder)

    def read_split(self, split: int, subset: str, path: str | Path | None = None) -> list[SplitEntry]:
        """The clips a split file names (a clip id, or a video stem for all its clips, a line), with their labels."""
        path = Path(path) if path is not None else self.split_path(split, subset)
        if not path.is_file():
            raise DataError(path, f"split file for split {split} ({subset}) not found")
        rows = self._rows
        classes = {name: i for i, name in enumerate(self.actions.names)}
        for row in rows:
            if row.action not in classes:
                raise DataError(self.labels_path, f"action {row.action!r} is not in {self.actions_path.name}", row.line)
        by_id = {r.clip.name: r for r in rows}
        by_video: dict[str, list[_Row]] = {}
        for r in rows:
            by_video.setdefault(r.clip.session, []).append(r)
        entries: list[SplitEntry] = []
        seen: dict[str, int] = {}
        for line, text in enumerate(_read_lines(path), start=1):
            token = text.strip()
            if not token or token.startswith("#"):
                continue
            chosen = [by_id[token]] if token in by_id else by_video.get(token)
            if not chosen:
                raise DataError(path, f"{token!r} is neither a clip id nor a video of {self.labels_path.name}", line)
            for r in chosen:
                if r.clip.name in seen:
                    raise DataError(path, f"clip {r.clip.name!r} is listed twice (first on line {seen[r.clip.name]})",
                                    line)
                seen[r.clip.name] = line
                entries.append(SplitEntry(r.clip, classes[r.action], -1, (-1,), line))
        if not entries:
            raise DataError(path, "no clips in split file")
        return entries

    def clips(self) -> list[GenericClip]:
        """Every clip of ``labels.csv``, in its order."""
        return [r.clip for r in self._rows]

    def n_actions(self, *entry_lists: Sequence[SplitEntry]) -> int:
        return len(self.actions)

    # --- media -------------------------------------------------------------------------------------
    def video_path(self, clip: GenericClip) -> Path:
        return self._videos.get(clip.session, self.videos_dir / f"{clip.session}.mp4")

    def rgb_dir(self, clip: GenericClip) -> Path:
        return self.frames_root / "images_rgb" / clip.name

    def flow_dir(self, clip: GenericClip) -> Path:
        return self.frames_root / "images_flow" / clip.name

    def resolve(self, clip: GenericClip) -> ClipSource:
        video = self._videos.get(clip.session)
        rgb, flow = self.rgb_dir(clip), self.flow_dir(clip)
        return ClipSource(clip=clip, media=clip, video=video, rgb_dir=rgb if rgb.is_dir() else None,
                          flow_dir=flow if flow.is_dir() else None, video_first_frame=clip.start_frame)

    # --- gaze --------------------------------------------------------------------------------------
    def gaze_path(self, session: str) -> Path | None:
        """``gaze/<stem>.<ext>`` (not a side file), or None; two candidates are an error naming both."""
        return gaze_file(self.gaze_dir, session)

    def gaze_format(self, session: str) -> str:
        """``gaze/<stem>.toml``'s format, else ``dataset.toml``'s gaze_format, else "begaze"."""
        return video_settings(self.gaze_dir, session, self.settings.get("gaze_format", DEFAULT_FORMAT))[0]

    def gaze_table(self, session: str, *, compat: str = "clean") -> np.ndarray | None:
        """The video's gaze, one row per video frame (module docstring); None without a gaze file."""
        path = self.gaze_path(session)
        if path is None:
            return None
        info = self.video_info(session)
        if info is None:
            raise DataError(path, f"has no video videos/{session}.* to take its frame count and rate from")
        fmt, settings = video_settings(self.gaze_dir, session, self.settings.get("gaze_format", DEFAULT_FORMAT))
        return video_gaze_table(path, fmt, settings, n_frames=info.n_frames, fps=info.fps, compat=compat)
