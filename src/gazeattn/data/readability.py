"""Can every clip of a split be read? Up-front checks of each clip's media and its recording's gaze, run when a
dataset is built with ``validate=True`` (training), so broken files are found before training, not inside a worker.
(``gazeattn check``'s summary of a whole dataset folder is :mod:`gazeattn.data.inventory`.)

Videos are opened and their packets demuxed, never decoded: an mp4 cut before its ``moov`` index fails to
open or has no packets; one cut inside ``mdat`` (index first) demuxes fewer packets than the clip name's frame
count; an empty file is named as such. A packet count within :data:`FRAME_SLACK` of the name passes (the release
has clips a frame or two short). Damage inside the compressed data itself only shows when decoding, so
:class:`~gazeattn.data.dataset.EgteaClips` still skips (or raises on) clips that fail while being read.

Cost: opening plus demuxing reads each file once and touches each packet header; it runs on a thread pool
(FFmpeg releases the GIL while reading). The README's "What happens when…" gives measured numbers.

Gaze: each session's file is parsed once to learn how many frames it covers. A session without a gaze file
and a clip whose frames lie (partly) past the end of its session's gaze are not errors: those frames are
untracked and masked out of the gaze loss. An unparsable gaze file makes its session's clips unreadable.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import av

from gazeattn.data.source import ClipCatalog, ClipSource
from gazeattn.data.video import _open, count_frame_files
from gazeattn.utils.errors import DataError

# A decoded video may legitimately be a frame or two shorter than its name says (how the release was cut).
FRAME_SLACK = 2


def check_video(path: str | Path, n_frames: int, *, slack: int = FRAME_SLACK) -> str | None:
    """Why the mp4 cannot give ``n_frames`` frames (a message naming the file), or None when it looks whole."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with _open(path) as container:  # DataError for empty, unopenable, no video stream
            stream = container.streams.video[0]
            packets = 0
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's final flush packet
                    continue
                ends = packet.pos + packet.size if packet.pos is not None and packet.pos >= 0 else None
                if ends is not None and ends >= size and (packet.is_corrupt or ends > size):
                    break  # the last packet is cut short by the end of the file: truncated
                if packet.is_corrupt:
                    return str(DataError(path, f"video packet {packets} is flagged corrupt (damaged mp4)"))
                packets += 1
    except DataError as err:
        return str(err)
    except (av.FFmpegError, OSError) as err:
        return str(DataError(path, f"cannot demux video: {err}"))
    except Exception as err:  # noqa: BLE001 - an untrusted file may trip anything in PyAV; never crash the check
        return str(DataError(path, f"cannot demux video: {type(err).__name__}: {err}"))
    if packets == 0:
        return str(DataError(path, "no video packets (truncated: the mp4 index or data is cut)"))
    if packets < n_frames - slack:
        return str(DataError(path, f"has only {packets} video packets, the clip name says {n_frames} frames "
                                   "(truncated?)"))
    return None


def check_frame_folder(folder: str | Path, n_frames: int, *, slack: int = FRAME_SLACK) -> str | None:
    """Why a ``%04d.jpg`` frame folder cannot give ``n_frames`` frames, or None (files are counted, not decoded)."""
    n = count_frame_files(Path(folder))
    if n == 0:
        return str(DataError(folder, "frame folder has no 0001.jpg"))
    if n < n_frames - slack:
        return str(DataError(folder, f"has only {n} frames, the clip name says {n_frames} (truncated?)"))
    return None


def check_media(sources: Sequence[ClipSource], *, source: str = "auto", threads: int | None = None) -> list[str | None]:
    """One reason (or None) per clip, in order; the pixels come from the mp4 unless ``source == "frames"``."""

    def one(src: ClipSource) -> str | None:
        if src.video is not None and source != "frames":
            return check_video(src.video, src.video_first_frame + src.media.n_frames)
        if src.rgb_dir is not None:
            return check_frame_folder(src.rgb_dir, src.media.n_frames)
        return None  # nothing to read: reported as missing before this is called

    if threads is None:
        threads = min(8, os.cpu_count() or 1)
    if threads <= 1 or len(sources) < 2:
        return [one(s) for s in sources]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, sources))


@dataclass
class GazeCoverage:
    """What the gaze files cover for a list of clips."""

    sessions_without_gaze: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # session -> the parser's error (file:line: ...)
    n_frames: dict[str, int] = field(default_factory=dict)  # session -> rows in its gaze table
    tables: dict[str, Any] = field(default_factory=dict)  # session -> its parsed gaze table (n, 3), kept for reuse
    beyond: list[tuple[str, int, int]] = field(default_factory=list)  # (clip, frames outside the table, frames)


def gaze_coverage(layout: ClipCatalog, sources: Sequence[ClipSource], *, compat: str = "clean",
                  frame_offset: int = 0) -> GazeCoverage:
    """Read each recording's gaze table once; list recordings without one and clips reaching past its end."""
    cov = GazeCoverage()
    for session in sorted({s.media.session for s in sources}):
        try:
            table = layout.gaze_table(session, compat=compat)
            if table is None:
                cov.sessions_without_gaze.append(session)
                continue
            cov.tables[session] = table
            cov.n_frames[session] = len(table)
        except DataError as err:
            cov.unreadable[session] = str(err)
    for src in sources:
        rows = cov.n_frames.get(src.media.session)
        if rows is None:
            continue
        first = src.media.start_frame + frame_offset
        n = src.media.n_frames
        inside = max(0, min(first + n, rows) - max(first, 0))
        if inside < n:
            cov.beyond.append((src.clip.name, n - inside, n))
    return cov
