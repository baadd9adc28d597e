"""Planning the synthetic world before anything is drawn: the sessions (names, BeGaze version, length), their
clips (action, length, where the action lies, the train/test split, clips without gaze) and each session's look
(counter, skin and sleeve colours) and gaze-tracking quality. Every part has its own random stream
(``numpy.random.default_rng([seed, part, ...])``), so a clip's scene does not depend on what else the world holds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from gazeattn.data.clipnames import FPS, ClipName
from gazeattn.synth.config import SynthConfig
from gazeattn.synth.scene import SKIN, ClipScene, make_scene
from gazeattn.synth.vocabulary import VOCABULARIES

RECIPES = {1: "PastaSalad", 2: "TurkeySandwich", 3: "BaconAndEggs", 4: "ContinentalBreakfast",
           5: "Cheeseburger", 6: "GreekSalad", 7: "Pizza"}


@dataclass
class PlannedClip:
    """One clip of the plan; ``scene`` is set when the clip is drawn."""

    session: int
    index: int
    name: ClipName
    verb: str
    nouns: tuple[str, ...]
    action_frames: tuple[int, int]  # clip-relative [a0, a1)
    split: str = "train"
    no_gaze: bool = False
    scene: ClipScene | None = None

    @property
    def action_name(self) -> str:
        return f"{self.verb} {self.nouns[0]}"


@dataclass
class PlannedSession:
    """One recording session of the plan; ``style`` (:func:`session_style`) is set before its clips are drawn."""

    index: int
    name: str
    version: int
    n_frames: int
    clips: list[PlannedClip]
    style: dict


def _session_name(i: int, recipe: int) -> tuple[str, int]:
    """Even sessions are OP (BeGaze 3.1, v1), odd ones P (BeGaze 3.4, v2)."""
    subject = i // 2 + 1
    if i % 2 == 0:
        return f"OP{subject:02d}-R{recipe:02d}-{RECIPES[recipe]}", 1
    return f"P{subject:02d}-R{recipe:02d}-{RECIPES[recipe]}", 2


def _ms_in_frame(rng: np.random.Generator, frame: int) -> int:
    """An integer millisecond inside 24 fps frame ``frame`` (so floor(ms·24/1000) == frame)."""
    lo = math.ceil(frame * 1000 / FPS)
    hi = math.ceil((frame + 1) * 1000 / FPS) - 1
    return int(rng.integers(lo, hi + 1))


def _actions(config: SynthConfig) -> tuple[tuple[str, str, float], ...]:
    """The (verb, noun, relative frequency) actions this world draws from."""
    actions = VOCABULARIES[config.vocabulary].actions
    return actions if config.n_actions is None else actions[:config.n_actions]


def _clip_length(rng: np.random.Generator, config: SynthConfig) -> int:
    """Uniform in [min_frames, max_frames], or skewed around ``median_frames``.

    Skewed: a two-piece log-normal with median ``median_frames``: half the clips below it, half above, each
    side's σ putting 99 % of that side inside the range (the rest is redrawn), so a long tail of long clips.
    """
    lo, hi = config.min_frames, config.max_frames
    if config.median_frames is None:
        return int(rng.integers(lo, hi + 1))
    m = config.median_frames
    n = m
    for _ in range(100):
        z = abs(float(rng.normal()))
        sigma = math.log(hi / m) if rng.random() < 0.5 else -math.log(m / lo)
        n = round(m * math.exp(z * sigma / 2.326))
        if lo <= n <= hi:
            return n
    return min(max(n, lo), hi)


def _action_span(rng: np.random.Generator, config: SynthConfig, n: int) -> tuple[int, int]:
    """(leading padding, action length) in frames of an n-frame clip.

    Centred: padding round(n · (1 − fraction) / 2) on each side, at least 1 (exact rational arithmetic, so the
    default 5/6 gives the released round(n / 12)). Random: the same length, placed anywhere with at least one
    frame of padding on each side.
    """
    fraction = Fraction(config.action_fraction).limit_denominator(10**6)
    pad = max(1, round(n * (1 - fraction) / 2))
    length = n - 2 * pad
    if length < 4:  # a very short action: keep 4 frames of it
        pad = max(1, (n - 4) // 2)
        length = n - 2 * pad
    if config.action_position == "random" and n - length >= 2:
        return int(rng.integers(1, n - length)), length
    return pad, length


def plan_world(config: SynthConfig) -> list[PlannedSession]:
    """The sessions and clips of the world (nothing drawn yet): actions, lengths, split and no-gaze clips."""
    rng = np.random.default_rng([config.seed, 0])  # one stream, drawn from in this order
    n_total = config.sessions * config.clips_per_session
    actions = _actions(config)
    sessions = _plan_sessions(rng, config, actions, _action_order(rng, actions, n_total))
    all_clips = [c for sess in sessions for c in sess.clips]
    _split_by_action(rng, config, all_clips)
    _top_up_test(rng, config, all_clips)
    n_no_gaze = round(config.no_gaze_clip_fraction * n_total)
    for i in rng.permutation(n_total)[:n_no_gaze]:
        all_clips[int(i)].no_gaze = True
    return sessions


def _action_order(rng: np.random.Generator, actions: list, n_total: int) -> list[int]:
    """The action of each clip, in order: every action at least twice when there is room (train and test), the
    rest by frequency."""
    reps = 2 if n_total >= 2 * len(actions) else (1 if n_total >= len(actions) else 0)
    order = [i for i in range(len(actions)) for _ in range(reps)]
    weights = np.array([w for _, _, w in actions])
    order += list(rng.choice(len(actions), size=n_total - len(order), p=weights / weights.sum()))
    return [int(i) for i in rng.permutation(order)]


def _plan_sessions(rng: np.random.Generator, config: SynthConfig, actions: list,
                   order: list[int]) -> list[PlannedSession]:
    """The sessions, their clips one after another on the session's timeline (lengths, action spans, nouns)."""
    secondary = VOCABULARIES[config.vocabulary].secondary
    sessions: list[PlannedSession] = []
    k = 0
    for s in range(config.sessions):
        name, version = _session_name(s, int(rng.integers(1, 8)))
        cursor = int(rng.integers(24, 96))
        clips = []
        for c in range(config.clips_per_session):
            verb, noun, _ = actions[order[k]]
            k += 1
            n = _clip_length(rng, config)
            pad, length = _action_span(rng, config, n)  # default: 10 % of the action on each side, n = 1.2 · action
            a0 = cursor + pad
            start_ms, end_ms = _ms_in_frame(rng, a0), _ms_in_frame(rng, a0 + length)
            clip = ClipName(name, start_ms, end_ms, cursor, cursor + n)
            nouns: tuple[str, ...] = (noun,)
            second = secondary.get((verb, noun))
            if second and rng.random() < config.secondary_noun_rate:
                nouns = (noun, second)
            clips.append(PlannedClip(s, c, clip, verb, nouns, (pad, pad + length)))
            cursor += n + int(rng.integers(6, 72))
        sessions.append(PlannedSession(s, name, version, cursor + int(rng.integers(24, 72)), clips, {}))
    return sessions


def _split_by_action(rng: np.random.Generator, config: SynthConfig, all_clips: list[PlannedClip]) -> None:
    """The split by clip, stratified by action: ~test_fraction of each action, at least one each side if n >= 2."""
    by_action: dict[str, list[PlannedClip]] = {}
    for c in all_clips:
        by_action.setdefault(c.action_name, []).append(c)
    for name in sorted(by_action):
        group = by_action[name]
        n_test = round(config.test_fraction * len(group))
        if len(group) >= 2 and config.test_fraction > 0:
            n_test = min(max(n_test, 1), len(group) - 1)
        for i in rng.permutation(len(group))[:n_test]:
            group[int(i)].split = "test"


def _top_up_test(rng: np.random.Generator, config: SynthConfig, all_clips: list[PlannedClip]) -> None:
    """Tiny worlds (actions seen once): still ~test_fraction of the clips in test, keeping one train clip."""
    n_total = len(all_clips)
    want = min(round(config.test_fraction * n_total), n_total - 1)
    if config.test_fraction > 0 and n_total >= 2:
        want = max(want, 1)
    n_test = sum(c.split == "test" for c in all_clips)
    train_count = Counter(c.action_name for c in all_clips if c.split == "train")
    order = [all_clips[int(i)] for i in rng.permutation(n_total)]
    for min_left in (2, 1):  # first from actions that keep a train clip, then from any
        for c in order:
            if n_test < want and c.split == "train" and train_count[c.action_name] >= min_left:
                c.split = "test"
                train_count[c.action_name] -= 1
                n_test += 1


def session_style(config: SynthConfig, s: PlannedSession) -> dict:
    """Session s's look (counter, skin, sleeve) and gaze-tracking quality (its own random stream)."""
    rng = np.random.default_rng([config.seed, 1, s.index])
    p_out = rng.uniform(0.01, 0.04) if s.version == 1 else rng.uniform(0.02, 0.06)
    if s.version == 2 and s.index % 4 == 3:  # some P sessions look out of frame a lot
        p_out = rng.uniform(0.15, 0.25)
    return {
        "counter": np.array([150.0, 140.0, 125.0]) * rng.uniform(0.85, 1.1) + rng.uniform(-8, 8, 3),  # neutral
        "skin": tuple(int(v) for v in np.clip(np.array(SKIN) * rng.uniform(0.9, 1.05) + rng.integers(-6, 7, 3),
                                              0, 255)),
        "sleeve": tuple(int(v) for v in rng.integers(30, 110, 3)),
        "calibration": np.clip(rng.normal(0.0, 0.02, 2), -0.04, 0.04),
        "p_out": float(p_out),
        "p_blink": 0.02 if s.version == 1 else 0.1,
        "p_untracked": 0.06,
        "empty_frames": rng.uniform(0.05, 0.16) if s.version == 1 else rng.uniform(0.005, 0.03),
        "time0_us": int(rng.integers(1_000_000_000, 2_000_000_000) if s.version == 1
                        else rng.integers(2_000_000_000, 3_200_000_000)),
        "drift_angle": float(rng.uniform(0.0, 2 * math.pi)),  # the tracker drift's direction (drawn last)
    }


def clip_scene(config: SynthConfig, s: PlannedSession, c: PlannedClip) -> ClipScene:
    """Clip c's scene (its own random stream: the same whatever else the world holds). ``s.style`` must be set."""
    rng = np.random.default_rng([config.seed, 2, s.index, c.index])
    return make_scene(rng, verb=c.verb, noun=c.nouns[0], n_frames=c.name.n_frames, action=c.action_frames,
                      width=config.width, height=config.height, counter_colour=s.style["counter"],
                      skin=s.style["skin"], sleeve=s.style["sleeve"], extra_nouns=c.nouns[1:],
                      knobs=config.scene_knobs)
