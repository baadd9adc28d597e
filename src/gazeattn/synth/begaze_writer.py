"""Write SMI BeGaze text exports in the two layouts of the EGTEA Gaze+ release.

Both versions are tab-separated with CRLF line endings: 33 header lines starting with ``##``, then the
column-header line starting with ``Time`` (34 header lines in all: the official reader skips exactly
``lines[34:]``), then one ``SMP`` line per sample.

- **v1** (BeGaze 3.1, ``OP*`` sessions): 8 tab fields, 7 whitespace tokens
  ``Time Type Trial "L POR X [px]" "L POR Y [px]" Frame Aux1 "L Event Info"``; Frame is the integer
  24 fps session frame, Aux1 is empty. ``## Number of Samples:`` is header line index 9.
- **v2** (BeGaze 3.4, ``P*`` sessions): 27 tab fields, 26 whitespace tokens; binocular ``B POR X/Y``
  at tokens 5/6, the frame as a timecode ``HH:MM:SS:FF`` (FF in 0..23) at token -2, the event at -1.
  An extra ``## Stimulus:`` line puts ``## Number of Samples:`` at index 10 (v2 has no
  ``## Calibration Type:`` line, so both headers have 33 ``##`` lines).

Coordinates are pixels of the 1280×960 scene-camera field, written with two decimals; NaN is written
``NaN`` (v2 blinks). The other v2 columns (pupils, monocular PORs, eye positions, gaze vectors) are
filled with plausible values derived deterministically from the inputs: this module draws no random
numbers, so the same arrays give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gazeattn.data.clipnames import FPS

EVENTS = ("Fixation", "Saccade", "Blink", "-")

V1_COLUMNS = ("Time", "Type", "Trial", "L POR X [px]", "L POR Y [px]", "Frame", "Aux1", "L Event Info")
V2_COLUMNS = (
    "Time", "Type", "Trial", "L Pupil Diameter [mm]", "R Pupil Diameter [mm]", "B POR X [px]", "B POR Y [px]",
    "L POR X [px]", "L POR Y [px]", "R POR X [px]", "R POR Y [px]", "B AOI Hit",
    "L EPOS X", "L EPOS Y", "L EPOS Z", "R EPOS X", "R EPOS Y", "R EPOS Z",
    "L GVEC X", "L GVEC Y", "L GVEC Z", "R GVEC X", "R GVEC Y", "R GVEC Z", "Frame", "Aux1", "B Event Info",
)


def frame_timecode(frame: int) -> str:
    """24 fps session frame → ``HH:MM:SS:FF`` (the inverse of the official reader's ``_str2frame``)."""
    seconds, ff = divmod(int(frame), FPS)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{ff:02d}"


# the header lines every version shares, between the run/calibration block and the Format line
_SETUP_LINES = (
    "## Calibration Area:\t1280\t960",
    "## [Geometry]",
    "## Stimulus Dimension [mm]:\t1280\t960",
    "## Head Distance [mm]:\t1450",
    "## [Hardware Setup]",
    "## System ID:\t",
    "## Operating System :\t",
    "## IView X Version:\t",
    "## [Filter Settings]",
    "## Heuristics:\tFalse",
    "## Heuristics Stage:\t0",
    "## Bilateral:\tFalse",
    "## Gaze Cursor Filter:\tFalse",
    "## Saccade Length [px]:\t0",
    "## Filter Depth [ms]:\t0",
)


def _header(version: int, n_samples: int, *, subject: str, description: str, converted_from: str,
            date: str, stimulus: str) -> list[str]:
    """The 33 ``##`` lines of a BeGaze ``version`` (1 or 2) export, then the column names."""
    head, fmt = _version_lines(version, n_samples, subject=subject, description=description,
                               converted_from=converted_from, date=date, stimulus=stimulus)
    head += [*_SETUP_LINES, fmt, "##"]
    assert len(head) == 33, len(head)
    head.append("\t".join(V1_COLUMNS if version == 1 else V2_COLUMNS))
    return head


def _version_lines(version: int, n_samples: int, *, subject: str, description: str, converted_from: str,
            date: str, stimulus: str) -> tuple[list[str], str]:
    """The lines of ``version``'s header before :data:`_SETUP_LINES`, and its Format line."""
    if version == 1:
        head = [
            "## [BeGaze]",
            f"## Converted from:\t{converted_from}",
            f"## Date:\t{date}",
            "## Version:\tBeGaze 3.1.77",
            "## IDF Version:\t10",
            "## Sample Rate:\t30",
            "## Separator Type:\tTrial",
            "## Trial Count:\t0",
            "## Uses Plane File:\tFalse",
            f"## Number of Samples:\t{n_samples}",  # index 9
            "## Reversed:\tnone",
            "## [Run]",
            f"## Subject:\t{subject}",
            f"## Description:\t{description}",
            "## [Calibration]",
            "## Calibration Type:\tn.a.",
        ]
        fmt = "## Format:\tLEFT, POR, FRAMECOUNTER"
    else:
        head = [
            "## [BeGaze]",
            f"## Converted from:\t{converted_from}",
            f"## Date:\t{date}",
            "## Version:\tBeGaze 3.4.46",
            "## IDF Version:\t10",
            "## Sample Rate:\t30",
            "## Separator Type:\tTrial",
            "## Trial Count:\t1",
            "## Uses Plane File:\tFalse",
            f"## Stimulus:\t{stimulus}",
            f"## Number of Samples:\t{n_samples}",  # index 10
            "## Reversed:\tnone",
            "## [Run]",
            f"## Subject:\t{subject}",
            f"## Description:\t{description}",
            "## [Calibration]",
        ]
        fmt = "## Format:\tLEFT, RIGHT, POR, AOI, EYEPOSITION, GAZEVECTOR, FRAMECOUNTER"
    return head, fmt


def _f2(values: np.ndarray) -> list[str]:
    """Two-decimal strings, ``NaN`` for NaN (``'%.2f' % nan`` would give ``nan``)."""
    return ["NaN" if v != v else f"{v:.2f}" for v in values.tolist()]


def written_px(values: np.ndarray) -> np.ndarray:
    """The pixel values a reader gets back from this writer's two-decimal fields (NaN stays NaN)."""
    return np.array(_f2(np.asarray(values, dtype=np.float64)), dtype=np.float64)


def write_begaze(
    path: str | Path,
    *,
    version: int,
    time_us: Sequence[int] | np.ndarray,
    x_px: Sequence[float] | np.ndarray,
    y_px: Sequence[float] | np.ndarray,
    frame: Sequence[int] | np.ndarray,
    events: Sequence[str],
    subject: str = "subject",
    description: str = "Run1",
    converted_from: str | None = None,
    date: str | None = None,
    stimulus: str | None = None,
) -> int:
    """Write one BeGaze export; return the number of samples written.

    ``time_us`` (strictly increasing µs), ``x_px``/``y_px`` (1280×960 pixels, NaN allowed), ``frame`` (24 fps
    session frame, non-decreasing, ≥ 0) and ``events`` (``Fixation``/``Saccade``/``Blink``/``-``) have one
    entry per sample. Header fields default to values shaped like the real exports.
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 (BeGaze 3.1) or 2 (BeGaze 3.4), got {version}")
    t = np.asarray(time_us, dtype=np.int64)
    x = np.asarray(x_px, dtype=np.float64)
    y = np.asarray(y_px, dtype=np.float64)
    f = np.asarray(frame, dtype=np.int64)
    ev = [str(e) for e in events]
    n = len(t)
    if not (len(x) == len(y) == len(f) == len(ev) == n):
        raise ValueError(f"sample arrays differ in length: time {n}, x {len(x)}, y {len(y)}, frame {len(f)}, "
                         f"events {len(ev)}")
    if n and (np.any(np.diff(t) <= 0) or t[0] < 0):
        raise ValueError("time_us must be non-negative and strictly increasing")
    if n and (np.any(np.diff(f) < 0) or f[0] < 0):
        raise ValueError("frame must be non-negative and non-decreasing")
    bad = sorted(set(ev) - set(EVENTS))
    if bad:
        raise ValueError(f"unknown events {bad}; want one of {EVENTS}")
    if converted_from is None:
        converted_from = (f"D:\\Recorded Data\\Experiment Data\\{subject}.etg.data\\{subject}-recording.idf"
                          if version == 1 else f"E:\\recordings\\{subject}\\{subject}-unified.smi")
    if date is None:
        date = "01.01.0001 00:00:00" if version == 1 else "04.11.2015 10:37:04"
    if stimulus is None:
        stimulus = f"{subject}-recording.avi"

    lines = _header(version, n, subject=subject, description=description, converted_from=converted_from,
                    date=date, stimulus=stimulus)
    ts = [str(v) for v in t.tolist()]
    xs, ys = _f2(x), _f2(y)
    if version == 1:
        fs = [str(v) for v in f.tolist()]
        lines += [f"{ts[i]}\tSMP\t1\t{xs[i]}\t{ys[i]}\t{fs[i]}\t\t{ev[i]}" for i in range(n)]
    else:
        lines += _v2_rows(t, x, y, f, ev, ts, xs, ys)
    data = ("\r\n".join(lines) + "\r\n").encode("ascii")
    Path(path).write_bytes(data)
    return n


def _v2_rows(t, x, y, f, ev, ts, xs, ys) -> list[str]:
    """The 27 tab fields of v2 rows; the extra columns are smooth functions of time and position."""
    lost = ~(np.isfinite(x) & np.isfinite(y))
    sec = (t - (t[0] if len(t) else 0)) / 1e6
    xx, yy = np.where(lost, 640.0, x), np.where(lost, 480.0, y)
    pupil_l = 3.9 + 0.35 * np.sin(0.21 * sec) + 0.05 * np.sin(2.3 * sec)
    pupil_r = pupil_l - 0.12 + 0.04 * np.cos(1.7 * sec)
    # monocular PORs straddle the binocular one (vergence error grows off-centre)
    dl = 60.0 + 0.08 * (xx - 640.0)
    lx, ly, rx, ry = xx + dl, yy - 40.0 + 0.05 * (yy - 480.0), xx - dl, yy + 35.0
    epos = np.stack([32.5 + 0.4 * np.sin(0.1 * sec), 1.8 + 0.3 * np.cos(0.13 * sec), -25.4 + 0.2 * np.sin(0.07 * sec),
                     -31.3 + 0.3 * np.sin(0.11 * sec), 2.2 + 0.4 * np.cos(0.09 * sec),
                     -24.6 + 0.2 * np.cos(0.05 * sec)], axis=1)
    gx, gy = (xx - 640.0) / 1800.0, (yy - 480.0) / 1800.0
    gz = np.sqrt(np.clip(1.0 - gx**2 - gy**2, 0.0, 1.0))
    gvec = np.stack([gx + 0.05, gy, gz, gx - 0.05, gy - 0.02, gz], axis=1)
    extra = np.concatenate([pupil_l[:, None], pupil_r[:, None], lx[:, None], ly[:, None], rx[:, None],
                            ry[:, None], epos, gvec], axis=1)
    extra[lost] = 0.0  # blinks: every measured column reads 0.00, the POR NaN
    e = [_f2(col) for col in extra.T]
    rows = []
    for i in range(len(ts)):
        rows.append("\t".join((
            ts[i], "SMP", "1", e[0][i], e[1][i], xs[i], ys[i], e[2][i], e[3][i], e[4][i], e[5][i], "-",
            *(e[k][i] for k in range(6, 18)), frame_timecode(f[i]), "", ev[i],
        )))
    return rows
