"""Where things live in an EGTEA Gaze+ folder, in the official layout and the reference's frame layout.

Official release::

    ROOT/cropped_clips/<session>/<clip>.mp4
    ROOT/gaze_data/<session>.txt            (some copies: <session>-GazeData.txt)
    ROOT/action_annotation/{action,verb,noun}_idx.txt
    ROOT/action_annotation/{train,test}_split{1,2,3}.txt

Frame folders used by the WACV 2021 reference (written by ``gazeattn prepare``, or the user's own)::

    FRAMES/images_rgb/<clip>/%04d.jpg       (frame 1 = clip frame 0)
    FRAMES/images_flow/<clip>/{u,v}/%04d.jpg

The reference's modified split 1 renames the 658 clips shorter than 24 frames to a widened frame range;
no mp4 carries those names. They are mapped back to the official clip sharing the
``session-start_ms-end_ms`` prefix (:meth:`EgteaLayout.resolve`), or reported when none matches.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from gazeattn.data.annotations import LabelIndex, SplitEntry, read_label_index, read_split
from gazeattn.data.clipnames import ClipName, parse_clip_name
from gazeattn.data.source import SUBSETS, ClipSource, detect_format, split_path_in
from gazeattn.utils.errors import DataError

__all__ = ["SUBSETS", "ClipSource", "EgteaLayout"]


class EgteaLayout:
    """Paths of one EGTEA-layout dataset, the ``"egtea"`` :class:`~gazeattn.data.source.ClipCatalog`.
    ``frames_root`` defaults to ``root`` (frame folders beside the clips)."""

    format = "egtea"

    def __init__(self, root: str | Path, frames_root: str | Path | None = None):
        self.root = Path(root)
        self.frames_root = Path(frames_root) if frames_root is not None else self.root
        if not self.root.is_dir():
            raise DataError(self.root, "dataset root is not a folder")

    # --- folders -----------------------------------------------------------------------------------
    @property
    def clips_dir(self) -> Path:
        return self.root / "cropped_clips"

    @property
    def gaze_dir(self) -> Path:
        return self.root / "gaze_data"

    @property
    def annotation_dir(self) -> Path:
        return self.root / "action_annotation"

    @property
    def rgb_root(self) -> Path:
        return self.frames_root / "images_rgb"

    @property
    def flow_root(self) -> Path:
        return self.frames_root / "images_flow"

    # --- annotations -------------------------------------------------------------------------------
    def _index(self, kind: str) -> LabelIndex | None:
        path = self.annotation_dir / f"{kind}_idx.txt"
        return read_label_index(path) if path.is_file() else None

    @cached_property
    def actions(self) -> LabelIndex | None:
        return self._index("action")

    @cached_property
    def verbs(self) -> LabelIndex | None:
        return self._index("verb")

    @cached_property
    def nouns(self) -> LabelIndex | None:
        return self._index("noun")

    def split_path(self, split: int, subset: str, folder: str | Path | None = None) -> Path:
        """``{subset}_split{split}.txt`` in ``folder`` (e.g. the reference's modified split), else in
        ``action_annotation/``."""
        return split_path_in(self.annotation_dir, split, subset, folder)

    def read_split(self, split: int, subset: str, path: str | Path | None = None) -> list[SplitEntry]:
        """Read a split (optionally from another file, e.g. the min2021 copy), checked against the indices."""
        path = Path(path) if path is not None else self.split_path(split, subset)
        if not path.is_file():
            hint = ("; the root holds labels.csv: a generic dataset? (--set data.format=generic)"
                    if detect_format(self.root) == "generic" else "")
            raise DataError(path, f"split file for split {split} ({subset}) not found{hint}")
        n = {k: (len(idx) if idx is not None else None) for k, idx in
             (("n_actions", self.actions), ("n_verbs", self.verbs), ("n_nouns", self.nouns))}
        return read_split(path, **n)

    def n_actions(self, *entry_lists: list[SplitEntry]) -> int:
        """Number of action classes: the index's size, else the largest label seen."""
        if self.actions is not None:
            return len(self.actions)
        labels = [e.action for entries in entry_lists for e in entries]
        if not labels:
            raise DataError(self.annotation_dir, "no action index and no labels to infer the class count from")
        return max(labels) + 1

    # --- media ---------------------------------------------------------------------------------------
    @cached_property
    def _session_clips(self) -> dict[str, dict[str, ClipName]]:
        """session -> {prefix -> official clip}, from the mp4 files present (one directory listing a session)."""
        table: dict[str, dict[str, ClipName]] = {}
        if self.clips_dir.is_dir():
            for session_dir in sorted(p for p in self.clips_dir.iterdir() if p.is_dir()):
                by_prefix: dict[str, ClipName] = {}
                for mp4 in sorted(session_dir.glob("*.mp4")):
                    try:
                        clip = parse_clip_name(mp4.stem, path=str(mp4))
                    except DataError:
                        continue  # foreign files are ignored here; `gazeattn check` lists them
                    by_prefix[clip.prefix] = clip
                table[session_dir.name] = by_prefix
        return table

    def video_path(self, clip: ClipName) -> Path:
        return self.clips_dir / clip.session / f"{clip.name}.mp4"

    def rgb_dir(self, clip: ClipName) -> Path:
        return self.rgb_root / clip.name

    def flow_dir(self, clip: ClipName) -> Path:
        return self.flow_root / clip.name

    def resolve(self, clip: ClipName) -> ClipSource:
        """Find the files of a split clip, mapping widened (min2021) names to the official clip."""
        media = clip
        video = self.video_path(clip)
        if not video.is_file():
            official = self._session_clips.get(clip.session, {}).get(clip.prefix)
            if official is not None:
                media = official
                video = self.video_path(official)
        video_ok = video if video.is_file() else None
        rgb = self.rgb_dir(clip) if self.rgb_dir(clip).is_dir() else None
        if rgb is None and media != clip and self.rgb_dir(media).is_dir():
            rgb = self.rgb_dir(media)
        flow_clip = clip if self.flow_dir(clip).is_dir() else media
        flow = self.flow_dir(flow_clip) if self.flow_dir(flow_clip).is_dir() else None
        if rgb is not None and video_ok is None:
            media = clip if rgb.name == clip.name else media
        return ClipSource(clip=clip, media=media, video=video_ok, rgb_dir=rgb, flow_dir=flow)

    def gaze_path(self, session: str) -> Path | None:
        """The session's gaze file (``<session>.txt`` or ``<session>*.txt``), or None (also when the dataset
        has no ``gaze_data/`` folder at all: every session is then without gaze, which callers report)."""
        from gazeattn.data.begaze import find_gaze_file

        if not self.gaze_dir.is_dir():
            return None
        return find_gaze_file(self.gaze_dir, session)

    def gaze_table(self, session: str, *, compat: str = "clean") -> np.ndarray | None:
        """The session's BeGaze file parsed (:func:`~gazeattn.data.begaze.parse_begaze`), rows = session frames at
        24 fps; None without a gaze file."""
        from gazeattn.data.begaze import parse_begaze

        path = self.gaze_path(session)
        return None if path is None else parse_begaze(path, compat=compat)
