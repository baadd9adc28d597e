"""The synthetic world's difficulty knobs and named worlds: validation, the original world pinned, every named
world read back through the project's own readers, camera motion moving pixels and gaze together."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest

from gazeattn.data.begaze import EVENT_FIXATION, parse_begaze, read_begaze_samples
from gazeattn.data.inventory import check_dataset
from gazeattn.data.clipnames import parse_clip_name
from gazeattn.data.layout import EgteaLayout
from gazeattn.synth import WORLDS, SynthConfig, synth_world, write_synthetic_egtea
from gazeattn.synth.plan import clip_scene as _clip_scene, plan_world as _plan, session_style as _session_style
from gazeattn.synth.render import render_clip
from gazeattn.synth.vocabulary import VOCABULARIES

# the tiny world of test_synth.py; digests computed with the generator BEFORE the difficulty knobs existed
TINY = dict(seed=7, sessions=2, clips_per_session=3, width=64, height=48, min_frames=24, max_frames=40,
            no_gaze_clip_fraction=0.2)
PINNED_FILES = "facfc112070ee7727608159d629aa224202be1a05dfdacb67550afae31459f0b"  # gaze + annotation files
PINNED_TRUTH = "c1db649c02d9a609018719eb83eda9a61e75c7c7d19d7c178415c0d5d771ba8f"  # synth_truth.json less config
PINNED_PIXELS = "9a970ea1d13d3fdafcb74328b0c7a6c0d4babd0fec29c3ef4162eb53285d7abb"  # rendered RGB, before H.264
ORIGINAL_FIELDS = ("sessions", "clips_per_session", "seed", "width", "height", "min_frames", "max_frames", "frames",
                   "no_gaze_clip_fraction", "test_fraction", "secondary_noun_rate", "qp")
SMALL = dict(sessions=2, clips_per_session=3)  # named worlds at test size


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def file_digest(root: Path) -> str:
    h = hashlib.sha256()
    rels = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and p.relative_to(root).parts[0] in ("gaze_data", "action_annotation", "raw_annotations"))
    for rel in rels:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def rendered_digest(config: SynthConfig) -> str:
    h = hashlib.sha256()
    for s in _plan(config):
        s.style = _session_style(config, s)
        for c in s.clips:
            h.update(render_clip(_clip_scene(config, s, c)).tobytes())
    return h.hexdigest()


def fixations(root: Path, truth: dict, *, remove_calibration: bool = True):
    """Per clip with gaze: (clip truth, clip frames of the fixation samples, their (x, y) normalised)."""
    out = []
    for session, info in truth["sessions"].items():
        s = read_begaze_samples(root / "gaze_data" / f"{session}.txt")
        offset = np.array(info["calibration_offset"]) if remove_calibration else 0.0
        for name, clip in truth["clips"].items():
            if clip["session"] != session or clip["no_gaze"]:
                continue
            c = parse_clip_name(name)
            m = (s.frame >= c.start_frame) & (s.frame < c.end_frame) & (s.event == EVENT_FIXATION)
            xy = np.stack([s.x_px[m] / 1280.0, s.y_px[m] / 960.0], axis=1) - offset
            out.append((clip, s.frame[m] - c.start_frame, xy))
    return out


def target_distances(root: Path, truth: dict) -> np.ndarray:
    return np.concatenate([np.linalg.norm(xy - np.array(clip["target"]["centre"])[f], axis=1)
                           for clip, f, xy in fixations(root, truth)])


# ----------------------------------------------------------------------------------------- the original world
def test_default_world_is_unchanged(tmp_path):
    config = SynthConfig(**TINY)
    write_synthetic_egtea(tmp_path / "w", config)
    assert file_digest(tmp_path / "w") == PINNED_FILES
    truth = json.loads((tmp_path / "w" / "synth_truth.json").read_text())
    saved = truth.pop("config")
    assert hashlib.sha256(json.dumps(truth, sort_keys=True).encode()).hexdigest() == PINNED_TRUTH
    assert {k: saved[k] for k in ORIGINAL_FIELDS} == {k: getattr(config, k) for k in ORIGINAL_FIELDS}
    assert saved == config.to_json() and SynthConfig(**saved) == config  # the saved config rebuilds the world
    assert rendered_digest(config) == PINNED_PIXELS
    assert synth_world("demo", **TINY) == config


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("knob, value", [
    ("vocabulary", "huge"), ("n_actions", 1), ("n_actions", 12), ("objects", (1, 3)), ("objects", (5, 4)),
    ("objects", (3, 13)), ("objects", 4), ("objects", (3.5, 4)), ("object_size", (0.01, 0.1)),
    ("object_size", (0.1, 0.05)), ("object_size", (0.1, 0.3)), ("distractor_nouns", "same"), ("decoys", -1),
    ("decoys", "most"), ("decoys", 1.5), ("decoy_verbs", "none"), ("decoy_kind", "hand"), ("drift", -0.5),
    ("drift", float("nan")),
    ("camera_motion", 0.3), ("camera_motion", -0.1), ("gaze_noise", -1.0), ("gaze_noise", 11.0),
    ("gaze_on_target", 1.2), ("action_fraction", 0.0), ("action_fraction", 1.5), ("action_position", "left"),
    ("median_frames", 10), ("median_frames", 100), ("secondary_noun_rate", 2.0), ("sessions", 2.0),
    ("width", True), ("hand", "none"),
])
def test_every_knob_is_validated(knob, value):
    with pytest.raises(ValueError, match=knob):
        SynthConfig(**{knob: value})


def test_knob_types_normalised_and_lists_accepted():
    c = SynthConfig(objects=[5, 6], object_size=[0.05, 0.07], decoys="all", n_actions=None, vocabulary="large",
                    median_frames=40)
    assert c.objects == (5, 6) and c.object_size == (0.05, 0.07) and hash(c)
    assert SynthConfig(vocabulary="large", n_actions=20).n_actions == 20


def test_synth_world_names_and_overrides():
    with pytest.raises(ValueError, match="demo, crowded, long, lowres, binding"):
        synth_world("nope")
    with pytest.raises(ValueError, match="unknown SynthConfig field.*colour"):
        synth_world("demo", colour=3)
    c = synth_world("crowded", seed=3, sessions=4, clips_per_session=5, drift=0.5)
    assert (c.seed, c.sessions, c.clips_per_session, c.drift, c.objects) == (3, 4, 5, 0.5, (6, 8))
    assert synth_world("long", sessions=None).sessions == SynthConfig().sessions
    for name, overrides in WORLDS.items():  # every named world is a valid config and changes what it says
        c = synth_world(name)
        assert all(getattr(c, k) == (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items())


def test_large_vocabulary_is_distinct():
    large = VOCABULARIES["large"]
    assert len(large.nouns) == 8 and len({n.shape for n in large.nouns}) == 8
    colours = np.array([n.colour for n in large.nouns], dtype=float)
    gaps = np.abs(colours[:, None] - colours[None]).max(-1) + np.eye(8) * 999
    assert gaps.min() >= 60  # every pair differs by >= 60 in some channel
    assert len(large.actions) == 20 and len({(v, n) for v, n, _ in large.actions}) == 20
    first = large.actions[:15]
    assert {n for _, n, _ in first} == {n.name for n in large.nouns} and {v for v, _, _ in first} == set(large.verbs)


# ------------------------------------------------------------------------------------- named worlds, read back
@pytest.fixture(scope="module", params=list(WORLDS))
def named(request, tmp_path_factory):
    name = request.param
    extra = {"max_frames": 120} if name == "binding" else {}  # keep the test quick; lengths tested on the plan
    config = synth_world(name, seed=11, **SMALL, **extra)
    out = tmp_path_factory.mktemp(f"world_{name}")
    summary = write_synthetic_egtea(out, config)
    return name, config, out, summary, json.loads((out / "synth_truth.json").read_text())


def test_named_world_reads_back(named):
    name, config, out, summary, truth = named
    layout = EgteaLayout(out)
    train, test = layout.read_split(1, "train"), layout.read_split(1, "test")
    assert len(train) + len(test) == summary.n_clips == 6 and truth["config"] == config.to_json()
    report = check_dataset(out, probe_videos=True)
    assert report.ok, report
    assert report.n_actions == summary.n_actions <= len(VOCABULARIES[config.vocabulary].actions)
    for session in truth["sessions"]:
        table = parse_begaze(layout.gaze_path(session))
        assert table.shape[1] == 3 and np.isfinite(table).all()
    for e in train + test:
        info = truth["clips"][e.clip.name]
        assert layout.actions.name(e.action) == info["action_name"]
        assert config.min_frames <= e.clip.n_frames <= config.max_frames
        frames = decode(layout.resolve(e.clip).video)
        assert frames.shape == (e.clip.n_frames, config.height, config.width, 3)
        objs = info["objects"]
        assert config.objects[0] <= len(objs) <= config.objects[1]
        a0, a1 = info["action_frames"]
        hand = np.array(info["hand_centre"])[a0:a1]
        d = np.stack([np.linalg.norm(np.array(o["centre"])[a0:a1] - hand, axis=1) for o in objs])
        assert np.mean(d.argmin(axis=0) == 0) >= 0.95  # the hand is on the acted-on object
        # the target is visible where the truth says
        centre = np.array(info["target"]["centre"])
        inside = np.all((centre >= 0) & (centre < 1), axis=1)
        col = np.floor(centre[inside, 0] * config.width).astype(int)
        row = np.floor(centre[inside, 1] * config.height).astype(int)
        err = np.abs(frames[np.flatnonzero(inside), row, col].astype(float) - info["target"]["colour"]).max(axis=1)
        assert inside.mean() >= 0.9 and np.mean(err < 40) >= 0.9, (name, e.clip.name)
    # the gaze samples agree with the truth's target positions within the world's noise
    dist = target_distances(out, truth)
    assert len(dist) > 40
    assert np.median(dist) < 0.025 * config.gaze_noise + 0.01
    assert np.mean(dist < 0.1) > 0.5 * config.gaze_on_target / 0.84


def test_named_worlds_turn_their_knobs(named):
    name, config, out, _, truth = named
    clips = list(truth["clips"].values())
    roles = [o["role"] for c in clips for o in c["objects"][1:]]
    if config.decoys == "all":
        assert set(roles) == {"decoy"}
        assert all(o["motion"] != "drift" for c in clips for o in c["objects"])
    else:
        assert roles.count("decoy") == len(clips)
    if config.distractor_nouns == "others":
        assert all(o["noun"] != c["noun_names"][0] for c in clips for o in c["objects"][1:])
    heights = np.array([c["target"]["radius_px"][0] for c in clips]) / config.height
    assert np.all(heights >= 0.8 * config.object_size[0]) and np.all(heights <= 1.35 * config.object_size[1])
    assert ("camera_offset" in clips[0]) == (config.camera_motion > 0)
    if config.action_position == "random":
        spans = [c["action_frames"] for c in clips]
        assert all(abs((a1 - a0) / c["n_frames"] - config.action_fraction) < 0.1 for (a0, a1), c in zip(spans, clips))


def test_plan_lengths_actions_and_positions():
    plan = [c for s in _plan(synth_world("binding", sessions=20, clips_per_session=20)) for c in s.clips]
    lengths = np.array([c.name.n_frames for c in plan])
    assert lengths.min() >= 18 and lengths.max() <= 261 and 38 <= np.median(lengths) <= 56 and lengths.max() > 120
    assert len({c.action_name for c in plan}) == 15
    assert {c.split for c in plan} == {"train", "test"} and 0.2 <= np.mean([c.split == "test" for c in plan]) <= 0.3
    long = [c for s in _plan(synth_world("long", sessions=6, clips_per_session=10)) for c in s.clips]
    leads = [c.action_frames[0] / c.name.n_frames for c in long]
    assert all(20 <= c.name.n_frames <= 150 for c in long) and np.std(leads) > 0.08  # anywhere, not centred
    for c in long:
        a0, a1 = c.action_frames
        assert a0 >= 1 and a1 <= c.name.n_frames - 1 and abs((a1 - a0) - 0.4 * c.name.n_frames) <= 1


def test_distractor_nouns_any_repeats_the_target_noun(tmp_path):
    config = SynthConfig(sessions=1, clips_per_session=6, width=48, height=36, min_frames=12, max_frames=14,
                         vocabulary="small", objects=(6, 7), distractor_nouns="any", decoys=2, seed=5)
    write_synthetic_egtea(tmp_path / "w", config)
    truth = json.loads((tmp_path / "w" / "synth_truth.json").read_text())
    clips = list(truth["clips"].values())
    assert any(o["noun"] == c["noun_names"][0] for c in clips for o in c["objects"][1:])
    assert all([o["role"] for o in c["objects"]].count("decoy") == 2 for c in clips)
    others = SynthConfig(**{**config.__dict__, "distractor_nouns": "others"})
    write_synthetic_egtea(tmp_path / "o", others)  # 6-7 objects of 4 nouns: repeats, never the target's
    truth = json.loads((tmp_path / "o" / "synth_truth.json").read_text())
    assert all(o["noun"] != c["noun_names"][0] for c in truth["clips"].values() for o in c["objects"][1:])


def test_a_small_hand_has_no_arm_and_a_fraction_of_the_skin(tmp_path):
    base = dict(sessions=1, clips_per_session=3, width=96, height=72, min_frames=12, max_frames=14, seed=4,
                vocabulary="large", n_actions=15, objects=(4, 5), decoys="all", decoy_kind="action")
    skin, sleeve, near = {}, {}, {}
    for hand in ("arm", "small"):
        config = SynthConfig(**base, hand=hand)
        plan = _plan(config)
        session = plan[0]
        session.style = _session_style(config, session)
        for clip in session.clips[:1]:
            scene = _clip_scene(config, session, clip)
            video = render_clip(scene).astype(np.int32)  # (T, H, W, 3)
            skin[hand] = int((np.abs(video - np.array(scene.skin)).sum(-1) < 30).sum())
            sleeve[hand] = int((np.abs(video - np.array(scene.sleeve)).sum(-1) < 30).sum())
            gap = np.linalg.norm((scene.hand_centre - scene.target.centre) * [96, 72], axis=1)
            near[hand] = float(np.median(gap))
            assert scene.arm is (hand == "arm")
    assert 0 < skin["small"] < 0.35 * skin["arm"]  # about 0.45² of the hand's area
    assert sleeve["arm"] > 50 and sleeve["small"] < 0.05 * sleeve["arm"]  # no arm is drawn
    assert near["small"] < near["arm"]  # the small hand still touches the acted-on object


@pytest.mark.parametrize("mode", ["any", "others"])
def test_action_decoys_act_out_other_actions(tmp_path, mode):
    config = SynthConfig(sessions=1, clips_per_session=8, width=48, height=36, min_frames=12, max_frames=14,
                         vocabulary="large", n_actions=15, objects=(5, 6), decoys="all", decoy_kind="action",
                         distractor_nouns=mode, decoy_verbs=mode, seed=3)
    write_synthetic_egtea(tmp_path / "w", config)
    truth = json.loads((tmp_path / "w" / "synth_truth.json").read_text())
    actions = {(v, n) for v, n, _ in VOCABULARIES["large"].actions[:15]}
    shared = 0
    for clip in truth["clips"].values():
        verb, noun = clip["verb_name"], clip["noun_names"][0]
        extra = clip["noun_names"][1:]
        for o in clip["objects"][1:]:
            assert o["role"] == "decoy"
            if o["noun"] in extra:
                continue  # the secondary noun's object keeps its noun
            assert (o["motion"], o["noun"]) in actions and (o["motion"], o["noun"]) != (verb, noun)
            if mode == "others":
                assert o["motion"] != verb and o["noun"] != noun
            shared += o["motion"] == verb or o["noun"] == noun
    assert (shared > 0) == (mode == "any")


@pytest.mark.parametrize("size", [(160, 120), (128, 96), (96, 72)])
def test_resolutions(tmp_path, size):
    config = SynthConfig(sessions=1, clips_per_session=2, width=size[0], height=size[1], min_frames=12,
                         max_frames=16, objects=(5, 6))
    write_synthetic_egtea(tmp_path / "w", config)
    truth = json.loads((tmp_path / "w" / "synth_truth.json").read_text())
    for name, clip in truth["clips"].items():
        assert decode(tmp_path / "w" / "cropped_clips" / clip["session"] / f"{name}.mp4").shape[1:3] == size[::-1]


# ---------------------------------------------------------------------------------------------------- gaze
def test_gaze_knobs(tmp_path):
    base = dict(sessions=2, clips_per_session=3, width=64, height=48, min_frames=24, max_frames=40, seed=2,
                no_gaze_clip_fraction=0.0)
    result = {}
    for key, knobs in {"exact": dict(gaze_noise=0.0, gaze_on_target=1.0), "noisy": dict(gaze_noise=3.0),
                       "elsewhere": dict(gaze_on_target=0.0, gaze_noise=0.0)}.items():
        write_synthetic_egtea(tmp_path / key, SynthConfig(**base, **knobs))
        result[key] = target_distances(tmp_path / key, json.loads((tmp_path / key / "synth_truth.json").read_text()))
    assert np.median(result["exact"]) < 1e-4 and np.mean(result["exact"] < 1e-4) > 0.8  # only 2-decimal px rounding
    assert np.median(result["noisy"]) > 0.03
    assert np.mean(result["elsewhere"] < 0.01) < 0.2  # hand, other objects, out of frame


# --------------------------------------------------------------------------------------------- camera motion
def test_camera_motion_moves_pixels_and_gaze_together(tmp_path):
    base = dict(sessions=1, clips_per_session=3, width=96, height=72, min_frames=30, max_frames=40, seed=4,
                no_gaze_clip_fraction=0.0)
    still, moving = tmp_path / "still", tmp_path / "moving"
    write_synthetic_egtea(still, SynthConfig(**base))
    write_synthetic_egtea(moving, SynthConfig(**base, camera_motion=0.12))
    t_still = json.loads((still / "synth_truth.json").read_text())
    t_moving = json.loads((moving / "synth_truth.json").read_text())
    assert "camera_offset" not in next(iter(t_still["clips"].values()))
    for name, clip in t_moving["clips"].items():
        cam = np.array(clip["camera_offset"])  # normalised (x, y)
        amp = np.abs(cam * [96, 72]).max(axis=0)
        assert np.all(amp > 0.12 * 72 - 0.5) and np.all(amp < 0.12 * 72 + 0.5)  # the amplitude, in pixels
        assert np.abs(np.diff(cam * [96, 72], axis=0)).max() < 4  # smooth: no jumps between frames
        # the same scene, moved by the camera: objects and hand, not the arm's base
        for a, b in zip(clip["objects"], t_still["clips"][name]["objects"]):
            np.testing.assert_allclose(np.array(a["centre"]) - b["centre"], cam, atol=2e-5)
        np.testing.assert_allclose(np.array(clip["hand_centre"]) - t_still["clips"][name]["hand_centre"], cam,
                                   atol=2e-5)
        # pixels: the target's colour at its (moved) centre
        frames = decode(moving / "cropped_clips" / clip["session"] / f"{name}.mp4")
        centre = np.array(clip["target"]["centre"])
        inside = np.all((centre >= 0) & (centre < 1), axis=1)
        col, row = np.floor(centre[inside] * [96, 72]).astype(int).T
        err = np.abs(frames[np.flatnonzero(inside), row, col].astype(float) - clip["target"]["colour"]).max(axis=1)
        assert np.mean(err < 40) >= 0.9, name
        # the counter moves too: frame j is frame i shifted by the camera's displacement (whole-pixel search)
        shift = np.abs((cam - cam[0]) * [96, 72]).max(axis=1)
        i, j = 0, int(np.argmin(np.abs(shift - 6)))  # a displacement of about 6 px
        want = np.rint((cam[j] - cam[i]) * [96, 72]).astype(int)
        m = 10
        a, b = frames[i].astype(float), frames[j].astype(float)
        scores = {(dx, dy): np.abs(b[m + dy:72 - m + dy, m + dx:96 - m + dx] - a[m:72 - m, m:96 - m]).mean()
                  for dx in range(-m, m + 1) for dy in range(-m, m + 1)}
        best = np.array(min(scores, key=scores.get))
        assert np.abs(best - want).max() <= 1 and np.abs(want).max() >= 3, (best, want)
    # gaze: each fixation moved by the camera offset of its frame (same random streams in both worlds)
    fix_m = fixations(moving, t_moving, remove_calibration=False)
    fix_s = fixations(still, t_still, remove_calibration=False)
    moved = []
    for (clip, f, xy), (_, f_s, xy_s) in zip(fix_m, fix_s):
        assert np.array_equal(f, f_s)
        moved.append(np.linalg.norm(xy - xy_s - np.array(clip["camera_offset"])[f], axis=1))
    moved = np.concatenate(moved)
    assert len(moved) > 40 and np.mean(moved < 1e-3) > 0.9  # the rest: fixations on out-of-frame points


# -------------------------------------------------------------------------------------------- determinism
def test_new_knobs_are_deterministic_per_seed(tmp_path):
    knobs = dict(sessions=1, clips_per_session=3, width=64, height=48, min_frames=14, max_frames=60,
                 median_frames=24, vocabulary="large", objects=(5, 7), object_size=(0.06, 0.08),
                 distractor_nouns="any", decoys="all", decoy_verbs="any", drift=2.0, camera_motion=0.08,
                 gaze_noise=1.5, gaze_on_target=0.7, action_fraction=0.5, action_position="random")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for path, seed in ((a, 9), (b, 9), (c, 10)):
        write_synthetic_egtea(path, SynthConfig(seed=seed, **knobs))
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    for rel in files:
        if rel.endswith(".mp4"):
            assert np.array_equal(decode(a / rel), decode(b / rel)), rel
        else:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "synth_truth.json").read_bytes() != (c / "synth_truth.json").read_bytes()


# ----------------------------------------------------------------------------------------------------- CLI
def test_cli_world_and_knob_flags(tmp_path, capsys):
    from gazeattn.cli import main

    out = tmp_path / "cli"
    argv = ["synth", str(out), "--world", "crowded", "--sessions", "1", "--clips-per-session", "2", "--size",
            "64x48", "--min-frames", "12", "--max-frames", "16", "--objects", "4", "5", "--decoys", "2",
            "--camera-motion", "0.05", "--gaze-noise", "0.5", "--actions", "12", "--action-position", "random"]
    assert main(argv) == 0
    config = json.loads((out / "synth_truth.json").read_text())["config"]
    assert config == synth_world("crowded", sessions=1, clips_per_session=2, width=64, height=48, min_frames=12,
                                 max_frames=16, objects=(4, 5), decoys=2, camera_motion=0.05, gaze_noise=0.5,
                                 n_actions=12, action_position="random").to_json()
    assert "world: crowded" in capsys.readouterr().out
    assert main(["synth", str(tmp_path / "bad"), "--objects", "1", "3"]) == 2
    assert "objects must be" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as err:
        main(["synth", str(tmp_path / "x"), "--world", "nope"])
    assert err.value.code == 2 and "binding" in capsys.readouterr().err
