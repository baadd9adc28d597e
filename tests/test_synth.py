"""The synthetic EGTEA world: layout, file formats, determinism, and a gaze that follows the acted-on object."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from gazeattn.data import begaze
from gazeattn.data.annotations import read_label_index, read_split
from gazeattn.data.clipnames import parse_clip_name
from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.synth.begaze_writer import frame_timecode, write_begaze
from gazeattn.synth.plan import plan_world as _plan
from realdata import gaze_file, official_table_file

TINY = dict(sessions=2, clips_per_session=3, width=64, height=48, min_frames=24, max_frames=40,
            no_gaze_clip_fraction=0.2)
MICRO = dict(sessions=1, clips_per_session=2, width=32, height=32, min_frames=12, max_frames=16)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "world"
    summary = write_synthetic_egtea(out, SynthConfig(seed=7, **TINY))
    truth = json.loads((out / "synth_truth.json").read_text())
    return out, summary, truth


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def read_samples(path: Path) -> dict[str, np.ndarray]:
    """Raw samples, parsed the way the official reader splits lines (whitespace tokens after 34 lines)."""
    lines = path.read_text().splitlines()[34:]
    t, x, y, f, ev = [], [], [], [], []
    for line in lines:
        v = line.split()
        if len(v) == 7:
            x.append(float(v[3])), y.append(float(v[4])), f.append(int(v[5]))
        else:
            assert len(v) == 26, line
            h, m, s, ff = (int(p) for p in v[-2].split(":"))
            x.append(float(v[5])), y.append(float(v[6])), f.append((3600 * h + 60 * m + s) * 24 + ff)
        t.append(int(v[0])), ev.append(v[-1])
    return {"t": np.array(t), "x_px": np.array(x), "x": np.array(x) / 1280, "y": np.array(y) / 960,
            "frame": np.array(f), "event": np.array(ev)}


def official_table(path: Path) -> np.ndarray:
    """The official EGTEA reader's semantics, sample by sample in float32 (Fixation 1, Saccade 2, else 3)."""
    lines = path.read_text().splitlines()
    ver = 1 if "## Number of Samples:" in lines[9] else 2
    n_samples = int(lines[9 if ver == 1 else 10].split()[4])
    table = np.zeros((n_samples * 2, 3), dtype=np.float32)
    last = 0
    for line in lines[34:]:
        v = line.split()
        if len(v) == 7 and ver == 1:
            px, py, frame = float(v[3]), float(v[4]), int(v[5])
        elif len(v) == 26 and ver == 2:
            h, m, s, ff = (int(p) for p in v[-2].split(":"))
            px, py, frame = float(v[5]), float(v[6]), (3600 * h + 60 * m + s) * 24 + ff
        else:
            raise ValueError("Format not supported")
        if table[frame, 2] > 0:
            table[frame, 0] = (table[frame, 0] + np.float32(px)) / np.float32(2.0)
            table[frame, 1] = (table[frame, 1] + np.float32(py)) / np.float32(2.0)
        else:
            table[frame, 0], table[frame, 1] = px, py
        table[frame, 2] = {"Fixation": 1, "Saccade": 2}.get(v[-1], 3)
        last = max(last, frame)
    table = table[: last + 1]
    with np.errstate(invalid="ignore"):
        table[:, 0] = np.where(np.isnan(table[:, 0]), 0, np.clip(table[:, 0], 0, 1279)) / np.float32(1280)
        table[:, 1] = np.where(np.isnan(table[:, 1]), 0, np.clip(table[:, 1], 0, 959)) / np.float32(960)
    return table


# ------------------------------------------------------------------------------------------------- layout
def test_layout_splits_and_videos(world):
    out, summary, truth = world
    ann = out / "action_annotation"
    actions, verbs, nouns = (read_label_index(ann / f"{k}_idx.txt") for k in ("action", "verb", "noun"))
    train = read_split(ann / "train_split1.txt", n_actions=len(actions), n_verbs=len(verbs), n_nouns=len(nouns))
    test = read_split(ann / "test_split1.txt", n_actions=len(actions), n_verbs=len(verbs), n_nouns=len(nouns))
    entries = train + test
    assert {e.clip.name for e in entries} == set(truth["clips"]) and len(entries) == summary.n_clips == 6
    assert not {e.clip.name for e in train} & {e.clip.name for e in test}
    csv = (out / "raw_annotations" / "action_labels.csv").read_text().splitlines()
    assert len(csv) == 1 + summary.n_clips and csv[0].startswith("# Clip ID")
    counts = Counter(e.action for e in entries)
    assert [counts[i] for i in range(len(actions))] == sorted(counts.values(), reverse=True)  # ids by frequency
    for e in entries:
        info = truth["clips"][e.clip.name]
        assert actions.name(e.action) == f"{verbs.name(e.verb)} {nouns.name(e.noun)}" == info["action_name"]
        assert [n + 1 for n in e.nouns] == info["nouns"] and info["split"] == ("train" if e in train else "test")
        c = e.clip
        assert parse_clip_name(c.name) == c
        # the ms give the action proper; the frame range pads it by ~10 % on each side
        a0, a1 = math.floor(c.start_ms * 24 / 1000), math.floor(c.end_ms * 24 / 1000)
        pad = max(1, round(c.n_frames / 12))
        assert (a0 - c.start_frame, c.end_frame - a1) == (pad, pad) and info["action_frames"] == [pad, c.n_frames - pad]
        video = out / "cropped_clips" / c.session / f"{c.name}.mp4"
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            assert stream.average_rate == 24
        frames = decode(video)
        assert frames.shape == (c.n_frames, 48, 64, 3) == (info["n_frames"], 48, 64, 3)
        assert len(info["target"]["centre"]) == c.n_frames
    assert sorted(p.name for p in (out / "gaze_data").iterdir()) == sorted(f"{s}.txt" for s in truth["sessions"])


def test_default_plan_is_stratified_and_in_range():
    sessions = _plan(SynthConfig())
    clips = [c for s in sessions for c in s.clips]
    assert [s.name[:2] for s in sessions] == ["OP", "P0", "OP", "P0", "OP", "P0"]
    assert [s.version for s in sessions] == [1, 2] * 3
    by_split = {k: Counter(c.action_name for c in clips if c.split == k) for k in ("train", "test")}
    assert 8 <= len(by_split["train"]) <= 12 and set(by_split["train"]) == set(by_split["test"])
    assert 0.15 <= sum(by_split["test"].values()) / len(clips) <= 0.3
    assert all(24 <= c.name.n_frames <= 72 for c in clips)
    assert sum(len(c.nouns) == 2 for c in clips) >= 1
    for s in sessions:  # clips do not overlap in the session timeline
        ends = [(c.name.start_frame, c.name.end_frame) for c in s.clips]
        assert all(e0 <= s1 for (_, e0), (s1, _) in zip(ends, ends[1:])) and ends[-1][1] < s.n_frames


# ------------------------------------------------------------------------------------------------ gaze files
def test_gaze_file_structure(world):
    out, _, truth = world
    for session, info in truth["sessions"].items():
        path = out / "gaze_data" / f"{session}.txt"
        raw = path.read_bytes()
        assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
        lines = raw.decode("ascii").split("\r\n")[:-1]
        version = 1 if session.startswith("OP") else 2
        assert info["begaze_version"] == version
        assert all(line.startswith("##") for line in lines[:33]) and lines[33].startswith("Time\tType\tTrial\t")
        assert not lines[34].startswith("#")
        count_line = lines[9 if version == 1 else 10]
        assert count_line.startswith("## Number of Samples:\t")
        assert int(count_line.split()[4]) == len(lines) - 34 == info["n_samples"]
        rows = [line.split("\t") for line in lines[34:]]
        assert {len(r) for r in rows} == {8 if version == 1 else 27}
        assert {len(line.split()) for line in lines[34:]} == {7 if version == 1 else 26}
        s = read_samples(path)
        assert np.all(np.diff(s["t"]) > 0) and np.all(np.diff(s["frame"]) >= 0)
        # frame = floor(24 · session time): consistent with the µs clock to within a frame
        implied = s["frame"][0] + (s["t"] - s["t"][0]) * 24 / 1e6
        assert np.all(np.abs(s["frame"] - implied) < 1.5)
        nan = np.isnan(s["x"]) | np.isnan(s["y"])
        if version == 1:
            assert not nan.any() and all(r[6] == "" for r in rows)
            lo, hi = s["frame"].min(), s["frame"].max()
            no_gaze = sum(c["n_frames"] for c in truth["clips"].values() if c["session"] == session and c["no_gaze"])
            empty = (hi - lo + 1 - len(np.unique(s["frame"])) - no_gaze) / (hi - lo + 1 - no_gaze)
            assert 0.03 <= empty <= 0.25  # the real v1 files: 4–22 % of frames have no sample
        else:
            assert set(s["event"][nan]) <= {"Blink", "-"} and nan.any()
            assert all(int(r[24].split(":")[3]) < 24 for r in rows)


def test_official_reader_round_trip(world):
    out, _, truth = world
    types = set()
    for session in truth["sessions"]:
        path = out / "gaze_data" / f"{session}.txt"
        ours = official_table(path)
        types |= set(np.unique(ours[:, 2]).tolist())
        assert np.all((ours[:, :2] >= 0) & (ours[:, :2] < 1))
        assert np.array_equal(begaze.parse_begaze(path, compat="official"), ours)
        samples = begaze.read_begaze_samples(path)
        mine = read_samples(path)
        assert samples.version == truth["sessions"][session]["begaze_version"]
        assert np.array_equal(samples.frame, mine["frame"]) and np.array_equal(samples.time_us, mine["t"])
        np.testing.assert_array_equal(samples.x_px, mine["x_px"])
    assert types == {0.0, 1.0, 2.0, 3.0}


def test_event_mix(world):
    out, _, truth = world
    events = Counter()
    finite = outside = 0
    for session in truth["sessions"]:
        s = read_samples(out / "gaze_data" / f"{session}.txt")
        events.update(s["event"].tolist())
        ok = np.isfinite(s["x"]) & np.isfinite(s["y"])
        finite += ok.sum()
        outside += (ok & ((s["x"] < 0) | (s["x"] >= 1) | (s["y"] < 0) | (s["y"] >= 1))).sum()
    n = sum(events.values())
    assert set(events) == {"Fixation", "Saccade", "Blink", "-"}
    assert 0.55 <= events["Fixation"] / n <= 0.8
    assert 0.15 <= events["Saccade"] / n <= 0.35
    assert 0 < (events["Blink"] + events["-"]) / n <= 0.12
    assert 0 < outside / finite < 0.3


def test_gaze_follows_the_acted_on_object(world):
    out, _, truth = world
    dists, raw_dists = [], []
    for session, info in truth["sessions"].items():
        s = read_samples(out / "gaze_data" / f"{session}.txt")
        offset = np.array(info["calibration_offset"])
        assert np.all(np.abs(offset) <= 0.05)
        for name, clip in truth["clips"].items():
            if clip["session"] != session:
                continue
            c = parse_clip_name(name)
            inside = (s["frame"] >= c.start_frame) & (s["frame"] < c.end_frame)
            if clip["no_gaze"]:
                assert not inside.any()
                continue
            assert inside.sum() >= 0.5 * c.n_frames
            fix = inside & (s["event"] == "Fixation")
            centre = np.array(clip["target"]["centre"])[s["frame"][fix] - c.start_frame]
            gaze = np.stack([s["x"][fix], s["y"][fix]], axis=1)
            dists += np.linalg.norm(gaze - offset - centre, axis=1).tolist()
            raw_dists += np.linalg.norm(gaze - centre, axis=1).tolist()
    dists = np.array(dists)
    assert len(dists) > 50
    assert np.median(dists) < 0.04 and np.mean(dists < 0.1) > 0.5  # uniform gaze: ~0.03
    assert np.median(raw_dists) < 0.04 + 0.05 * math.sqrt(2)  # within the calibration bound without removing it
    assert sum(c["no_gaze"] for c in truth["clips"].values()) == 1


def test_labels_are_carried_by_hand_contact(world):
    _, _, truth = world
    for clip in truth["clips"].values():
        objs = clip["objects"]
        assert 3 <= len(objs) <= 4 and objs[0]["role"] == "target" and objs[0] == clip["target"]
        assert objs[0]["noun"] == clip["noun_names"][0] and objs[0]["motion"] == clip["verb_name"]
        assert len({o["noun"] for o in objs}) == len(objs)
        decoys = [o for o in objs if o["role"] == "decoy"]
        assert len(decoys) == 1 and decoys[0]["motion"] not in ("drift", clip["verb_name"])
        a0, a1 = clip["action_frames"]
        hand = np.array(clip["hand_centre"])[a0:a1]
        d = np.stack([np.linalg.norm(np.array(o["centre"])[a0:a1] - hand, axis=1) for o in objs])
        assert np.all(d.argmin(axis=0) == 0)  # the hand touches the acted-on object during the whole action


def test_target_visible_in_pixels(world):
    out, _, truth = world
    for name, clip in truth["clips"].items():
        frames = decode(out / "cropped_clips" / clip["session"] / f"{name}.mp4")
        h, w = frames.shape[1:3]
        centre = np.array(clip["target"]["centre"])
        col = np.floor(centre[:, 0] * w).astype(int)
        row = np.floor(centre[:, 1] * h).astype(int)
        pixels = frames[np.arange(len(frames)), row, col].astype(float)
        err = np.abs(pixels - np.array(clip["target"]["colour"])).max(axis=1)
        assert np.mean(err < 40) >= 0.95, (name, err)
        hand = np.array(clip["hand_centre"])
        rows, cols = np.floor(hand[:, 1] * h).astype(int), np.floor(hand[:, 0] * w).astype(int)
        skin = frames[np.arange(len(frames)), rows, cols]
        err = np.abs(skin.astype(float) - np.array(clip["hand_colour"])).max(axis=1)
        assert np.mean(err < 40) >= 0.9, (name, err)


# -------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_world_other_seed_other_world(world, tmp_path):
    out, _, truth = world
    again = tmp_path / "again"
    write_synthetic_egtea(again, SynthConfig(seed=7, **TINY))
    files = [p.relative_to(out) for p in sorted(out.rglob("*")) if p.is_file()]
    assert files == [p.relative_to(again) for p in sorted(again.rglob("*")) if p.is_file()]
    for rel in files:
        if rel.suffix == ".mp4":
            assert np.array_equal(decode(out / rel), decode(again / rel)), rel
        else:
            assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    write_synthetic_egtea(other, SynthConfig(seed=8, **TINY))
    assert (other / "action_annotation" / "train_split1.txt").read_bytes() != (
        out / "action_annotation" / "train_split1.txt").read_bytes()
    for session in truth["sessions"]:
        mine, theirs = out / "gaze_data" / f"{session}.txt", other / "gaze_data" / f"{session}.txt"
        assert not theirs.exists() or theirs.read_bytes() != mine.read_bytes()


def test_force_overwrites_only_its_own_files(tmp_path):
    out = tmp_path / "w"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_synthetic_egtea(out, SynthConfig(**MICRO))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    big = write_synthetic_egtea(out, SynthConfig(**{**MICRO, "clips_per_session": 3}), force=True)
    (out / "cropped_clips" / "keep.me").write_text("also mine")
    small = write_synthetic_egtea(out, SynthConfig(**{**MICRO, "seed": 1}), force=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "cropped_clips" / "keep.me").read_text() == "also mine"
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert present == set(small.files) | {"notes.txt", "cropped_clips/keep.me"}
    assert set(big.files) - set(small.files)  # the first run's clips are gone, not left to pollute the layout


# ----------------------------------------------------------------------------------------------------- CLI
def test_cli_in_process_with_frames(tmp_path, capsys):
    from gazeattn.cli import main

    out = tmp_path / "cli"
    argv = ["synth", str(out), "--sessions", "1", "--clips-per-session", "2", "--size", "32x32",
            "--min-frames", "12", "--max-frames", "16", "--seed", "3", "--frames"]
    assert main(argv) == 0
    assert "2 clips" in capsys.readouterr().out
    truth = json.loads((out / "synth_truth.json").read_text())
    for name, clip in truth["clips"].items():
        jpgs = sorted((out / "images_rgb" / name).glob("*.jpg"))
        assert [p.name for p in jpgs] == [f"{i:04d}.jpg" for i in range(1, clip["n_frames"] + 1)]
        first = decode(jpgs[0])[0].astype(float)
        video = decode(out / "cropped_clips" / clip["session"] / f"{name}.mp4")
        assert first.shape == (32, 32, 3) and np.abs(first - video[0]).mean() < 8  # frame 1 = clip frame 0
    assert main(argv) == 1  # non-empty without --force
    assert main(argv + ["--force"]) == 0
    with pytest.raises(SystemExit) as err:
        main(["synth", "--help"])
    assert err.value.code == 0


@pytest.mark.parametrize("name", ["OP01-R02-TurkeySandwich", "P10-R02-TurkeySandwich"])
def test_begaze_writer_rewrites_real_exports_exactly(tmp_path, name):
    """Re-writing a real export's samples gives a file the official reader turns into the same table."""
    real = begaze.read_begaze_samples(gaze_file(name))
    names = {begaze.EVENT_FIXATION: "Fixation", begaze.EVENT_SACCADE: "Saccade", begaze.EVENT_BLINK: "Blink",
             begaze.EVENT_NONE: "-"}
    path = tmp_path / f"{name}.txt"
    write_begaze(path, version=real.version, time_us=real.time_us, x_px=real.x_px, y_px=real.y_px,
                 frame=real.frame, events=[names[int(e)] for e in real.event])
    expected = np.load(official_table_file(name))
    assert np.array_equal(official_table(path), expected)
    assert np.array_equal(begaze.parse_begaze(path, compat="official"), expected)


def test_begaze_writer_checks_and_timecodes(tmp_path):
    assert frame_timecode(0) == "00:00:00:00" and frame_timecode((3600 + 60 + 1) * 24 + 23) == "01:01:01:23"
    kw = dict(time_us=[1, 2], x_px=[1.0, 2.0], y_px=[3.0, 4.0], frame=[0, 1], events=["Fixation", "Saccade"])
    with pytest.raises(ValueError):
        write_begaze(tmp_path / "a.txt", version=3, **kw)
    with pytest.raises(ValueError):
        write_begaze(tmp_path / "a.txt", version=1, **{**kw, "time_us": [2, 1]})
    with pytest.raises(ValueError):
        write_begaze(tmp_path / "a.txt", version=1, **{**kw, "events": ["Fixation", "Nap"]})
    write_begaze(tmp_path / "b.txt", version=2, **{**kw, "x_px": [float("nan"), 5.0]})
    assert (tmp_path / "b.txt").read_bytes().split(b"\r\n")[34].split(b"\t")[5:7] == [b"NaN", b"3.00"]
