"""The dataset end to end on a synthetic EGTEA world: every clip decodes, every gaze row maps, and
crop/flip move the gaze with the pixels where the true gaze target is known."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from gazeattn.data.begaze import FIXATION, parse_begaze
from gazeattn.data.dataset import ClipConfig, EgteaClips, collate_clips, window_starts
from gazeattn.data.layout import EgteaLayout
from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.data.transforms import CropFlip
from gazeattn.utils.errors import DataError

CFG = ClipConfig(frames=24, crop=64, short_side=72, train_short_side=(72, 88), strides=(8, 16, 16))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "egtea"
    write_synthetic_egtea(root, SynthConfig(sessions=3, clips_per_session=5, seed=7, width=96, height=72,
                                            min_frames=20, max_frames=56, frames=True))
    return root


@pytest.fixture(scope="module")
def truth(world):
    return json.loads((world / "synth_truth.json").read_text())


def test_every_clip_decodes_and_every_gaze_row_maps(world):
    layout = EgteaLayout(world)
    for subset in ("train", "test"):
        entries = layout.read_split(1, subset)
        ds = EgteaClips(layout, entries, CFG, train=False)
        assert len(ds) == sum(len(window_starts(e.clip.n_frames, 24)) for e in entries)
        for i in range(len(ds)):
            item = ds[i]
            assert item["rgb"].shape == (3, 24, 64, 64) and item["rgb"].dtype == torch.float32
            assert -1.0 <= item["rgb"].min() and item["rgb"].max() <= 1.0
            assert item["gaze_target"].shape == (3, 4, 4)
            # gaze rows: clip frame f <-> session frame start_frame + start + f, centre crop mapping; frames past
            # the clip's end (padding) repeat its last frame
            entry = ds.entries[item["clip_index"]]
            table = parse_begaze(layout.gaze_path(entry.clip.session))
            frames = entry.clip.start_frame + item["start"] + np.minimum(np.arange(24), entry.clip.n_frames - 1)
            rows = table[np.minimum(frames, len(table) - 1)]
            rows[frames >= len(table)] = 0
            assert np.array_equal(item["gaze_type"].numpy(), rows[:, 2].astype(np.int64))
            w, h, x0, y0, cw, ch, flip = item["crop"].tolist()
            plan = CropFlip(w, h, x0, y0, cw, ch, bool(flip))
            assert np.allclose(item["gaze_xy"].numpy(), plan.points(rows[:, :2]), atol=1e-6)


def test_padded_frames_of_short_clips_repeat_the_last_frames_gaze(world):
    """A clip shorter than the window repeats its last frame: its pixels and its gaze (x, y and type), never the
    gaze of the session frames after the clip's end."""
    cfg = ClipConfig(frames=64, crop=64, short_side=72, train_short_side=(72, 88), strides=(8, 16, 16))
    layout = EgteaLayout(world)
    ds = EgteaClips(layout, layout.read_split(1, "test"), cfg, train=False)
    differs_from_session = 0
    for i in range(len(ds)):
        item = ds[i]
        clip = ds.entries[item["clip_index"]].clip
        n = clip.n_frames
        assert n < 64 and item["start"] == 0
        rgb, xy, types = item["rgb"], item["gaze_xy"].numpy(), item["gaze_type"].numpy()
        assert (rgb[:, n:] == rgb[:, n - 1 : n]).all()  # the pixels: the last frame, repeated
        assert (xy[n:] == xy[n - 1]).all() and (types[n:] == types[n - 1]).all()  # so is the gaze
        table = parse_begaze(layout.gaze_path(clip.session))
        rows = table[clip.start_frame + np.arange(n)]
        assert np.array_equal(types[:n], rows[:, 2].astype(np.int64))  # real frames: their own rows
        w, h, x0, y0, cw, ch, flip = item["crop"].tolist()
        plan = CropFlip(w, h, x0, y0, cw, ch, bool(flip))
        assert np.allclose(xy[:n], plan.points(rows[:, :2]), atol=1e-6)
        after = table[clip.start_frame + n : clip.start_frame + 64]  # what the session shows after the clip
        differs_from_session += bool(len(after)) and not np.allclose(plan.points(after[:, :2]), xy[n : n + len(after)])
    assert differs_from_session >= 1  # the case the fix is about does occur here


def test_training_windows_are_random_and_reproducible(world):
    layout = EgteaLayout(world)
    entries = [e for e in layout.read_split(1, "train") if e.clip.n_frames >= 40]
    ds = EgteaClips(layout, entries, CFG, train=True, seed=3)
    starts = [ds[i]["start"] for i in range(len(ds))]
    again = [ds[i]["start"] for i in range(len(ds))]
    assert starts == again
    ds.set_epoch(1)
    assert [ds[i]["start"] for i in range(len(ds))] != starts or len(ds) < 3
    assert any(s > 0 for s in starts), "the reference's defect (always frames 1-24) must not come back"


def _object_centroid(frame_uint8: np.ndarray, colour) -> tuple[float, float] | None:
    dist = np.abs(frame_uint8.astype(int) - np.asarray(colour)[None, None]).sum(-1)
    mask = dist < 40
    if mask.sum() < 6:
        return None
    rows, cols = np.nonzero(mask)
    return (cols.mean() + 0.5) / frame_uint8.shape[1], (rows.mean() + 0.5) / frame_uint8.shape[0]


def test_crop_and_flip_move_true_gaze_with_pixels(world, truth):
    """The acted-on object's true centre, transformed like the gaze, lands on the object's pixels."""
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    cfg = ClipConfig(frames=24, crop=56, short_side=72, train_short_side=(72, 96), strides=(8, 16, 16), flip_prob=0.5)
    ds = EgteaClips(layout, entries, cfg, train=True, seed=11)
    checked = flips = 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            clip = truth["clips"][ds.entries[item["clip_index"]].clip.name]
            w, h, x0, y0, cw, ch, flip = item["crop"].tolist()
            plan = CropFlip(w, h, x0, y0, cw, ch, bool(flip))
            frames = ((item["rgb"].permute(1, 2, 3, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
            for f in (0, 12, 23):
                centre = np.asarray(clip["target"]["centre"][item["start"] + f])
                expected = plan.points(centre[None])[0]
                if not (0.15 < expected[0] < 0.85 and 0.15 < expected[1] < 0.85):
                    continue  # object partly cropped away: its visible centroid is biased
                seen = _object_centroid(frames[f], clip["target"]["colour"])
                if seen is None:
                    continue  # occluded by the hand
                assert abs(seen[0] - expected[0]) < 0.08 and abs(seen[1] - expected[1]) < 0.08, (item["crop"], f)
                checked += 1
                flips += bool(flip)
    assert checked >= 30 and 0 < flips < checked


def test_frame_folders_give_the_same_pixels_as_the_mp4(world):
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "test")[:3]
    from_video = EgteaClips(layout, entries, CFG, train=False)
    from_frames = EgteaClips(layout, entries, ClipConfig(**{**CFG.__dict__, "source": "frames"}), train=False)
    for i in range(len(from_video)):
        a, b = from_video[i]["rgb"], from_frames[i]["rgb"]
        assert (a - b).abs().mean() < 0.05  # JPEG vs H.264: close, not identical
        assert torch.equal(from_video[i]["gaze_xy"], from_frames[i]["gaze_xy"])


def test_bad_clip_policies(world, tmp_path, caplog):
    broken = tmp_path / "broken"
    shutil.copytree(world, broken, ignore=shutil.ignore_patterns("images_rgb"))
    layout = EgteaLayout(broken)
    entries = layout.read_split(1, "train")
    victims = [layout.video_path(e.clip) for e in entries[:3]]
    victims[0].unlink()  # missing
    victims[1].write_bytes(b"")  # zero-length
    victims[2].write_bytes(victims[2].read_bytes()[:300])  # truncated
    with pytest.raises(DataError, match="1 clip"):
        EgteaClips(layout, entries, CFG, train=True, on_bad_clip="error")
    ds = EgteaClips(layout, entries, CFG, train=True, on_bad_clip="skip")
    assert len(ds) == len(entries) - 1 and ds.skipped[0][0] == entries[0].clip.name
    loader = DataLoader(ds, batch_size=4, collate_fn=collate_clips)
    n = sum(len(b["label"]) for b in loader if b is not None)
    assert n == len(entries) - 3
    skipped = {name for name, _ in ds.skipped}
    assert {e.clip.name for e in entries[:3]} <= skipped
    assert sum("skipping clip" in r.message for r in caplog.records) >= 3
    strict = EgteaClips(layout, entries[1:], CFG, train=True, on_bad_clip="error")
    with pytest.raises(DataError, match="empty"):
        strict[0]


def test_missing_gaze_file_gives_untracked_frames(world, tmp_path):
    copy = tmp_path / "nogaze"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns("images_rgb"))
    layout = EgteaLayout(copy)
    entries = layout.read_split(1, "test")
    layout.gaze_path(entries[0].clip.session).unlink()
    ds = EgteaClips(layout, entries[:1], CFG, train=False)
    item = ds[0]
    assert (item["gaze_type"] == 0).all() and not item["gaze_mask"].any() and (item["gaze_cell"] == -1).all()


def test_widened_min2021_names_map_to_the_official_mp4(world, tmp_path):
    layout = EgteaLayout(world)
    entry = layout.read_split(1, "train")[0]
    c = entry.clip
    widened = f"{c.prefix}-F{c.start_frame - 3:06d}-F{c.end_frame + 3:06d}"
    split = tmp_path / "train_split1.txt"
    split.write_text(f"{widened} {entry.action + 1} {entry.verb + 1} {entry.noun + 1}\n")
    entries = layout.read_split(1, "train", split)
    src = layout.resolve(entries[0].clip)
    assert src.remapped and src.media == c and src.video == layout.video_path(c)
    ds = EgteaClips(layout, entries, CFG, train=False)
    assert ds[0]["rgb"].shape[1] == 24


def test_fixations_land_near_the_true_target(world, truth):
    """The measured gaze (with calibration offset and noise) follows the acted-on object."""
    layout = EgteaLayout(world)
    dists = []
    for name, clip in truth["clips"].items():
        if clip["no_gaze"]:
            continue
        table = parse_begaze(layout.gaze_path(clip["session"]))
        start = int(name.split("-F")[-2])
        for f, centre in enumerate(clip["target"]["centre"]):
            row = table[start + f] if start + f < len(table) else None
            if row is not None and row[2] == FIXATION:
                dists.append(np.hypot(*(row[:2] - np.asarray(centre))))
    assert len(dists) > 100 and np.median(dists) < 0.1


def test_dataset_without_any_gaze_folder_trains_rgb_only(world, tmp_path):
    copy = tmp_path / "nogazedir"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns("images_rgb", "gaze_data"))
    layout = EgteaLayout(copy)
    entries = layout.read_split(1, "train")
    assert layout.gaze_path(entries[0].clip.session) is None
    ds = EgteaClips(layout, entries[:2], CFG, train=True)
    assert not ds[0]["gaze_mask"].any()
