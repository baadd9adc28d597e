"""EGTEA Gaze+ clip names: `<session>-<start_ms>-<end_ms>-F<start>-F<end>`.

Frames are 24 fps *session* frames (zero-padded to 6 digits in the release). Session names contain
hyphens themselves (``P21-R04-ContinentalBreakfast``), so the name is parsed from the right.
The nominal clip length is ``end_frame - start_frame`` (min 15, median 56, max 2801 in split 1);
the decoded mp4 is authoritative for the exact frame count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gazeattn.utils.errors import DataError

FPS = 24
# ASCII digits only, at most 12 per number (int() of a longer run is slow or refused; no real clip needs it).
_CLIP_RE = re.compile(
    r"^(?P<session>.+?)-(?P<start_ms>[0-9]{1,12})-(?P<end_ms>[0-9]{1,12})-F(?P<start>[0-9]{1,12})-F(?P<end>[0-9]{1,12})$"
)


@dataclass(frozen=True, order=True)
class ClipName:
    """A parsed clip name. ``start_frame``/``end_frame`` are session frames at 24 fps."""

    session: str
    start_ms: int
    end_ms: int
    start_frame: int
    end_frame: int

    @property
    def name(self) -> str:
        return f"{self.session}-{self.start_ms}-{self.end_ms}-F{self.start_frame:06d}-F{self.end_frame:06d}"

    @property
    def prefix(self) -> str:
        """``session-start_ms-end_ms``: shared by an official clip and its widened (min2021) variant."""
        return f"{self.session}-{self.start_ms}-{self.end_ms}"

    @property
    def n_frames(self) -> int:
        """Nominal number of frames, ``end_frame - start_frame``."""
        return self.end_frame - self.start_frame

    def __str__(self) -> str:
        return self.name


def parse_clip_name(text: str, *, path: str | None = None, line: int | None = None) -> ClipName:
    """Parse a clip name; raise :class:`DataError` naming ``path:line`` when it is malformed."""
    m = _CLIP_RE.match(text.strip())
    if m is None:
        raise DataError(path, f"malformed clip name {text!r} (want <session>-<start_ms>-<end_ms>-F<start>-F<end>)", line)
    start_ms, end_ms = int(m["start_ms"]), int(m["end_ms"])
    start, end = int(m["start"]), int(m["end"])
    if end_ms < start_ms or end < start:
        raise DataError(path, f"clip name {text!r} ends before it starts", line)
    return ClipName(m["session"], start_ms, end_ms, start, end)
