"""The seam between a dataset on disk and everything that reads one: :class:`ClipCatalog`, and
:func:`open_dataset`, the one place a dataset format is chosen (``data.format`` of a run's config).

A catalog answers four questions, whatever the folder looks like:

1. **Which clips, with which labels, in which split?** :meth:`~ClipCatalog.read_split` reads the split file
   (``split_path``: ``{train,test}_split{N}.txt``, named by :func:`split_file_name` and nowhere else) into
   :class:`~gazeattn.data.annotations.SplitEntry` rows (0-based labels; ``verb``/``nouns`` −1 where a format
   has none); ``actions`` names the classes (or None), ``n_actions`` counts them.
2. **Where are a clip's frames?** :meth:`~ClipCatalog.resolve` gives a :class:`ClipSource`: a video (clip frame
   i is video frame ``video_first_frame + i``), or a frame folder (``%04d.jpg``, file 1 = clip frame 0), and
   optional flow frames. ``video_path``/``rgb_dir``/``flow_dir`` say where they were looked for.
3. **Where was the wearer looking?** :meth:`~ClipCatalog.gaze_table` gives a recording's per-frame table, float32
   ``(n_frames, 3)`` = ``[x / width, y / height, type]`` with the types of :mod:`gazeattn.data.begaze`
   (UNTRACKED 0, FIXATION 1, SACCADE 2, OTHER 3, TRUNCATED 4), or None when the recording has no gaze (every
   frame untracked). A clip's frame i has its gaze at row ``clip.start_frame + i`` (+ the clip config's
   ``gaze_frame_offset``) of its recording's (``clip.session``) table. ``gaze_path`` names the file read.
4. **Who is it?** ``root``, ``format``, ``gaze_dir`` (for messages).

Clips (``SplitEntry.clip``, ``ClipSource.clip``/``media``) have ``name`` (the id in split files), ``session``
(the recording whose gaze table they read), ``start_frame``, ``end_frame``, ``n_frames`` and ``prefix``:
:class:`~gazeattn.data.clipnames.ClipName` for EGTEA, :class:`~gazeattn.data.generic.GenericClip` otherwise.

Formats (:data:`FORMATS`):

- ``"egtea"`` — EGTEA Gaze+ as it ships (:class:`~gazeattn.data.layout.EgteaLayout`; the synthetic worlds of
  ``gazeattn synth`` too): one mp4 per clip, one BeGaze file per session.
- ``"generic"`` — the user's own videos (:class:`~gazeattn.data.generic.GenericLayout`, ``docs/data-generic.md``)::

      ROOT/videos/<stem>.mp4                 one recording per video (.mp4 .mov .mkv .avi .webm)
      ROOT/gaze/<stem>.<ext>                 its gaze file (none: no gaze), in the format of gaze/<stem>.toml,
                                             else dataset.toml's gaze_format, else "begaze" (any format of
                                             gazeattn.data.gaze_formats; data/generic_gaze.py)
      ROOT/labels.csv                        header + rows: [clip,] video, start, end, action   (seconds)
                                                       or: [clip,] video, start_frame, end_frame, action
      ROOT/actions.txt                       optional: one action name a line; class = line order
                                             (without it: the labels' names, sorted)
      ROOT/splits/{train,test}_split<N>.txt  one clip id (or a video stem: all its clips) a line
      ROOT/dataset.toml                      optional: gaze_format = "begaze"

A new format: one implementation, a class with these methods (a module in ``data/``; ``generic.py`` is the one
to copy), and one registration, ``FORMATS.add(name, opener)`` below. ``data.format``, ``gazeattn check --format``
and ``gazeattn prepare --format`` read the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from gazeattn.data.annotations import LabelIndex, SplitEntry
from gazeattn.utils.registry import Registry

SUBSETS = ("train", "test")


def split_file_name(split: int, subset: str) -> str:
    """``{subset}_split{split}.txt``: the one place a split file is named."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    return f"{subset}_split{split}.txt"


@dataclass(frozen=True)
class ClipSource:
    """Where the pixels of a split clip come from.

    ``clip`` is the clip of the split file; ``media`` the clip whose files are read (the same clip, or the
    official clip a widened EGTEA min2021 name maps to). ``video``/``rgb_dir``/``flow_dir`` are None when
    absent. ``video_first_frame``: the video frame showing clip frame 0 (0 when the video is the clip, as in
    EGTEA; the clip's start frame when it is a segment of a longer recording). Frame folders always start at the
    clip's frame 0.
    """

    clip: Any
    media: Any
    video: Path | None
    rgb_dir: Path | None
    flow_dir: Path | None
    video_first_frame: int = 0

    @property
    def remapped(self) -> bool:
        return self.media != self.clip

    @property
    def available(self) -> bool:
        return self.video is not None or self.rgb_dir is not None


@runtime_checkable
class ClipCatalog(Protocol):
    """A dataset: its clips by split with labels, each clip's frames, and gaze per recording frame (see the module
    docstring for the conventions)."""

    root: Path
    format: str

    @property
    def gaze_dir(self) -> Path: ...

    @property
    def actions(self) -> LabelIndex | None: ...

    def split_path(self, split: int, subset: str, folder: str | Path | None = None) -> Path:
        """The split file: ``folder`` (e.g. a run's ``data.split_dir``) or the dataset's own folder, named by
        :func:`split_file_name`."""
        ...

    def read_split(self, split: int, subset: str, path: str | Path | None = None) -> list[SplitEntry]:
        """The clips of a split file (default :meth:`split_path`); DataError naming the file and line."""
        ...

    def n_actions(self, *entry_lists: Sequence[SplitEntry]) -> int: ...

    def resolve(self, clip: Any) -> ClipSource: ...

    def video_path(self, clip: Any) -> Path: ...

    def rgb_dir(self, clip: Any) -> Path: ...

    def flow_dir(self, clip: Any) -> Path: ...

    def gaze_path(self, session: str) -> Path | None: ...

    def gaze_table(self, session: str, *, compat: str = "clean") -> np.ndarray | None:
        """The recording's per-frame table, float32 (n, 3) = [x / width, y / height, type]; None without gaze."""
        ...


Opener = Callable[[Path, "Path | None"], ClipCatalog]  # (root, frames_root) -> the catalog
FORMATS: Registry[Opener] = Registry("dataset format")


def _egtea(root: Path, frames_root: Path | None) -> ClipCatalog:
    from gazeattn.data.layout import EgteaLayout  # imported when used: layout.py imports this module

    return EgteaLayout(root, frames_root)


def _generic(root: Path, frames_root: Path | None) -> ClipCatalog:
    from gazeattn.data.generic import GenericLayout

    return GenericLayout(root, frames_root)


FORMATS.add("egtea", _egtea)  # EGTEA Gaze+ as it ships (data/layout.py), and gazeattn synth's worlds
FORMATS.add("generic", _generic)  # the user's own videos (data/generic.py, docs/data-generic.md)


def open_dataset(root: str | Path, *, format: str = "egtea", frames_root: str | Path | None = None) -> ClipCatalog:
    """The dataset at ``root`` read as ``format`` (a name of :data:`FORMATS`; ValueError listing them otherwise);
    ``frames_root`` holds the frame and flow folders (``images_rgb/``, ``images_flow/``; default ``root``).
    DataError when ``root`` is not a folder."""
    return FORMATS[format](Path(root), Path(frames_root) if frames_root is not None else None)


def detect_format(root: str | Path) -> str:
    """The format of the dataset at ``root`` for commands that take a bare folder (``check``, ``prepare``):
    ``"generic"`` when it holds ``labels.csv``, else ``"egtea"``."""
    return "generic" if (Path(root) / "labels.csv").is_file() else "egtea"


def split_path_in(default_folder: Path, split: int, subset: str, folder: str | Path | None = None) -> Path:
    """``folder`` (when given and not empty) else ``default_folder``, joined with the split file's name."""
    return Path(folder or default_folder) / split_file_name(split, subset)
