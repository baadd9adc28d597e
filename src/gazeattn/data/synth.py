"""A synthetic EGTEA Gaze+: the same folder layout and file formats, a world where gaze matters.

``write_synthetic_egtea(out, SynthConfig(...))`` writes::

    OUT/cropped_clips/<session>/<clip>.mp4          H.264 yuv420p, 24 fps, W×H, exactly n_frames frames
    OUT/gaze_data/<session>.txt                     SMI BeGaze v1 (OP* sessions) / v2 (P* sessions), 30 Hz
    OUT/action_annotation/{action,verb,noun}_idx.txt, {train,test}_split1.txt
    OUT/raw_annotations/action_labels.csv
    OUT/images_rgb/<clip>/%04d.jpg                  with ``frames=True`` (frame 1 = clip frame 0)
    OUT/synth_truth.json                            the ground truth (ignored by EGTEA readers)

Clip frame ``i`` shows session frame ``F_start + i``; the gaze files index samples by session frame
(``floor(t·24)`` of session time t). Labels: see :mod:`gazeattn.data.synth_scene` (verb = how the hand
moves the object it touches, noun = that object). The wearer fixates the acted-on object most of the time,
with the measurement errors of the real exports (calibration offset, jitter, saccades, blinks, untracked
samples, out-of-frame samples, dropped samples, clips with no gaze at all). Everything is drawn from
``numpy.random.default_rng([seed, ...])`` streams: the same seed gives byte-identical gaze, annotation and
truth files and identical decoded frames.

Difficulty: :class:`SynthConfig`'s knobs (object count and size, vocabulary, distractor nouns and motion,
camera motion, gaze noise, clip lengths, the action's share of the clip) and the named worlds of
:data:`WORLDS` (:func:`synth_world`). With every knob at its default the world is the original one, draw for
draw (``tests/test_synth_worlds.py`` pins its files and pixels).

``synth_truth.json`` (one JSON object; positions normalised to [0, 1] of the frame, x by W and y by H):

- ``generator``, ``version``, ``seed``, ``width``, ``height``, ``fps`` (24), ``gaze_hz`` (30), ``gaze_resolution``
  ([1280, 960]), ``frame_offset`` (0: clip frame i = session frame F_start + i), ``config``, ``vocabulary``;
- ``sessions[name]``: ``begaze_version`` (1 or 2), ``n_frames``, ``n_samples``, ``calibration_offset``
  (normalised [dx, dy] added to every gaze sample), ``out_of_frame_rate``, ``empty_frame_target``, ``events``;
- ``clips[name]``: ``session``, ``split``, ``action``/``verb``/``nouns`` (1-based ids, as in the split files),
  ``action_name``/``verb_name``/``noun_names``, ``n_frames``, ``action_frames`` ([a0, a1) clip frames of the
  action proper), ``no_gaze`` (gaze deliberately removed), ``target`` (the acted-on object: ``noun``,
  ``shape``, ``colour`` RGB, ``role``, ``motion``, ``centre`` n_frames × [x, y], ``radius_px`` n_frames, in
  pixels of W×H), ``objects`` (every object, target first), ``hand_centre`` (n_frames × [x, y]),
  ``hand_radius_px``, ``hand_colour``; with camera motion only, ``camera_offset`` (n_frames × [dx, dy]: the
  camera's shift of everything on the counter, already included in every centre above);
- ``files``: every file written, relative to OUT (``--force`` uses it to remove a previous run's leftovers).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gazeattn.data.begaze_writer import write_begaze
from gazeattn.data.clipnames import ClipName
from gazeattn.data.synth_scene import (CHOICES, SKIN, VOCABULARIES, ClipScene, SceneKnobs, make_scene,
                                       render_clip)

GENERATOR = "gazeattn.synth"
GENERATOR_VERSION = 1
FPS = 24
GAZE_HZ = 30
GAZE_W, GAZE_H = 1280, 960
RECIPES = {1: "PastaSalad", 2: "TurkeySandwich", 3: "BaconAndEggs", 4: "ContinentalBreakfast",
           5: "Cheeseburger", 6: "GreekSalad", 7: "Pizza"}
TRUTH_NAME = "synth_truth.json"


DEFAULT_ACTION_FRACTION = 5 / 6  # the released layout: the clip pads the action by 1/12 of its length on each side


@dataclass(frozen=True)
class SynthConfig:
    """What to write. Defaults: 6 sessions × 12 clips of 128×96, 24–72 frames: seconds on a CPU.

    The fields after ``qp`` are difficulty knobs; their defaults give the original world draw for draw (same
    seed → same files). Scene knobs (see :class:`gazeattn.data.synth_scene.SceneKnobs`): ``vocabulary``,
    ``objects``, ``object_size``, ``distractor_nouns``, ``decoys``, ``decoy_verbs``, ``decoy_kind``, ``drift``,
    ``camera_motion``. Labels: ``n_actions`` keeps the vocabulary's first N actions (None: all). Gaze:
    ``gaze_noise`` multiplies the landing error, fixation jitter and saccade noise; ``gaze_on_target`` is the
    share of in-clip fixations on the acted-on object (the rest: hand and other objects, 10:6, as before).
    Timing: ``action_fraction`` is the action's share of the clip, ``action_position`` ``"centre"`` (as
    released) or ``"random"`` (anywhere, at least one frame of padding on each side); ``median_frames``
    (None: lengths uniform in [min_frames, max_frames]) draws skewed lengths with that median (a two-piece
    log-normal inside [min_frames, max_frames]: a long tail of long clips, as in EGTEA).
    """

    sessions: int = 6
    clips_per_session: int = 12
    seed: int = 0
    width: int = 128
    height: int = 96
    min_frames: int = 24
    max_frames: int = 72
    frames: bool = False
    no_gaze_clip_fraction: float = 0.05
    test_fraction: float = 0.2
    secondary_noun_rate: float = 0.4  # of the clips whose action allows a second noun
    qp: int = 16  # H.264 constant quantiser (lower = better; 16 is near-lossless for these flat images)
    vocabulary: str = "small"
    n_actions: int | None = None
    objects: tuple[int, int] = (3, 4)
    object_size: tuple[float, float] = (0.085, 0.105)
    distractor_nouns: str = "others"
    decoys: int | str = 1
    decoy_verbs: str = "others"
    decoy_kind: str = "motion"
    drift: float = 1.0
    camera_motion: float = 0.0
    gaze_noise: float = 1.0
    gaze_on_target: float = 0.84
    action_fraction: float = DEFAULT_ACTION_FRACTION
    action_position: str = "centre"
    median_frames: int | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, knob: str, what: str) -> None:
            if not ok:
                raise ValueError(f"{knob} must be {what}, got {getattr(self, knob)!r}")

        def is_int(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)

        def pair(knob: str, check) -> None:
            v = getattr(self, knob)
            ok = isinstance(v, (list, tuple)) and len(v) == 2 and check(*v)
            need(ok, knob, PAIRS[knob])
            cast = int if knob == "objects" else float
            object.__setattr__(self, knob, tuple(cast(x) for x in v))  # lists (from JSON) become tuples

        for knob in ("sessions", "clips_per_session", "seed", "width", "height", "min_frames", "max_frames", "qp"):
            need(is_int(getattr(self, knob)), knob, "an integer")
            object.__setattr__(self, knob, int(getattr(self, knob)))
        for knob in ("no_gaze_clip_fraction", "test_fraction", "secondary_noun_rate", "drift", "camera_motion",
                     "gaze_noise", "gaze_on_target", "action_fraction"):
            need(is_num(getattr(self, knob)), knob, "a finite number")
        if self.sessions < 1 or self.clips_per_session < 1:
            raise ValueError("sessions and clips_per_session must be >= 1")
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"size must be even and at least 16×16 (H.264 yuv420p), got {self.width}x{self.height}")
        if not 12 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 12 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if not 0.0 <= self.no_gaze_clip_fraction <= 1.0 or not 0.0 <= self.test_fraction < 1.0:
            raise ValueError("no_gaze_clip_fraction must be in [0, 1] and test_fraction in [0, 1)")
        if not 0 <= self.qp <= 51:
            raise ValueError(f"qp must be in 0..51, got {self.qp}")
        need(0.0 <= self.secondary_noun_rate <= 1.0, "secondary_noun_rate", "in [0, 1]")
        for knob, allowed in CHOICES.items():
            need(getattr(self, knob) in allowed, knob, f"one of {', '.join(allowed)}")
        need(self.action_position in ACTION_POSITIONS, "action_position", f"one of {', '.join(ACTION_POSITIONS)}")
        n_vocab = len(VOCABULARIES[self.vocabulary].actions)
        need(self.n_actions is None or (is_int(self.n_actions) and 2 <= self.n_actions <= n_vocab), "n_actions",
             f"None or an integer in 2..{n_vocab} (the {self.vocabulary} vocabulary's actions)")
        pair("objects", lambda lo, hi: is_int(lo) and is_int(hi) and 2 <= lo <= hi <= MAX_OBJECTS)
        pair("object_size", lambda lo, hi: is_num(lo) and is_num(hi) and 0.03 <= lo <= hi <= 0.2)
        need(self.decoys == "all" or (is_int(self.decoys) and self.decoys >= 0), "decoys",
             'a count >= 0 or "all"')
        need(0.0 <= self.drift <= 20.0, "drift", "in [0, 20] (a multiplier)")
        need(0.0 <= self.camera_motion <= 0.25, "camera_motion", "in [0, 0.25] (a fraction of the frame height)")
        need(0.0 <= self.gaze_noise <= 10.0, "gaze_noise", "in [0, 10] (a multiplier)")
        need(0.0 <= self.gaze_on_target <= 1.0, "gaze_on_target", "in [0, 1]")
        need(0.05 <= self.action_fraction <= 1.0, "action_fraction", "in [0.05, 1]")
        need(self.median_frames is None or (is_int(self.median_frames)
                                            and self.min_frames <= self.median_frames <= self.max_frames),
             "median_frames", f"None or an integer in [min_frames, max_frames] = "
                              f"[{self.min_frames}, {self.max_frames}]")

    @property
    def scene_knobs(self) -> SceneKnobs:
        return SceneKnobs(vocabulary=self.vocabulary, objects=self.objects, object_size=self.object_size,
                          distractor_nouns=self.distractor_nouns, decoys=self.decoys, decoy_verbs=self.decoy_verbs,
                          decoy_kind=self.decoy_kind, n_actions=self.n_actions, drift=float(self.drift),
                          camera_motion=float(self.camera_motion))

    def to_json(self) -> dict:
        """The config as saved in ``synth_truth.json`` (tuples as lists)."""
        return json.loads(json.dumps({f.name: getattr(self, f.name) for f in fields(self)}))


MAX_OBJECTS = 12
ACTION_POSITIONS = ("centre", "random")
PAIRS = {"objects": f"(min, max) integers with 2 <= min <= max <= {MAX_OBJECTS}",
         "object_size": "(min, max) fractions of the frame height with 0.03 <= min <= max <= 0.2"}

# Named worlds: overrides of SynthConfig's defaults (sizes and seed are the caller's). See synth_world.
WORLDS: dict[str, dict] = {
    "demo": {},
    "crowded": dict(vocabulary="large", objects=(6, 8), object_size=(0.06, 0.075), distractor_nouns="any",
                    decoys="all", drift=2.0),
    "long": dict(min_frames=20, max_frames=150, action_fraction=0.4, action_position="random", camera_motion=0.05,
                 gaze_noise=2.0, gaze_on_target=0.7),
    "lowres": dict(width=96, height=72, objects=(5, 6)),
    "binding": dict(vocabulary="large", n_actions=15, objects=(4, 6), distractor_nouns="any", decoys="all",
                    decoy_verbs="any", decoy_kind="action", min_frames=18, max_frames=261, median_frames=46,
                    test_fraction=0.25),
}
WORLD_NOTES: dict[str, str] = {
    "demo": "the original world: 3-4 objects of 4 nouns, one decoy, 11 actions, 24-72 frames",
    "crowded": "6-8 small objects of 8 nouns (the target's noun may repeat), every distractor a decoy, "
               "fast drift, 20 actions",
    "long": "20-150 frames, the action 40 % of the clip at a random place, camera pan + shake, "
            "gaze noise x2, 70 % of fixations on the target",
    "lowres": "96x72, 5-6 objects",
    "binding": "every object acts out one of the 15 actions (half share the label's verb or noun): only the "
               "hand tells which one is the label; 18-261 frames (median 46)",
}


def synth_world(name: str, *, seed: int = 0, sessions: int | None = None, clips_per_session: int | None = None,
                **overrides) -> SynthConfig:
    """The SynthConfig of named world ``name`` (:data:`WORLDS`), with ``overrides`` (SynthConfig fields) on top.

    ``sessions``/``clips_per_session`` default to SynthConfig's (6 × 12). Unknown name or field → ValueError.
    """
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; the worlds are {', '.join(WORLDS)}")
    known = {f.name for f in fields(SynthConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown SynthConfig field(s) {', '.join(unknown)}; "
                         f"the fields are {', '.join(sorted(known))}")
    sizes = {k: v for k, v in (("sessions", sessions), ("clips_per_session", clips_per_session)) if v is not None}
    return replace(SynthConfig(), **{**WORLDS[name], "seed": seed, **sizes, **overrides})


@dataclass(frozen=True)
class SynthSummary:
    """What was written: the main folders, counts, and every file (relative to ``root``)."""

    root: Path
    clips_dir: Path
    gaze_dir: Path
    annotation_dir: Path
    truth_path: Path
    frames_dir: Path | None
    n_sessions: int
    n_clips: int
    n_train: int
    n_test: int
    n_actions: int
    n_verbs: int
    n_nouns: int
    n_no_gaze_clips: int
    n_gaze_samples: int
    files: tuple[str, ...] = field(repr=False, default=())


@dataclass
class _Clip:
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
class _Session:
    index: int
    name: str
    version: int
    n_frames: int
    clips: list[_Clip]
    style: dict


# ----------------------------------------------------------------------------------------------- planning
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


def _plan(config: SynthConfig) -> list[_Session]:
    rng = np.random.default_rng([config.seed, 0])
    n_total = config.sessions * config.clips_per_session
    actions = _actions(config)
    secondary = VOCABULARIES[config.vocabulary].secondary
    # actions: every action at least twice when there is room (train and test), the rest by frequency
    reps = 2 if n_total >= 2 * len(actions) else (1 if n_total >= len(actions) else 0)
    order = [i for i in range(len(actions)) for _ in range(reps)]
    weights = np.array([w for _, _, w in actions])
    order += list(rng.choice(len(actions), size=n_total - len(order), p=weights / weights.sum()))
    order = [int(i) for i in rng.permutation(order)]

    sessions: list[_Session] = []
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
            clips.append(_Clip(s, c, clip, verb, nouns, (pad, pad + length)))
            cursor += n + int(rng.integers(6, 72))
        sessions.append(_Session(s, name, version, cursor + int(rng.integers(24, 72)), clips, {}))

    all_clips = [c for sess in sessions for c in sess.clips]
    # split by clip, stratified by action: ~test_fraction of each action, at least one each side if n >= 2
    by_action: dict[str, list[_Clip]] = {}
    for c in all_clips:
        by_action.setdefault(c.action_name, []).append(c)
    for name in sorted(by_action):
        group = by_action[name]
        n_test = round(config.test_fraction * len(group))
        if len(group) >= 2 and config.test_fraction > 0:
            n_test = min(max(n_test, 1), len(group) - 1)
        for i in rng.permutation(len(group))[:n_test]:
            group[int(i)].split = "test"
    # tiny worlds (actions seen once): still ~test_fraction of the clips in test, keeping one train clip
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
    n_no_gaze = round(config.no_gaze_clip_fraction * n_total)
    for i in rng.permutation(n_total)[:n_no_gaze]:
        all_clips[int(i)].no_gaze = True
    return sessions


def _session_style(config: SynthConfig, s: _Session) -> dict:
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
    }


def _clip_scene(config: SynthConfig, s: _Session, c: _Clip) -> ClipScene:
    """Clip c's scene (its own random stream: the same whatever else the world holds). ``s.style`` must be set."""
    rng = np.random.default_rng([config.seed, 2, s.index, c.index])
    return make_scene(rng, verb=c.verb, noun=c.nouns[0], n_frames=c.name.n_frames, action=c.action_frames,
                      width=config.width, height=config.height, counter_colour=s.style["counter"],
                      skin=s.style["skin"], sleeve=s.style["sleeve"], extra_nouns=c.nouns[1:],
                      knobs=config.scene_knobs)


# ------------------------------------------------------------------------------------------------- gaze
def _simulate_gaze(rng: np.random.Generator, s: _Session, config: SynthConfig = SynthConfig()) -> dict[str, np.ndarray]:
    """The wearer's gaze over the whole session at 30 Hz (normalised x, y; NaN where v2 loses the eye).

    Episodes: [blink] [untracked] saccade (1–4 samples, from the last point to the next focus) then a
    fixation (3–12 samples) on a focus: in a clip the acted-on object (``gaze_on_target``, 84 %), the hand
    (10 %) or another object (6 %), or an out-of-frame point (session rate); between clips random points
    (look-around). An episode ends where a clip starts or ends, so each clip's gaze begins with a look at its
    own scene. Every point gets the session calibration offset, a per-fixation landing error (σ 0.012) and
    jitter (σ 0.005; saccades σ 0.01), all three times ``gaze_noise``. Then dropped samples (frames without a
    sample) and the no-gaze clips are removed. Object and hand positions are in frame coordinates (camera
    motion included), so the gaze follows what the pixels show.
    """
    st = s.style
    p_target = config.gaze_on_target
    p_hand = p_target + (1.0 - p_target) * 0.625  # the rest: hand : other object = 10 : 6
    noise = config.gaze_noise
    n_frames = s.n_frames
    t0 = rng.uniform(0.005, 1.0 / GAZE_HZ)  # jitter below keeps t > 0
    n_est = int(n_frames / FPS * GAZE_HZ) + 2
    t = t0 + np.arange(n_est) / GAZE_HZ + np.clip(rng.normal(0.0, 0.0012, n_est), -0.004, 0.004)
    frames = np.floor(t * FPS).astype(np.int64)
    keep = frames < n_frames
    t, frames = t[keep], frames[keep]
    n = len(t)

    clip_of = np.full(n_frames, -1, dtype=np.int64)
    for j, c in enumerate(s.clips):
        clip_of[c.name.start_frame:c.name.end_frame] = j
    # episodes end where a clip starts or ends: the wearer turns to the next action's object as it begins
    seg = clip_of[frames]
    change = np.flatnonzero(np.diff(seg)) + 1
    next_change = np.full(n, n, dtype=np.int64)
    for a, b in zip(np.concatenate([[0], change]), np.concatenate([change, [n]])):
        next_change[a:b] = b

    def track(kind: tuple, f: int) -> np.ndarray:
        if kind[0] == "point":
            return kind[1]
        clip = s.clips[kind[1]]
        i = min(max(f - clip.name.start_frame, 0), clip.name.n_frames - 1)
        if kind[0] == "hand":
            return clip.scene.hand_centre[i]
        return clip.scene.objects[kind[2]].centre[i]

    def off_frame_point() -> np.ndarray:
        side = int(rng.integers(0, 4))
        out = rng.uniform(0.02, 0.2)
        along = rng.uniform(0.05, 0.95)
        return np.array([[-out, along], [1 + out, along], [along, -out], [along, 1 + out]][side])

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
        c = int(clip_of[frames[k]])
        r = rng.random()
        if r < st["p_out"] * (1 if c >= 0 else 2):
            focus: tuple = ("point", off_frame_point())
        elif c < 0:
            focus = ("point", rng.uniform([0.08, 0.1], [0.92, 0.9]))
        else:
            r = rng.random()
            n_obj = len(s.clips[c].scene.objects)
            if r < p_target:
                focus = ("obj", c, 0)
            elif r < p_hand:
                focus = ("hand", c)
            else:
                focus = ("obj", c, int(rng.integers(1, n_obj)))
        n_sac = int(rng.integers(1, 5))
        n_fix = int(rng.integers(3, 13))
        landing = rng.normal(0.0, 0.012 * noise, 2) + calib
        end = min(k + n_sac + n_fix, int(next_change[k]))
        first = track(focus, int(frames[min(k + n_sac, n - 1)])) + landing
        for j in range(k, min(k + n_sac, end)):
            a = (j - k + 1) / (n_sac + 1)
            p = (1 - a) * prev + a * first + rng.normal(0.0, 0.01 * noise, 2)
            x[j], y[j], ev[j] = p[0], p[1], "Saccade"
        for j in range(k + n_sac, end):
            p = track(focus, int(frames[j])) + landing + rng.normal(0.0, 0.005 * noise, 2)
            x[j], y[j], ev[j] = p[0], p[1], "Fixation"
            prev = p
        k = end

    # dropped samples: runs of 2–5 until the wanted share of frames (outside no-gaze clips) has none
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
        if ((~covered) & eligible).sum() / n_eligible >= st["empty_frames"]:
            break
        start = int(rng.integers(0, n))
        keep[start:start + int(rng.integers(2, 6))] = False
    for c in s.clips:
        if c.no_gaze:
            keep &= ~((frames >= c.name.start_frame) & (frames < c.name.end_frame))
    return {"t": t[keep], "frame": frames[keep], "x": x[keep], "y": y[keep], "event": ev[keep]}


# ---------------------------------------------------------------------------------------------- writing
def rgb_to_yuv420p(video: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB → (T, H·3/2, W) uint8 planar yuv420p (BT.601, limited range), in numpy.

    Converting here rather than in swscale keeps the encoder's input, hence the clips, reproducible
    (swscale's conversion was seen to vary from run to run in one process).
    """
    rgb = video.astype(np.float32)
    t, h, w, _ = rgb.shape
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    sub = 0.25 * (rgb[:, 0::2, 0::2] + rgb[:, 1::2, 0::2] + rgb[:, 0::2, 1::2] + rgb[:, 1::2, 1::2])  # 2×2 mean
    u = 128.0 + (-37.797 * sub[..., 0] - 74.203 * sub[..., 1] + 112.0 * sub[..., 2]) / 255.0
    v = 128.0 + (112.0 * sub[..., 0] - 93.786 * sub[..., 1] - 18.214 * sub[..., 2]) / 255.0
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v)]
    flat = np.concatenate([p.reshape(t, -1) for p in planes], axis=1)  # PyAV's layout: Y, then U, then V
    return flat.reshape(t, h * 3 // 2, w)


def _write_mp4(path: Path, video: np.ndarray, qp: int) -> None:
    """(T, H, W, 3) uint8 → H.264 yuv420p at 24 fps, single-threaded (reproducible)."""
    yuv = rgb_to_yuv420p(video)
    with av.open(str(path), "w") as container:
        # constant QP, one thread: x264's rate control (mb-tree lookahead) was seen to give different
        # bitstreams for the same input at these tiny sizes; with a fixed QP the output is reproducible
        stream = container.add_stream("libx264", rate=FPS, options={"qp": str(qp), "preset": "veryfast",
                                                                     "threads": "1", "x264-params": "mbtree=0"})
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        for i, img in enumerate(yuv):
            frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _write_jpegs(folder: Path, video: np.ndarray) -> list[Path]:
    """``folder/%04d.jpg`` (1-based) with PyAV's mjpeg encoder at high quality."""
    folder.mkdir(parents=True, exist_ok=True)
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = video.shape[2], video.shape[1], "yuvj420p"
    ctx.time_base = Fraction(1, FPS)
    ctx.qmin = ctx.qmax = 2
    paths = []
    for i, img in enumerate(video):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
        frame.pts = i
        data = b"".join(bytes(p) for p in ctx.encode(frame))
        path = folder / f"{i + 1:04d}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _ranked(counts: Counter, canonical: list[str]) -> list[str]:
    """Names by decreasing frequency (ties: canonical order): ids are ordered by frequency, as released."""
    return sorted(counts, key=lambda name: (-counts[name], canonical.index(name)))


def _r(a: np.ndarray, nd: int = 5) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def _check_target(out: Path, force: bool) -> list[str]:
    """Refuse a non-empty ``out`` unless ``force``; return the files a previous synth run wrote there."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; pass --force (force=True) to overwrite the synthetic "
                                  "dataset's own files (nothing else is touched)")
        truth = out / TRUTH_NAME
        if truth.is_file():
            try:
                old = json.loads(truth.read_text())
                if old.get("generator") == GENERATOR:
                    return [str(p) for p in old.get("files", [])]
            except (ValueError, OSError):
                pass
    return []


def write_synthetic_egtea(out: str | Path, config: SynthConfig, *, force: bool = False) -> SynthSummary:
    """Write the synthetic world into ``out`` (see the module docstring). Deterministic in ``config``.

    ``out`` must be missing or empty unless ``force``: then only files this generator writes are replaced,
    and files a previous run listed in its ``synth_truth.json`` but this run does not write are removed.
    """
    out = Path(out)
    stale = _check_target(out, force)
    sessions = _plan(config)
    W, H = config.width, config.height
    written: list[Path] = []
    clips_dir, gaze_dir, ann_dir = out / "cropped_clips", out / "gaze_data", out / "action_annotation"
    raw_dir, frames_dir = out / "raw_annotations", out / "images_rgb"
    for d in (clips_dir, gaze_dir, ann_dir, raw_dir):
        d.mkdir(parents=True, exist_ok=True)

    truth_sessions: dict[str, dict] = {}
    n_samples_total = 0
    for s in sessions:
        s.style = _session_style(config, s)
        (clips_dir / s.name).mkdir(exist_ok=True)
        for c in s.clips:
            c.scene = _clip_scene(config, s, c)
            video = render_clip(c.scene)
            path = clips_dir / s.name / f"{c.name.name}.mp4"
            _write_mp4(path, video, config.qp)
            written.append(path)
            if config.frames:
                written += _write_jpegs(frames_dir / c.name.name, video)
        gaze = _simulate_gaze(np.random.default_rng([config.seed, 3, s.index]), s, config)
        n = len(gaze["t"])
        if n and 2 * n <= int(gaze["frame"][-1]):  # the official reader sizes its table 2 × samples
            raise RuntimeError(f"{s.name}: too few gaze samples for the official reader ({n})")
        path = gaze_dir / f"{s.name}.txt"
        subject = s.name.split("-")[0]
        write_begaze(path, version=s.version, time_us=s.style["time0_us"] + np.round(gaze["t"] * 1e6).astype(np.int64),
                     x_px=gaze["x"] * GAZE_W, y_px=gaze["y"] * GAZE_H, frame=gaze["frame"], events=list(gaze["event"]),
                     subject=subject if s.version == 1 else f"{subject.lower()}-unified",
                     description="Run1" if s.version == 1 else "Run003")
        written.append(path)
        n_samples_total += n
        events = Counter(gaze["event"].tolist())
        truth_sessions[s.name] = {
            "begaze_version": s.version, "n_frames": s.n_frames, "n_samples": n,
            "calibration_offset": _r(s.style["calibration"]), "out_of_frame_rate": round(s.style["p_out"], 4),
            "empty_frame_target": round(float(s.style["empty_frames"]), 4), "events": dict(sorted(events.items())),
        }

    # labels: ids ordered by frequency
    clips = [c for s in sessions for c in s.clips]
    vocab = VOCABULARIES[config.vocabulary]
    action_names = _ranked(Counter(c.action_name for c in clips), [f"{v} {n}" for v, n, _ in vocab.actions])
    verb_names = _ranked(Counter(c.verb for c in clips), list(vocab.verbs))
    noun_names = _ranked(Counter(n for c in clips for n in c.nouns), [n.name for n in vocab.nouns])
    a_id = {n: i + 1 for i, n in enumerate(action_names)}
    v_id = {n: i + 1 for i, n in enumerate(verb_names)}
    n_id = {n: i + 1 for i, n in enumerate(noun_names)}

    def write_text(path: Path, lines: list[str]) -> None:
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(path)

    write_text(ann_dir / "action_idx.txt", [f"{n} {a_id[n]}" for n in action_names])
    write_text(ann_dir / "verb_idx.txt", [f"{n} {v_id[n]}" for n in verb_names])
    write_text(ann_dir / "noun_idx.txt", [f"{n} {n_id[n]}" for n in noun_names])
    for subset in ("train", "test"):
        write_text(ann_dir / f"{subset}_split1.txt",
                   [" ".join([c.name.name, str(a_id[c.action_name]), str(v_id[c.verb]),
                              *(str(n_id[n]) for n in c.nouns)]) for c in clips if c.split == subset])
    csv = ["# Clip ID (Unique, used only internally); Clip Prefix (Unique); Video Session; Starting Time (ms); "
           "Ending Time (ms); Action Label; Verb Label; Noun Label(s)"]
    csv += [f"{i}; {c.name.prefix}; {c.name.session}; {c.name.start_ms}; {c.name.end_ms}; {c.action_name}; "
            f"{c.verb}; {','.join(c.nouns)}" for i, c in enumerate(clips, start=1)]
    write_text(raw_dir / "action_labels.csv", csv)

    truth_clips = {}
    for c in clips:
        objs = [{"noun": o.noun, "shape": o.shape, "colour": list(o.colour), "role": o.role, "motion": o.motion,
                 "centre": _r(o.centre), "radius_px": _r(o.radius_px, 3)} for o in c.scene.objects]
        truth_clips[c.name.name] = {
            "session": c.name.session, "split": c.split, "action": a_id[c.action_name], "verb": v_id[c.verb],
            "nouns": [n_id[n] for n in c.nouns], "action_name": c.action_name, "verb_name": c.verb,
            "noun_names": list(c.nouns), "n_frames": c.name.n_frames, "action_frames": list(c.action_frames),
            "no_gaze": c.no_gaze, "target": objs[0], "objects": objs, "hand_centre": _r(c.scene.hand_centre),
            "hand_radius_px": round(c.scene.hand_radius_px, 3), "hand_colour": list(c.scene.skin),
        }
        if c.scene.camera_px is not None:  # only with camera motion (keeps the original worlds' truth)
            truth_clips[c.name.name]["camera_offset"] = _r(c.scene.camera_px / np.array([W, H]))
    truth_path = out / TRUTH_NAME
    new_files = sorted({str(p.relative_to(out)) for p in written} | {TRUTH_NAME})
    truth = {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "seed": config.seed, "width": W, "height": H,
        "fps": FPS, "gaze_hz": GAZE_HZ, "gaze_resolution": [GAZE_W, GAZE_H], "frame_offset": 0,
        "config": config.to_json(),
        "vocabulary": {"actions": action_names, "verbs": verb_names, "nouns": noun_names},
        "sessions": truth_sessions, "clips": truth_clips, "files": new_files,
    }
    truth_path.write_text(json.dumps(truth, separators=(",", ":")) + "\n", encoding="utf-8")
    _remove_stale(out, stale, set(new_files))

    return SynthSummary(
        root=out, clips_dir=clips_dir, gaze_dir=gaze_dir, annotation_dir=ann_dir, truth_path=truth_path,
        frames_dir=frames_dir if config.frames else None, n_sessions=len(sessions), n_clips=len(clips),
        n_train=sum(c.split == "train" for c in clips), n_test=sum(c.split == "test" for c in clips),
        n_actions=len(action_names), n_verbs=len(verb_names), n_nouns=len(noun_names),
        n_no_gaze_clips=sum(c.no_gaze for c in clips), n_gaze_samples=n_samples_total, files=tuple(new_files),
    )


def _remove_stale(out: Path, stale: list[str], keep: set[str]) -> None:
    """Delete files a previous synth run wrote that this run did not rewrite (never anything else)."""
    root = out.resolve()
    for rel in stale:
        if rel in keep:
            continue
        path = out / rel
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if root in resolved.parents and path.is_file() and not path.is_symlink():
            path.unlink()
            parent = path.parent
            while parent != out and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
