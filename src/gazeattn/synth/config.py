"""What the synthetic world holds: :class:`SynthConfig` (sizes, seed and difficulty knobs, checked when made) and
the named worlds (:data:`WORLDS`, :func:`synth_world`). With every knob at its default the world is the original
one, draw for draw (``tests/test_synth_worlds.py`` pins its files and pixels)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace

import numpy as np

from gazeattn.synth.scene import CHOICES, SceneKnobs
from gazeattn.synth.vocabulary import VOCABULARIES

DEFAULT_ACTION_FRACTION = 5 / 6  # the released layout: the clip pads the action by 1/12 of its length on each side
_SCENE = SceneKnobs()  # the scene knobs' defaults: the original scene


@dataclass(frozen=True)
class SynthConfig:
    """What to write. Defaults: 6 sessions × 12 clips of 128×96, 24–72 frames: seconds on a CPU.

    The fields after ``qp`` are difficulty knobs; their defaults give the original world draw for draw (same
    seed → same files). Scene knobs (see :class:`gazeattn.synth.scene.SceneKnobs`, whose defaults they take):
    ``vocabulary``, ``objects``, ``object_size``, ``distractor_nouns``, ``decoys``, ``decoy_verbs``, ``decoy_kind``,
    ``drift``, ``camera_motion``, ``hand``. Labels: ``n_actions`` keeps the vocabulary's first N actions (None: all). Gaze:
    ``gaze_noise`` multiplies the landing error, fixation jitter and saccade noise; ``gaze_on_target`` is the
    share of in-clip fixations on the acted-on object (the rest: hand and other objects, 10:6, as before).
    Wrong gaze (the structured errors of real eye-tracking; defaults 0: none): ``gaze_lead`` in [0, 1) is the share
    of the action's frames, at its end, where the gaze has run ahead of the hand: from then to the clip's end a
    fixation that would land on the acted-on object lands on the clip's next object instead (its second object,
    a random other object of the counter); ``gaze_offset`` (in [0, 1], normalised frame units) and
    ``gaze_offset_share`` (in [0, 1]) shift that share of the fixations (each episode: saccade and fixation) by a
    tracker drift whose direction is drawn once per session, on the square of half-side ``gaze_offset`` (so the
    shift is ``gaze_offset`` along at least one axis). The CPU preset squashes the whole frame to 80×80 with
    spatial stride 16: a 5×5 grid whose cell is 0.2 of the frame, so ``gaze_offset`` 0.4 moves gaze 2 cells.
    All three compose with ``gaze_on_target`` (it picks the focus; the lead then swaps the object, the drift
    then moves the point).
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
    vocabulary: str = _SCENE.vocabulary
    n_actions: int | None = _SCENE.n_actions
    objects: tuple[int, int] = _SCENE.objects
    object_size: tuple[float, float] = _SCENE.object_size
    distractor_nouns: str = _SCENE.distractor_nouns
    decoys: int | str = _SCENE.decoys
    decoy_verbs: str = _SCENE.decoy_verbs
    decoy_kind: str = _SCENE.decoy_kind
    drift: float = _SCENE.drift
    camera_motion: float = _SCENE.camera_motion
    hand: str = _SCENE.hand
    gaze_noise: float = 1.0
    gaze_on_target: float = 0.84
    action_fraction: float = DEFAULT_ACTION_FRACTION
    action_position: str = "centre"
    median_frames: int | None = None
    gaze_lead: float = 0.0
    gaze_offset: float = 0.0
    gaze_offset_share: float = 0.0

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
                     "gaze_noise", "gaze_on_target", "action_fraction", "gaze_lead", "gaze_offset",
                     "gaze_offset_share"):
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
        need(0.0 <= self.gaze_lead < 1.0, "gaze_lead", "in [0, 1) (a share of the action's frames)")
        need(0.0 <= self.gaze_offset <= 1.0, "gaze_offset", "in [0, 1] (normalised frame units; 0.2 = one cell "
                                                            "of the CPU preset's 5x5 grid)")
        need(0.0 <= self.gaze_offset_share <= 1.0, "gaze_offset_share", "in [0, 1] (a share of the fixations)")
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
                          camera_motion=float(self.camera_motion), hand=self.hand)

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
WORLDS["subtle"] = {**WORLDS["binding"], "hand": "small"}
WORLDS["subtle-wronggaze"] = {**WORLDS["subtle"], "gaze_on_target": 0.8, "gaze_lead": 0.15, "gaze_offset": 0.4,
                              "gaze_offset_share": 0.1}
WORLD_NOTES: dict[str, str] = {
    "demo": "the original world: 3-4 objects of 4 nouns, one decoy, 11 actions, 24-72 frames",
    "crowded": "6-8 small objects of 8 nouns (the target's noun may repeat), every distractor a decoy, "
               "fast drift, 20 actions",
    "long": "20-150 frames, the action 40 % of the clip at a random place, camera pan + shake, "
            "gaze noise x2, 70 % of fixations on the target",
    "lowres": "96x72, 5-6 objects",
    "binding": "every object acts out one of the 15 actions (half share the label's verb or noun): only the "
               "hand tells which one is the label; 18-261 frames (median 46)",
    "subtle": "the binding world with a small hand and no arm: the cue to the acted-on object is subtle",
    "subtle-wronggaze": "the subtle world with wrong gaze: 80 % of fixations on the target, gaze on the next object "
                        "from the last 15 % of the action on, 10 % of fixations drifted 2 cells (0.4 of the frame)",
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
