"""The wearer's gaze over a whole session at 30 Hz, with the measurement errors of the real exports.

:func:`simulate_gaze` draws it in three steps from one random stream, in this order: the sample times, the
episodes (blinks, untracked samples, saccades and fixations on a focus), then the dropped samples. Positions are
normalised to the frame; the session's clips must have their scenes (the gaze follows what the pixels show).
"""

from __future__ import annotations

import math

import numpy as np

from gazeattn.data.clipnames import FPS
from gazeattn.synth.config import SynthConfig
from gazeattn.synth.plan import PlannedSession

GAZE_HZ = 30
LEAD_OBJECT = 1  # where gaze that runs ahead of the hand goes: the clip's second object (a random other object)


def simulate_gaze(rng: np.random.Generator, s: PlannedSession,
                  config: SynthConfig = SynthConfig()) -> dict[str, np.ndarray]:
    """The wearer's gaze over the whole session at 30 Hz (normalised x, y; NaN where v2 loses the eye).

    Episodes: [blink] [untracked] saccade (1–4 samples, from the last point to the next focus) then a
    fixation (3–12 samples) on a focus: in a clip the acted-on object (``gaze_on_target``, 84 %), the hand
    (10 %) or another object (6 %), or an out-of-frame point (session rate); between clips random points
    (look-around). An episode ends where a clip starts or ends, so each clip's gaze begins with a look at its
    own scene. Every point gets the session calibration offset, a per-fixation landing error (σ 0.012) and
    jitter (σ 0.005; saccades σ 0.01), all three times ``gaze_noise``. Then dropped samples (frames without a
    sample) and the no-gaze clips are removed. Object and hand positions are in frame coordinates (camera
    motion included), so the gaze follows what the pixels show.

    Scarce gaze (most clips without gaze): the official EGTEA reader sizes its table 2 × the number of samples,
    so a session must keep more than half as many samples as frames. Where removing the no-gaze clips' samples
    would leave fewer, those samples stay in the file as tracker-lost rows instead (event ``-``, and NaN
    coordinates in BeGaze 3.4, as the real exports write a lost eye): the clips still have no gaze in either
    reader, and every session gets its gaze file, as every EGTEA session does. Worlds that never come near the
    bound are unchanged.

    Wrong gaze (:class:`SynthConfig`'s ``gaze_lead``, ``gaze_offset``, ``gaze_offset_share``; all 0 by default,
    which leaves every draw as it was): from :func:`lead_start` to the clip's end, a fixation on the acted-on
    object goes to :data:`LEAD_OBJECT` instead (an episode also ends where the lead starts, so the gaze saccades
    there), and a share of the episodes gets the session's tracker drift (:func:`tracker_drift`) added.
    """
    t, frames = _sample_times(rng, s.n_frames)
    x, y, ev = _episodes(rng, s, config, frames)
    keep = _kept_samples(rng, s, frames)
    if 2 * int(keep.sum()) <= int(frames[keep][-1] if keep.any() else frames[-1]):
        keep = _lose_no_gaze_samples(s, frames, keep, x, y, ev)
    return {"t": t[keep], "frame": frames[keep], "x": x[keep], "y": y[keep], "event": ev[keep]}


def _lose_no_gaze_samples(s: PlannedSession, frames: np.ndarray, keep: np.ndarray, x: np.ndarray, y: np.ndarray,
                          ev: np.ndarray) -> np.ndarray:
    """Keep the samples of the no-gaze clips as tracker-lost rows (``-``; NaN in v2), in place; the new keep."""
    lost = np.zeros(len(frames), dtype=bool)
    for c in s.clips:
        if c.no_gaze:
            lost |= (frames >= c.name.start_frame) & (frames < c.name.end_frame)
    ev[lost] = "-"
    if s.version == 2:
        x[lost], y[lost] = np.nan, np.nan
    return keep | lost


def _sample_times(rng: np.random.Generator, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample times (s) at 30 Hz with a little jitter, and the 24 fps session frame of each, inside the session."""
    t0 = rng.uniform(0.005, 1.0 / GAZE_HZ)  # jitter below keeps t > 0
    n_est = int(n_frames / FPS * GAZE_HZ) + 2
    t = t0 + np.arange(n_est) / GAZE_HZ + np.clip(rng.normal(0.0, 0.0012, n_est), -0.004, 0.004)
    frames = np.floor(t * FPS).astype(np.int64)
    keep = frames < n_frames
    return t[keep], frames[keep]


def lead_start(action_frames: tuple[int, int], gaze_lead: float) -> int | None:
    """The clip frame from which the gaze has run ahead to the next object: the last round(gaze_lead · action
    length) frames of the action [a0, a1) and everything after; None when that is no frame."""
    a0, a1 = action_frames
    n = round(gaze_lead * (a1 - a0))
    return a1 - n if n > 0 else None


def tracker_drift(s: PlannedSession, config: SynthConfig) -> np.ndarray:
    """The session's systematic offset, normalised [dx, dy]: ``gaze_offset`` along the session's drift direction,
    on the square of half-side ``gaze_offset`` (so at least ``gaze_offset`` along one axis)."""
    angle = s.style["drift_angle"]
    unit = np.array([math.cos(angle), math.sin(angle)])
    return config.gaze_offset * unit / np.abs(unit).max()


def _phase_of_frames(s: PlannedSession, config: SynthConfig) -> np.ndarray:
    """(n_frames,) phase of each session frame: -1 between clips, 2j in clip j, 2j + 1 once clip j's gaze has run
    ahead (``gaze_lead``). ``phase // 2`` is the clip (-1 between clips)."""
    phase = np.full(s.n_frames, -1, dtype=np.int64)
    for j, c in enumerate(s.clips):
        phase[c.name.start_frame:c.name.end_frame] = 2 * j
        lead = lead_start(c.action_frames, config.gaze_lead)
        if lead is not None:
            phase[c.name.start_frame + lead:c.name.end_frame] = 2 * j + 1
    return phase


def _track(s: PlannedSession, kind: tuple, f: int) -> np.ndarray:
    """Where focus ``kind`` is at session frame f: a fixed point, or a clip's hand or object (clamped to the clip)."""
    if kind[0] == "point":
        return kind[1]
    clip = s.clips[kind[1]]
    i = min(max(f - clip.name.start_frame, 0), clip.name.n_frames - 1)
    if kind[0] == "hand":
        return clip.scene.hand_centre[i]
    return clip.scene.objects[kind[2]].centre[i]


def _off_frame_point(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(0, 4))
    out = rng.uniform(0.02, 0.2)
    along = rng.uniform(0.05, 0.95)
    return np.array([[-out, along], [1 + out, along], [along, -out], [along, 1 + out]][side])


def _focus(rng: np.random.Generator, s: PlannedSession, phase: int, p_target: float) -> tuple:
    """What the next episode looks at, in session phase ``phase`` (:func:`_phase_of_frames`): an out-of-frame
    point (the session's rate, twice it between clips), a random point between clips; in a clip the acted-on
    object (``p_target``; :data:`LEAD_OBJECT` once the gaze has run ahead), else the hand or another object
    (10 : 6)."""
    c = phase // 2
    if rng.random() < s.style["p_out"] * (1 if c >= 0 else 2):
        return ("point", _off_frame_point(rng))
    if c < 0:
        return ("point", rng.uniform([0.08, 0.1], [0.92, 0.9]))
    r = rng.random()
    if r < p_target:
        return ("obj", c, LEAD_OBJECT if phase % 2 else 0)
    if r < p_target + (1.0 - p_target) * 0.625:
        return ("hand", c)
    return ("obj", c, int(rng.integers(1, len(s.clips[c].scene.objects))))


def _episodes(rng: np.random.Generator, s: PlannedSession, config: SynthConfig,
              frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y (normalised, NaN where v2 loses the eye) and the event name of every sample: see :func:`simulate_gaze`."""
    st = s.style
    p_target = config.gaze_on_target
    noise = config.gaze_noise
    n = len(frames)
    phase = _phase_of_frames(s, config)
    drift = tracker_drift(s, config) if config.gaze_offset_share > 0 else None
    # episodes end where a clip starts or ends (the wearer turns to the next action's object as it begins) and
    # where the gaze runs ahead of the hand
    seg = phase[frames]
    change = np.flatnonzero(np.diff(seg)) + 1
    next_change = np.full(n, n, dtype=np.int64)
    for a, b in zip(np.concatenate([[0], change]), np.concatenate([change, [n]])):
        next_change[a:b] = b

    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    ev = np.empty(n, dtype=object)
    calib = st["calibration"]
    prev = np.array([0.5, 0.5])
    k = 0
    while k < n:
        if rng.random() < st["p_blink"]:
            b = min(int(rng.integers(3, 8)), n - k)
            ev[k:k + b] = "Blink"
            if s.version == 1:  # BeGaze 3.1 keeps (wild) coordinates during blinks
                p = prev + rng.normal(0.0, 0.3, (b, 2))
                x[k:k + b], y[k:k + b] = p[:, 0], p[:, 1]
            k += b
        if k < n and rng.random() < st["p_untracked"]:
            u = min(int(rng.integers(1, 4)), n - k)
            ev[k:k + u] = "-"
            if s.version == 1:
                p = prev + rng.normal(0.0, 0.15, (u, 2))
                x[k:k + u], y[k:k + u] = p[:, 0], p[:, 1]
            k += u
        if k >= n:
            break
        focus = _focus(rng, s, int(phase[frames[k]]), p_target)
        n_sac = int(rng.integers(1, 5))
        n_fix = int(rng.integers(3, 13))
        landing = rng.normal(0.0, 0.012 * noise, 2) + calib
        if drift is not None and rng.random() < config.gaze_offset_share:
            landing = landing + drift
        end = min(k + n_sac + n_fix, int(next_change[k]))
        first = _track(s, focus, int(frames[min(k + n_sac, n - 1)])) + landing
        for j in range(k, min(k + n_sac, end)):
            a = (j - k + 1) / (n_sac + 1)
            p = (1 - a) * prev + a * first + rng.normal(0.0, 0.01 * noise, 2)
            x[j], y[j], ev[j] = p[0], p[1], "Saccade"
        for j in range(k + n_sac, end):
            p = _track(s, focus, int(frames[j])) + landing + rng.normal(0.0, 0.005 * noise, 2)
            x[j], y[j], ev[j] = p[0], p[1], "Fixation"
            prev = p
        k = end
    return x, y, ev


def _kept_samples(rng: np.random.Generator, s: PlannedSession, frames: np.ndarray) -> np.ndarray:
    """(n,) bool: the samples kept after dropping runs of 2–5 until the session's share of frames (outside no-gaze
    clips) has none, and every sample of the no-gaze clips."""
    n, n_frames = len(frames), s.n_frames
    keep = np.ones(n, dtype=bool)
    eligible = np.ones(n_frames, dtype=bool)
    eligible[: frames[0]] = False
    eligible[frames[-1] + 1:] = False
    for c in s.clips:
        if c.no_gaze:
            eligible[c.name.start_frame:c.name.end_frame] = False
    n_eligible = max(int(eligible.sum()), 1)
    for _ in range(100_000):
        covered = np.bincount(frames[keep], minlength=n_frames) > 0
        if ((~covered) & eligible).sum() / n_eligible >= s.style["empty_frames"]:
            break
        start = int(rng.integers(0, n))
        keep[start:start + int(rng.integers(2, 6))] = False
    for c in s.clips:
        if c.no_gaze:
            keep &= ~((frames >= c.name.start_frame) & (frames < c.name.end_frame))
    return keep
