"""One clip of the synthetic kitchen: where the objects are, how they and the hand move, the counter.

A clip shows 3–4 objects (by default one per noun: each noun has its own shape and colour) on a textured
counter, and a hand (skin-coloured blob with an arm from the bottom edge) acting on one of them:

- the **noun** is the object the hand touches; the hand is in contact with it through the whole action
  (it approaches during the leading padding, and for *Put* carries it in from the bottom edge);
- the **verb** is how hand and object move: *Take* = lifted toward the bottom edge (and grows, coming
  closer), *Put* = brought from the bottom edge down onto its resting place, *Cut* = fast horizontal
  back-and-forth, *Mix/Stir* = circular, *Wash* = vertical shake.

Distractors drift slowly and jitter; one of them (the *decoy*) performs the motion of another verb with no
hand, so motion alone does not give the label: the acted-on object is the one the hand touches.

:class:`SceneKnobs` changes the difficulty (defaults: the scene above, draw for draw): the vocabulary
(``"small"``: 4 nouns, 5 verbs, 11 actions; ``"large"``: 8 nouns of distinct shape and colour, 7 verbs,
20 actions), the object count and size, whether distractors may share the target's noun, how many
distractors are decoys and whether a decoy may perform the target's verb, the distractors' drift speed, and
a head-mounted camera's motion (smooth pan + shake): everything on the counter, background included, moves
by the camera offset in the frame; the arm's base stays at the wearer's body (the bottom edge).

The nouns, verbs and actions are :mod:`gazeattn.synth.vocabulary`'s; drawing a scene is :mod:`gazeattn.synth.render`'s.

Coordinates: positions are normalised ``(x, y)`` in ``[0, 1]`` of the frame; normalised ``u`` maps to the
continuous pixel coordinate ``u·W`` (pixel ``j`` covers ``[j, j+1)``), so the pixel holding a point is
``(floor(x·W), floor(y·H))``. Sizes are in pixels of the rendered frame. Motion amplitudes are isotropic in
pixels (x amplitudes are scaled by ``H/W``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gazeattn.data.clipnames import FPS
from gazeattn.synth.vocabulary import NOUN_BY_NAME, VOCABULARIES

SKIN = (222, 170, 138)
CHOICES = {"vocabulary": tuple(VOCABULARIES), "distractor_nouns": ("others", "any"),
           "decoy_verbs": ("others", "any"), "decoy_kind": ("motion", "action"), "hand": ("arm", "small")}
SMALL_HAND = 0.45  # the small hand's radius, relative to the arm's hand


@dataclass(frozen=True)
class SceneKnobs:
    """How hard one clip's scene is. Defaults: the scene described in the module docstring, draw for draw.

    - ``vocabulary``: ``"small"`` or ``"large"`` (:data:`VOCABULARIES`);
    - ``objects``: (min, max) objects in the scene, target included;
    - ``object_size``: (min, max) of the clip's base radius as a fraction of the frame height (each noun
      scales it by its own size factor);
    - ``distractor_nouns``: ``"others"`` (distractors never share the target's noun; nouns repeat only when
      there are more objects than nouns) or ``"any"`` (drawn with replacement from every noun, the target's
      included: which nouns are present no longer tells the label);
    - ``decoys``: how many distractors perform a verb's motion without a hand (an int, or ``"all"``);
    - ``decoy_verbs``: ``"others"`` (a decoy never performs the target's verb) or ``"any"``;
    - ``decoy_kind``: ``"motion"`` (a decoy is a distractor doing some verb's motion) or ``"action"`` (a decoy
      acts out another of the world's actions, its noun and its verb, without a hand; half of them share the
      target's verb or noun where ``decoy_verbs``/``distractor_nouns`` allow it): then the set of
      (noun, motion) pairs in the clip holds several of the world's actions and only the hand tells which one
      is the label;
    - ``n_actions``: the world uses the vocabulary's first N actions (None: all), for ``decoy_kind="action"``;
    - ``drift``: multiplier on the distractors' drift speed and jitter;
    - ``camera_motion``: amplitude of the camera's pan + shake, a fraction of the frame height (isotropic in
      pixels); 0 = a still camera;
    - ``hand``: how the acted-on object is marked: ``"arm"`` (a hand with an arm reaching in from the bottom edge,
      a large, salient cue) or ``"small"`` (a hand 0.45 times that size and no arm: a subtle cue, which a model
      told where the wearer looks finds far more easily than one learning from action labels alone).
    """

    vocabulary: str = "small"
    objects: tuple[int, int] = (3, 4)
    object_size: tuple[float, float] = (0.085, 0.105)
    distractor_nouns: str = "others"
    decoys: int | str = 1
    decoy_verbs: str = "others"
    decoy_kind: str = "motion"
    n_actions: int | None = None
    drift: float = 1.0
    camera_motion: float = 0.0
    hand: str = "arm"

    @property
    def legacy_placement(self) -> bool:
        """Few objects of the default size: the original whole-layout rejection sampling (keeps old worlds)."""
        return self.objects[1] <= 4 and tuple(self.object_size) == (0.085, 0.105)


@dataclass(frozen=True)
class SceneObject:
    """One object's trajectory over the clip. ``centre`` (T, 2) normalised; ``radius_px`` (T,) pixels."""

    noun: str
    shape: str
    colour: tuple[int, int, int]
    role: str  # target | decoy | distractor
    centre: np.ndarray
    radius_px: np.ndarray
    motion: str  # the verb-like motion it performs ("drift" for plain distractors)


@dataclass(frozen=True)
class ClipScene:
    """Everything drawn in one clip: objects (target first), the hand, the background."""

    verb: str
    noun: str
    n_frames: int
    action: tuple[int, int]  # clip frames [a0, a1) of the action proper (the rest is padding)
    objects: tuple[SceneObject, ...]
    hand_centre: np.ndarray  # (T, 2) normalised
    hand_radius_px: float
    arm_base: np.ndarray  # (T, 2) normalised: where the arm leaves the bottom edge
    skin: tuple[int, int, int]
    sleeve: tuple[int, int, int]
    background: np.ndarray  # (H, W, 3) float32, or (H + 2m, W + 2m, 3) with a moving camera
    camera_px: np.ndarray | None = None  # (T, 2) camera offset in pixels (x, y): the world moves by it in the frame
    margin_px: int = 0  # m: the background's border beyond the frame on every side
    arm: bool = True  # draw the arm from the hand to the bottom edge

    @property
    def target(self) -> SceneObject:
        return self.objects[0]


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _envelope(t: np.ndarray, a0: int, a1: int, ramp: float = 3.0) -> np.ndarray:
    """1 inside the action, smooth ramps of ``ramp`` frames at both ends."""
    return _smoothstep((t - a0 + 1) / ramp) * _smoothstep((a1 - t) / ramp)


def verb_motion(verb: str, t: np.ndarray, a0: int, a1: int, y0: float, aspect: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (T, 2) (normalised) and size factor (T,) of an object doing ``verb`` over [a0, a1).

    ``aspect`` = H/W converts isotropic pixel amplitudes (in units of H) to normalised x.
    """
    n = len(t)
    d = np.zeros((n, 2))
    scale = np.ones(n)
    u = _smoothstep((t - a0) / max(a1 - a0 - 1, 1))
    env = _envelope(t, a0, a1)
    phase = (t - a0) / FPS
    if verb == "Take":  # lifted toward the wearer: down to the bottom edge, growing
        y_end = min(0.84, y0 + rng.uniform(0.3, 0.45))
        d[:, 1] = u * (y_end - y0)
        scale = 1.0 + 0.3 * u
    elif verb == "Put":  # carried in from the bottom edge and set down at y0
        y_start = min(0.84, y0 + rng.uniform(0.3, 0.45))
        d[:, 1] = (1.0 - u) * (y_start - y0)
        scale = 1.3 - 0.3 * u
    elif verb == "Cut":  # fast horizontal back-and-forth
        f, a = rng.uniform(2.5, 3.5), rng.uniform(0.04, 0.055)
        d[:, 0] = env * a * aspect * np.sin(2 * np.pi * f * phase)
    elif verb == "Mix/Stir":  # circular
        f, a = rng.uniform(1.0, 1.6), rng.uniform(0.035, 0.05)
        ang = 2 * np.pi * f * phase
        d[:, 0] = env * a * aspect * np.sin(ang)
        d[:, 1] = env * a * (1.0 - np.cos(ang))
    elif verb == "Wash":  # vertical shake
        f, a = rng.uniform(2.0, 3.0), rng.uniform(0.035, 0.05)
        d[:, 1] = env * a * np.sin(2 * np.pi * f * phase)
    elif verb == "Move Around":  # slid sideways, once
        a = rng.uniform(0.15, 0.25) * (1.0 if rng.random() < 0.5 else -1.0)
        d[:, 0] = u * a * aspect
    elif verb == "Compress":  # squeezed: the size pulses down and back
        f, a = rng.uniform(1.5, 2.5), rng.uniform(0.2, 0.3)
        scale = 1.0 - env * a * 0.5 * (1.0 - np.cos(2 * np.pi * f * phase))
    else:
        raise ValueError(f"unknown verb {verb!r}")
    return d, scale


def _place(rng: np.random.Generator, k: int, min_dist: float, aspect: float) -> np.ndarray:
    """k resting positions (normalised), pairwise at least ``min_dist`` apart in units of H."""
    for _ in range(1000):
        p = np.stack([rng.uniform(0.14, 0.86, k), rng.uniform(0.16, 0.55, k)], axis=1)
        q = p * np.array([1.0 / aspect, 1.0])  # isotropic units (H)
        dist = np.sqrt(((q[:, None] - q[None]) ** 2).sum(-1)) + np.eye(k) * 9
        if dist.min() >= min_dist:
            return p
    return p  # crowded: accept the last draw


def _place_sequential(rng: np.random.Generator, k: int, min_dist: float, aspect: float) -> np.ndarray:
    """k resting positions placed one by one, each ``min_dist`` (units of H) from those before it; where no
    candidate fits, the distance shrinks by 15 % (crowded scenes may overlap a little, never the target)."""
    lo, hi = np.array([0.14, 0.16]), np.array([0.86, 0.55])
    placed = np.empty((0, 2))
    for _ in range(k):
        dist = min_dist
        while True:
            cand = rng.uniform(lo, hi, (64, 2))
            if not len(placed):
                ok = np.ones(64, dtype=bool)
            else:
                delta = (cand[:, None] - placed[None]) * np.array([1.0 / aspect, 1.0])
                ok = np.sqrt((delta ** 2).sum(-1)).min(axis=1) >= dist
            if ok.any():
                placed = np.concatenate([placed, cand[np.argmax(ok)][None]])
                break
            dist *= 0.85
    return placed


def camera_path(rng: np.random.Generator, n_frames: int, amplitude_px: float) -> np.ndarray:
    """(T, 2) pixel offsets of a head-mounted camera: a smooth pan (two slow sinusoids per axis, 0.1–0.6 Hz)
    plus shake (smoothed noise), scaled so that the largest |offset| on each axis is ``amplitude_px``."""
    t = np.arange(n_frames) / FPS
    out = np.zeros((n_frames, 2))
    for axis in range(2):
        f = rng.uniform(0.1, 0.6, 2)
        ph = rng.uniform(0, 2 * np.pi, 2)
        pan = np.sin(2 * np.pi * f[0] * t + ph[0]) + 0.5 * np.sin(2 * np.pi * f[1] * t + ph[1])
        shake = np.convolve(rng.normal(0.0, 1.0, n_frames + 4), np.ones(5) / 5.0, mode="valid")
        path = pan + 0.35 * shake / max(float(np.abs(shake).max()), 1e-9)
        out[:, axis] = amplitude_px * path / max(float(np.abs(path).max()), 1e-9)
    return out


def _texture(rng: np.random.Generator, width: int, height: int, base: np.ndarray) -> np.ndarray:
    """A counter-top: low-frequency blotches + wood-like grain + fine grain noise. (H, W, 3) float32."""
    gy, gx = 5, 7
    coarse = rng.normal(0.0, 14.0, (gy, gx, 1)) + rng.normal(0.0, 4.0, (gy, gx, 3))  # mostly luminance
    yi = np.linspace(0, gy - 1, height)
    xi = np.linspace(0, gx - 1, width)
    y0, x0 = np.floor(yi).astype(int), np.floor(xi).astype(int)
    y1, x1 = np.minimum(y0 + 1, gy - 1), np.minimum(x0 + 1, gx - 1)
    wy, wx = (yi - y0)[:, None, None], (xi - x0)[None, :, None]
    low = ((1 - wy) * ((1 - wx) * coarse[y0][:, x0] + wx * coarse[y0][:, x1])
           + wy * ((1 - wx) * coarse[y1][:, x0] + wx * coarse[y1][:, x1]))
    ys, xs = np.mgrid[0:height, 0:width] / float(height)
    freq, tilt, wob = rng.uniform(9, 16), rng.uniform(-0.3, 0.3), rng.uniform(0, 2 * np.pi)
    grain = 9.0 * np.sin(2 * np.pi * freq * (ys + tilt * xs + 0.03 * np.sin(6 * xs + wob)))
    fine = rng.normal(0.0, 4.0, (height, width, 1))
    tex = base[None, None, :] + low + grain[..., None] * np.array([1.0, 0.9, 0.75]) + fine
    return np.clip(tex, 0, 255).astype(np.float32)


def _layout(rng, names, verb, decoy_verbs, t, a0, a1, base_r, width, height, knobs):
    """One draw of the objects' trajectories (target first) and the hand touching the target.

    Objects 1..len(decoy_verbs) are decoys (each performs its verb over a random window as long as the action).
    """
    aspect = height / width
    n_frames = len(t)
    if knobs.legacy_placement:
        rest = _place(rng, len(names), min_dist=3.0 * 0.11, aspect=aspect)
    else:
        rest = _place_sequential(rng, len(names), min_dist=3.5 * base_r / height, aspect=aspect)
    objects = []
    for i, name in enumerate(names):
        spec = NOUN_BY_NAME[name]
        role = "target" if i == 0 else ("decoy" if i <= len(decoy_verbs) else "distractor")
        speed = 1.0 if i == 0 else knobs.drift
        drift = rng.normal(0.0, 0.012, 2) * np.array([aspect, 1.0]) * speed  # per second
        centre = rest[i][None, :] + drift[None, :] * (t[:, None] - n_frames / 2) / FPS
        centre = centre + rng.normal(0.0, 0.0015, (n_frames, 2)) * np.array([aspect, 1.0]) * speed
        scale = np.ones(n_frames)
        motion = "drift"
        if role == "target":
            d, scale = verb_motion(verb, t, a0, a1, rest[i][1], aspect, rng)
            centre = centre + d
            motion = verb
        elif role == "decoy":
            span = a1 - a0
            d0 = int(rng.integers(0, max(n_frames - span, 0) + 1))
            d, scale = verb_motion(decoy_verbs[i - 1], t, d0, d0 + span, rest[i][1], aspect, rng)
            centre = centre + d
            motion = decoy_verbs[i - 1]
        centre = np.clip(centre, 0.04, 0.96)
        colour = tuple(int(c) for c in np.clip(np.array(spec.colour) + rng.integers(-12, 13, 3), 0, 255))
        objects.append(SceneObject(name, spec.shape, colour, role, centre.astype(np.float64),
                                   (base_r * spec.size * scale).astype(np.float64), motion))
    target = objects[0]
    # hand: touching the target from below; approaches over the leading padding, except for Put where it
    # carries the object in and lets go over the trailing padding
    hand_r = 0.8 * base_r * (SMALL_HAND if knobs.hand == "small" else 1.0)
    below = (target.radius_px + 0.6 * hand_r) / height  # centre-to-centre, normalised y
    side = rng.uniform(-0.25, 0.25) * target.radius_px / width
    if verb == "Put":
        away = 0.12 * _smoothstep((t - a1 + 1) / max(n_frames - a1, 1))
    else:
        away = 0.12 * _smoothstep((a0 - t) / max(a0, 1))  # 1 at frame 0 → 0 at a0
    hand = np.stack([target.centre[:, 0] + side, target.centre[:, 1] + below + away], axis=1)
    hand[:, 1] = np.minimum(hand[:, 1], 1.0 - 0.35 * hand_r / height)
    return objects, hand, float(hand_r)


def _conflicts(objects, hand, hand_r, width, height) -> int:
    """Frames in which another object touches the hand or overlaps the target (pixel distances)."""
    px = np.array([width, height], dtype=np.float64)
    target = objects[0]
    bad = np.zeros(len(hand), dtype=bool)
    for o in objects[1:]:
        to_hand = np.linalg.norm((o.centre - hand) * px, axis=1)
        to_target = np.linalg.norm((o.centre - target.centre) * px, axis=1)
        bad |= to_hand < 1.15 * o.radius_px + hand_r + 1.0
        bad |= to_target < 1.15 * (o.radius_px + target.radius_px) + 1.0
    return int(bad.sum())


def _object_names(rng: np.random.Generator, vocab, noun: str, extra_nouns: tuple[str, ...],
                  knobs: SceneKnobs) -> list[str]:
    """The nouns of a scene's objects: the target's first, the secondary nouns' last (never the decoy), the rest
    drawn (``knobs.distractor_nouns``: "others" never the target's noun, "any" may)."""
    all_nouns = [s.name for s in vocab.nouns]
    others = [n for n in all_nouns if n != noun and n not in extra_nouns]
    n_obj = int(rng.integers(knobs.objects[0], knobs.objects[1] + 1))  # objects in all, target included
    n_rest = max(n_obj - 1 - len(extra_nouns), 0)
    if knobs.distractor_nouns == "others":
        rest_names = [str(x) for x in rng.permutation(others)]
        if n_rest > len(rest_names):  # more objects than nouns: other nouns repeat, never the target's
            rest_names += [str(x) for x in rng.choice(others, size=n_rest - len(rest_names))]
    else:  # "any": the target's noun may appear again on a distractor
        rest_names = [str(x) for x in rng.choice(all_nouns, size=n_rest)]
    names = ([noun] + list(extra_nouns) + rest_names)[:n_obj]
    if extra_nouns:  # the decoy (second object) should not be the secondary noun's object
        names = [names[0]] + names[2:] + [names[1]] if len(names) > 2 else names
    return names


def _decoy_verbs(rng: np.random.Generator, vocab, verb: str, noun: str, names: list[str],
                 extra_nouns: tuple[str, ...], knobs: SceneKnobs) -> list[str]:
    """The verbs whose motion the decoys (the objects after the target) perform without a hand; the rest drift.
    With ``knobs.decoy_kind`` "action" a decoy acts out another action of the world: its noun in ``names`` is
    replaced (in place) too."""
    n_obj = len(names)
    pool = [v for v in vocab.verbs if v != verb] if knobs.decoy_verbs == "others" else list(vocab.verbs)
    decoy_verbs = [str(rng.choice(pool))]
    n_decoys = n_obj - 1 if knobs.decoys == "all" else min(int(knobs.decoys), n_obj - 1)
    if n_decoys > 1:
        decoy_verbs += [str(v) for v in rng.choice(pool, size=n_decoys - 1)]
    decoy_verbs = decoy_verbs[:n_decoys]
    if knobs.decoy_kind == "action":  # decoys act out other actions of the world (not the secondary noun's object)
        actions = vocab.actions if knobs.n_actions is None else vocab.actions[:knobs.n_actions]
        allowed = [(v, n) for v, n, _ in actions if (v, n) != (verb, noun)
                   and (knobs.decoy_verbs == "any" or v != verb) and (knobs.distractor_nouns == "any" or n != noun)]
        foils = [(v, n) for v, n in allowed if v == verb or n == noun]
        for i in range(1, min(n_decoys, len(names) - len(extra_nouns)) + 1):
            group = foils if foils and rng.random() < 0.5 else allowed
            if group:
                decoy_verbs[i - 1], names[i] = group[int(rng.integers(len(group)))]
    return decoy_verbs


def make_scene(rng: np.random.Generator, *, verb: str, noun: str, n_frames: int, action: tuple[int, int],
               width: int, height: int, counter_colour: np.ndarray, skin: tuple[int, int, int],
               sleeve: tuple[int, int, int], extra_nouns: tuple[str, ...] = (),
               knobs: SceneKnobs = SceneKnobs()) -> ClipScene:
    """Simulate one clip: random object layout, the verb's motion on the touched object, distractors.

    ``extra_nouns`` (a secondary noun of the label) are placed in the scene as distractors. ``knobs``: see
    :class:`SceneKnobs` (the defaults draw exactly the random numbers of the original scene).
    """
    vocab = VOCABULARIES[knobs.vocabulary]
    t = np.arange(n_frames, dtype=np.float64)
    a0, a1 = action
    names = _object_names(rng, vocab, noun, extra_nouns, knobs)  # the target first
    base_r = rng.uniform(*knobs.object_size) * height
    decoy_verbs = _decoy_verbs(rng, vocab, verb, noun, names, extra_nouns, knobs)
    best = None
    for _ in range(60 if knobs.legacy_placement else 200):  # re-draw until nothing touches the hand or the target
        attempt = _layout(rng, names, verb, decoy_verbs, t, a0, a1, base_r, width, height, knobs)
        bad = _conflicts(*attempt, width, height)
        if best is None or bad < best[0]:
            best = (bad, attempt)
        if bad == 0:
            break
    objects, hand, hand_r = best[1]
    arm_base = np.stack([np.clip(hand[:, 0] + rng.uniform(0.08, 0.2), 0.0, 1.0), np.full(n_frames, 1.15)], axis=1)
    if knobs.camera_motion <= 0:
        background = _texture(rng, width, height, counter_colour)
        return ClipScene(verb, noun, n_frames, (a0, a1), tuple(objects), hand, float(hand_r), arm_base,
                         skin, sleeve, background, arm=knobs.hand == "arm")
    # a moving camera: everything on the counter moves by the camera offset (the arm's base, at the wearer's
    # body, does not); the counter is rendered with a margin and cropped per frame
    amplitude = knobs.camera_motion * height
    cam = camera_path(rng, n_frames, amplitude)
    margin = int(np.ceil(amplitude)) + 2
    shift = cam / np.array([width, height])
    objects = [SceneObject(o.noun, o.shape, o.colour, o.role, o.centre + shift, o.radius_px, o.motion)
               for o in objects]
    background = _texture(rng, width + 2 * margin, height + 2 * margin, counter_colour)
    return ClipScene(verb, noun, n_frames, (a0, a1), tuple(objects), hand + shift, float(hand_r), arm_base,
                     skin, sleeve, background, cam, margin, arm=knobs.hand == "arm")
