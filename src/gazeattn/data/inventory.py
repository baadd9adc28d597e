"""`gazeattn check`: an inventory of what a dataset folder (any :class:`~gazeattn.data.source.ClipCatalog`
format) has and lacks, before anything is trained on it. (Whether every clip of a split can be read, checked when a
training dataset is built, is :mod:`gazeattn.data.readability`.)"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gazeattn.data.annotations import SplitEntry
from gazeattn.data.begaze import FIXATION, SACCADE, TRUNCATED
from gazeattn.data.source import SUBSETS, ClipCatalog, open_dataset
from gazeattn.data.video import probe_video
from gazeattn.utils.errors import DataError

_LIST_LIMIT = 50  # clips listed per problem; counts are always complete
_COVERAGE_LINES = 20  # recordings whose gaze coverage the text report lists (the JSON lists every one)


@dataclass
class SubsetReport:
    file: str
    n_clips: int = 0
    n_remapped: int = 0  # widened (min2021) names read from the official clip's mp4
    missing_media: list[str] = field(default_factory=list)
    n_missing_media: int = 0
    action_range: tuple[int, int] | None = None  # 1-based, as in the file
    n_actions_seen: int = 0
    n_shorter_than_window: int = 0
    length_min: int = 0
    length_median: float = 0.0
    length_max: int = 0
    no_fixation: list[str] = field(default_factory=list)
    n_no_fixation: int = 0
    unreadable: list[str] = field(default_factory=list)


@dataclass
class RecordingGaze:
    """One recording's gaze as its format's reader gives it (the per-frame table): how many frames have a measured
    point (fixation, saccade or truncated: outside the frame) and how many are fixations."""

    session: str
    format: str
    n_frames: int
    n_with_gaze: int
    n_fixation: int


@dataclass
class DatasetReport:
    root: str
    split: int
    format: str = "egtea"
    n_actions: int | None = None
    n_verbs: int | None = None
    n_nouns: int | None = None
    subsets: dict[str, SubsetReport] = field(default_factory=dict)
    sessions: int = 0
    sessions_without_gaze: list[str] = field(default_factory=list)
    gaze_errors: list[str] = field(default_factory=list)
    gaze_coverage: list[RecordingGaze] = field(default_factory=list)  # recordings with a readable gaze file
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.errors or self.gaze_errors or self.sessions_without_gaze or any(
            s.n_missing_media or s.unreadable for s in self.subsets.values()))

    def to_json(self) -> dict:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def _error(report: DatasetReport, err: DataError) -> None:
    """Record an error once (a damaged labels file stops both subsets' split files, but is one problem)."""
    if str(err) not in report.errors:
        report.errors.append(str(err))


def _fixation_frames(table: np.ndarray | None) -> np.ndarray | None:
    if table is None:
        return None
    return table[:, 2] == FIXATION


def _session_fixations(catalog: ClipCatalog, sessions: list[str], report: DatasetReport
                        ) -> dict[str, np.ndarray | None]:
    """Each recording's per-frame "is a fixation" flags (None without usable gaze, recorded in ``report``)."""
    fixations: dict[str, np.ndarray | None] = {}
    for session in sessions:
        fixations[session] = None
        try:
            table = catalog.gaze_table(session)
        except DataError as err:
            report.gaze_errors.append(str(err))
            continue
        if table is None:
            report.sessions_without_gaze.append(session)
            continue
        fixations[session] = _fixation_frames(table)
        fmt = catalog.gaze_format(session) if hasattr(catalog, "gaze_format") else "begaze"
        report.gaze_coverage.append(RecordingGaze(
            session=session, format=fmt, n_frames=int(table.shape[0]), n_fixation=int(fixations[session].sum()),
            n_with_gaze=int(np.isin(table[:, 2], (FIXATION, SACCADE, TRUNCATED)).sum())))
    return fixations


def _label_indices(catalog: ClipCatalog, report: DatasetReport) -> None:
    """The class-name indices' sizes (EGTEA: actions, verbs, nouns; generic: actions), a warning for each missing."""
    for attr, name in (("n_actions", "actions"), ("n_verbs", "verbs"), ("n_nouns", "nouns")):
        try:
            idx = getattr(catalog, name, None)
            setattr(report, attr, None if idx is None else len(idx))
        except DataError as err:
            _error(report, err)
    if catalog.format != "egtea":
        return
    missing = [f"{kind}_idx.txt" for kind, n in (("action", report.n_actions), ("verb", report.n_verbs),
                                                ("noun", report.n_nouns)) if n is None]
    if missing:
        report.warnings.append(f"{catalog.annotation_dir}: no {', '.join(missing)}: label ranges are not checked "
                               "and class names are unknown (classes are numbered from the split files)")


def _read_subsets(catalog: ClipCatalog, report: DatasetReport, split_dir: str | Path | None
                  ) -> dict[str, list[SplitEntry]]:
    """Each subset's split file read (a damaged one is an error of the report, naming file and line)."""
    subsets: dict[str, list[SplitEntry]] = {}
    for subset in SUBSETS:
        path = catalog.split_path(report.split, subset, split_dir)
        try:
            subsets[subset] = catalog.read_split(report.split, subset, path)
        except DataError as err:
            _error(report, err)
            continue
        report.subsets[subset] = SubsetReport(file=str(path))
    return subsets


def _check_clip(catalog: ClipCatalog, entry: SplitEntry, fixations: dict[str, np.ndarray | None],
                sub: SubsetReport, probe_videos: bool) -> int:
    """Record one clip's problems in ``sub``; returns its length in frames."""
    src = catalog.resolve(entry.clip)
    sub.n_remapped += src.remapped
    if not src.available:
        sub.n_missing_media += 1
        if len(sub.missing_media) < _LIST_LIMIT:
            sub.missing_media.append(entry.clip.name)
        return src.media.n_frames
    fix = fixations.get(src.media.session)
    lo, hi = src.media.start_frame, src.media.start_frame + src.media.n_frames
    if fix is None or not fix[max(lo, 0):max(min(hi, len(fix)), 0)].any():
        sub.n_no_fixation += 1
        if len(sub.no_fixation) < _LIST_LIMIT:
            sub.no_fixation.append(entry.clip.name)
    if probe_videos and src.video is not None:
        try:
            info = probe_video(src.video, count=True)
            if info.n_frames < src.video_first_frame + src.media.n_frames - 2:
                sub.unreadable.append(f"{src.video}: {info.n_frames} frames, the clip needs "
                                      f"{src.video_first_frame + src.media.n_frames}")
        except DataError as err:
            sub.unreadable.append(str(err))
    return src.media.n_frames


def check_dataset(
    root: str | Path, *, split: int = 1, window: int = 24, split_dir: str | Path | None = None,
    probe_videos: bool = False, frames_root: str | Path | None = None, format: str = "egtea",
) -> DatasetReport:
    """Inspect a dataset (``format``: one of :data:`~gazeattn.data.source.FORMATS`); problems are recorded in the
    report, not raised (except an unusable root)."""
    catalog = open_dataset(root, format=format, frames_root=frames_root)
    report = DatasetReport(root=str(catalog.root), split=split, format=catalog.format)
    _label_indices(catalog, report)
    subsets = _read_subsets(catalog, report, split_dir)
    sessions = sorted({e.clip.session for entries in subsets.values() for e in entries})
    report.sessions = len(sessions)
    fixations = _session_fixations(catalog, sessions, report)
    for subset, entries in subsets.items():
        sub = report.subsets[subset]
        sub.n_clips = len(entries)
        actions = [e.action + 1 for e in entries]
        sub.action_range = (min(actions), max(actions))
        sub.n_actions_seen = len(set(actions))
        lengths = [_check_clip(catalog, e, fixations, sub, probe_videos) for e in entries]
        sub.n_shorter_than_window = sum(n < window for n in lengths)
        sub.length_min, sub.length_max = min(lengths), max(lengths)
        sub.length_median = float(statistics.median(lengths))
    return report


def format_report(report: DatasetReport, *, window: int = 24) -> str:
    title = {"egtea": "EGTEA-layout", "generic": "Generic-layout"}.get(report.format, report.format)
    lines = [f"{title} dataset at {report.root} (split {report.split})"]
    def count(n: int | None, what: str) -> str:
        return f"{n} {what}" if n is not None else f"no {what} index"

    if report.format == "egtea":
        lines.append(f"  label indices: {count(report.n_actions, 'actions')}, {count(report.n_verbs, 'verbs')}, "
                     f"{count(report.n_nouns, 'nouns')}")
    else:
        lines.append(f"  actions: {count(report.n_actions, 'classes')}")
    lines.append(f"  sessions in split: {report.sessions}; without a gaze file: {len(report.sessions_without_gaze)}"
                 + (f" ({', '.join(report.sessions_without_gaze[:10])})" if report.sessions_without_gaze else ""))
    for subset, sub in report.subsets.items():
        lines.append(f"  {subset}: {sub.n_clips} clips from {sub.file}")
        lines.append(f"    actions {sub.action_range[0]}..{sub.action_range[1]} (1-based), {sub.n_actions_seen} distinct"
                     if sub.action_range else "    no actions")
        lines.append(f"    length in frames: min {sub.length_min}, median {sub.length_median:g}, max {sub.length_max}; "
                     f"{sub.n_shorter_than_window} shorter than the {window}-frame window")
        if sub.n_remapped:
            lines.append(f"    {sub.n_remapped} widened clip names read from the official clip's mp4")
        lines.append(f"    without mp4 or frame folder: {sub.n_missing_media}"
                     + (f" (e.g. {', '.join(sub.missing_media[:3])})" if sub.missing_media else ""))
        lines.append(f"    with no fixation in range: {sub.n_no_fixation}"
                     + (f" (e.g. {', '.join(sub.no_fixation[:3])})" if sub.no_fixation else ""))
        for bad in sub.unreadable[:10]:
            lines.append(f"    unreadable: {bad}")
    lines += _coverage_lines(report.gaze_coverage)
    for err in report.gaze_errors + report.errors:
        lines.append(f"  error: {err}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    lines.append("  OK" if report.ok else "  problems found (see above)")
    return "\n".join(lines)


def _coverage_lines(coverage: list[RecordingGaze]) -> list[str]:
    """The gaze coverage of the recordings with gaze: all together, then each (the first :data:`_COVERAGE_LINES`)."""
    if not coverage:
        return []

    def share(n: int, of: int) -> str:
        return f"{100.0 * n / of:.1f} %" if of else "-"

    frames = sum(c.n_frames for c in coverage)
    lines = [f"  gaze coverage: {share(sum(c.n_with_gaze for c in coverage), frames)} of {frames} frames with gaze, "
             f"{share(sum(c.n_fixation for c in coverage), frames)} fixations ({len(coverage)} recordings)"]
    lines += [f"    {c.session} ({c.format}): {c.n_frames} frames, with gaze {share(c.n_with_gaze, c.n_frames)}, "
              f"fixations {share(c.n_fixation, c.n_frames)}" for c in coverage[:_COVERAGE_LINES]]
    if len(coverage) > _COVERAGE_LINES:
        lines.append(f"    ... and {len(coverage) - _COVERAGE_LINES} more (--json lists every one)")
    return lines
