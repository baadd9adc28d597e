"""Damaged datasets through `gazeattn train` (in-process): broken videos are found before training and either
stop it with the full list (error) or are left out and reported in RUN_DIR/skipped.json (skip), including those
that only fail when decoded inside a DataLoader worker; missing or short gaze is a warning, never a skip; bad
split lines are errors naming file:line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from gazeattn.cli import main
from gazeattn.data.dataset import ClipConfig, ClipReadError, EgteaClips, collate_clips
from gazeattn.data.layout import EgteaLayout
from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.data.readability import FRAME_SLACK, check_frame_folder, check_media, check_video, gaze_coverage
from gazeattn.utils.errors import DataError
from gazeattn.train.sampler import StepBatchSampler
from tinyworld import TRAIN_FLAGS

SMALL = [*TRAIN_FLAGS, "--seed", "0"]
CFG = ClipConfig(frames=24, crop=48, short_side=56, train_short_side=(56, 64), strides=(8, 16, 16))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("robust") / "egtea"
    write_synthetic_egtea(root, SynthConfig(sessions=2, clips_per_session=6, seed=11, width=64, height=48,
                                            min_frames=24, max_frames=40))
    return root


@pytest.fixture
def world(pristine, tmp_path) -> Path:
    """A private copy to damage."""
    root = tmp_path / "egtea"
    shutil.copytree(pristine, root)
    return root


def _train(world: Path, out: Path, *extra: str) -> int:
    return main(["train", "--data", str(world), "--out", str(out), "--steps", "3", *SMALL, *extra])


def _atoms(data: bytes) -> dict[bytes, tuple[int, int]]:
    atoms, i = {}, 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        atoms[data[i + 4:i + 8]] = (i, size)
        i += max(size, 8)
    return atoms


def corrupt_compressed_data(path: Path) -> None:
    """Overwrite the H.264 data after the first packet: the file opens and demuxes, decoding fails."""
    data = bytearray(path.read_bytes())
    start, size = _atoms(bytes(data))[b"mdat"]
    data[start + 200:start + size - 8] = np.random.default_rng(0).bytes(size - 208)
    path.write_bytes(bytes(data))


def index_first_copy(src: Path, dst: Path) -> None:
    """Remux with the moov index before the data (``faststart``), the layout where a cut file still opens."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


# ------------------------------------------------------------------------------------------------ validation


def test_check_video_names_every_kind_of_damage(pristine, tmp_path):
    layout = EgteaLayout(pristine)
    clip = layout.read_split(1, "train")[0].clip
    good = layout.video_path(clip)
    n = clip.n_frames
    data = good.read_bytes()
    assert _atoms(data)[b"moov"][0] > _atoms(data)[b"mdat"][0]  # the writer puts the index last
    assert check_video(good, n) is None

    def damaged(name: str, content: bytes) -> Path:
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(content)
        return path

    cases = {
        "empty": (damaged("empty", b""), "empty (0 bytes)"),
        "garbage": (damaged("garbage", np.random.default_rng(1).bytes(4000)), "cannot open video"),
        "half": (damaged("half", data[:len(data) // 2]), "cannot open video"),  # cut before the index
    }
    for frac in (0.9, 0.95, 0.97, 0.99):  # cut inside the index: fails to open, no stream, or no packets
        cases[f"index cut {frac}"] = (damaged(f"cut{frac}", data[:int(len(data) * frac)]), "")
    index_first = tmp_path / "faststart.mp4"
    index_first_copy(good, index_first)
    assert check_video(index_first, n) is None
    for frac in (0.3, 0.6, 0.95):  # index first, data cut: opens, demuxes fewer packets
        cut = damaged(f"fs{frac}", index_first.read_bytes()[:int(index_first.stat().st_size * frac)])
        cases[f"data cut {frac}"] = (cut, "video packets")
    for name, (path, fragment) in cases.items():
        reason = check_video(path, n)
        assert reason is not None and reason.startswith(str(path)), name
        assert fragment in reason, (name, reason)
    assert "says 99 frames" in check_video(good, 99)  # fewer packets than the name says
    assert check_video(good, n + 2) is None  # within the release's slack
    # compressed-data damage passes the (decode-free) check; the reader catches it later
    bad_data = damaged("bad_data", data)
    corrupt_compressed_data(bad_data)
    assert check_video(bad_data, n) is None


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.0, 1.0), edits=st.lists(st.tuples(st.floats(0.0, 1.0), st.binary(min_size=1, max_size=8)),
                                               max_size=3))
def test_check_video_never_crashes_on_mangled_files(pristine, tmp_path, cut, edits):
    clip = EgteaLayout(pristine).read_split(1, "train")[0].clip
    data = bytearray(EgteaLayout(pristine).video_path(clip).read_bytes())
    data = data[:max(1, int(len(data) * cut))] if cut < 0.98 else data
    for where, new in edits:
        i = int(where * (len(data) - 1))
        data[i:i + len(new)] = new
    path = tmp_path / "mangled.mp4"
    path.write_bytes(bytes(data))
    reason = check_video(path, clip.n_frames)
    if reason is not None:
        assert reason.startswith(f"{path}: "), reason
        return
    # passed: the file opens and holds the frames its name says (within the slack); damage inside the compressed
    # data is left to the reader, as the validate module documents
    with av.open(str(path)) as container:
        packets = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
    assert packets >= clip.n_frames - FRAME_SLACK


def test_check_media_threads_agree_and_frame_folders_are_counted(pristine, tmp_path):
    layout = EgteaLayout(pristine)
    sources = [layout.resolve(e.clip) for e in layout.read_split(1, "train")]
    assert check_media(sources, threads=1) == check_media(sources, threads=4) == [None] * len(sources)
    folder = tmp_path / "frames"
    folder.mkdir()
    assert "no 0001.jpg" in check_frame_folder(folder, 30)
    for i in range(1, 11):
        (folder / f"{i:04d}.jpg").write_bytes(b"x")
    assert "only 10 frames" in check_frame_folder(folder, 30) and check_frame_folder(folder, 12) is None


# ------------------------------------------------------------------------------------------ gazeattn train


def _damage_upfront(world: Path) -> dict[str, str]:
    """Zero-length, cut (index lost), garbage and data-cut (index first) mp4s; returns clip -> fragment."""
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    paths = [layout.video_path(e.clip) for e in entries[:4]]
    paths[0].write_bytes(b"")
    paths[1].write_bytes(paths[1].read_bytes()[:1500])
    paths[2].write_bytes(np.random.default_rng(2).bytes(3000))
    index_first_copy(paths[3], paths[3].with_suffix(".tmp"))
    paths[3].with_suffix(".tmp").replace(paths[3])
    paths[3].write_bytes(paths[3].read_bytes()[:paths[3].stat().st_size // 2])
    return {entries[0].clip.name: "empty", entries[1].clip.name: "cannot open",
            entries[2].clip.name: "cannot open", entries[3].clip.name: "video packets"}


def _first_drawn(world: Path, exclude: set[str]) -> str:
    """The clip that training step 0 draws first once ``exclude`` is left out (seed 0, batch 4)."""
    remaining = [e for e in EgteaLayout(world).read_split(1, "train") if e.clip.name not in exclude]
    index, _ = StepBatchSampler(len(remaining), 4, seed=0, start_step=0, total_steps=3).batch_for(0)[0]
    return remaining[index].clip.name


def test_skip_trains_to_the_end_and_reports_every_skipped_clip(world, tmp_path, capsys):
    upfront = _damage_upfront(world)
    layout = EgteaLayout(world)
    late = _first_drawn(world, set(upfront))  # opens and demuxes; fails when decoded in a worker
    corrupt_compressed_data(layout.video_path(next(e.clip for e in layout.read_split(1, "train")
                                                   if e.clip.name == late)))
    out = tmp_path / "run"
    assert _train(world, out, "--on-bad-clip", "skip", "--workers", "2") == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 3
    report = json.loads((out / "skipped.json").read_text())
    reasons = {r["clip"]: r["reason"] for r in report["clips"]}
    assert set(reasons) == set(upfront) | {late}
    for clip, fragment in upfront.items():
        assert fragment in reasons[clip] and ".mp4" in reasons[clip]
    assert "corrupt" in reasons[late]
    printed = capsys.readouterr().out
    assert f"skipped {len(reasons)} unreadable clip(s)" in printed
    assert all(f"skipped {clip}:" in printed for clip in reasons)
    assert report["sessions_without_gaze"] == []


def test_error_stops_before_training_with_the_full_list(world, tmp_path, capsys):
    upfront = _damage_upfront(world)
    out = tmp_path / "run"
    assert _train(world, out, "--on-bad-clip", "error", "--workers", "0") == 1
    err = capsys.readouterr().err
    assert f"{len(upfront)} clip(s) cannot be read" in err and "--on-bad-clip skip" in err
    assert all(clip in err for clip in upfront)
    assert not (out / "checkpoints").exists() and not (out / "log.jsonl").exists()


def test_error_in_a_worker_is_a_clean_data_error(world, tmp_path, capsys):
    late = _first_drawn(world, set())
    layout = EgteaLayout(world)
    video = layout.video_path(next(e.clip for e in layout.read_split(1, "train") if e.clip.name == late))
    corrupt_compressed_data(video)
    assert _train(world, tmp_path / "run", "--on-bad-clip", "error", "--workers", "2") == 1
    err = capsys.readouterr().err
    assert "gazeattn train: error:" in err and str(video) in err and "corrupt" in err
    # the type survives the worker -> main process re-raise
    err_obj = ClipReadError(f"Traceback ...\ngazeattn.data.dataset.ClipReadError: {video}: video is corrupt\n")
    assert isinstance(err_obj, DataError) and str(err_obj).startswith(f"{video}: video is corrupt")


def test_skip_log_collects_what_workers_skip(world, tmp_path):
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    corrupt_compressed_data(layout.video_path(entries[1].clip))
    ds = EgteaClips(layout, entries, CFG, train=True, on_bad_clip="skip", validate=True,
                    skip_log=tmp_path / "skipped.jsonl")
    assert ds.skipped == []  # passes validation
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_clips)
    n = sum(len(b["label"]) for b in loader if b is not None)
    assert n == len(entries) - 1
    assert ds.skipped == []  # the worker's copy was appended to, not ours
    assert [clip for clip, _ in ds.all_skipped()] == [entries[1].clip.name]
    (tmp_path / "skipped.jsonl").open("a").write('{"clip": "half a li')  # a line cut by a kill
    assert len(ds.all_skipped()) == 1


def _cut_gaze(path: Path, keep_frames: int) -> None:
    """Keep the header and the samples of frames < keep_frames (v1 integer frames or v2 timecodes)."""
    lines = path.read_bytes().split(b"\r\n")
    head = next(i for i, line in enumerate(lines) if line.startswith(b"Time"))
    col = lines[head].split(b"\t").index(b"Frame")

    def frame(line: bytes) -> int:
        f = line.split(b"\t")[col].decode()
        if ":" not in f:
            return int(f)
        h, m, s, ff = (int(v) for v in f.split(":"))
        return (h * 3600 + m * 60 + s) * 24 + ff

    body = [line for line in lines[head + 1:] if line and frame(line) < keep_frames]
    path.write_bytes(b"\r\n".join(lines[:head + 1] + body) + b"\r\n")


def test_missing_and_short_gaze_warn_and_train(world, tmp_path, caplog):
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    sessions = sorted({e.clip.session for e in entries})
    layout.gaze_path(sessions[0]).unlink()
    last = max((e for e in entries if e.clip.session == sessions[1]), key=lambda e: e.clip.start_frame)
    _cut_gaze(layout.gaze_path(sessions[1]), last.clip.start_frame + 5)  # the last clip: 5 frames of gaze
    out = tmp_path / "run"
    with caplog.at_level("WARNING"):
        assert _train(world, out, "--on-bad-clip", "error", "--workers", "0") == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"no gaze file in {layout.gaze_dir}: {sessions[0]}" in text and "untracked" in text
    assert f"{last.clip.name} ({last.clip.n_frames - 5} of {last.clip.n_frames} frames)" in text
    report = json.loads((out / "skipped.json").read_text())
    assert report["clips"] == [] and report["sessions_without_gaze"] == [sessions[0]]
    assert {"clip": last.clip.name, "untracked_frames": last.clip.n_frames - 5,
            "frames": last.clip.n_frames} in report["clips_beyond_gaze"]
    cov = gaze_coverage(layout, [layout.resolve(last.clip)])
    assert cov.beyond == [(last.clip.name, last.clip.n_frames - 5, last.clip.n_frames)]


def test_unparsable_gaze_file_makes_its_clips_bad(world):
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    session = entries[0].clip.session
    gaze = layout.gaze_path(session)
    lines = gaze.read_bytes().split(b"\r\n")
    head = next(i for i, line in enumerate(lines) if line.startswith(b"Time"))
    lines[head + 3] = b"12a4" + lines[head + 3][lines[head + 3].index(b"\t"):]  # an unparsable time stamp
    gaze.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DataError) as info:
        EgteaClips(layout, entries, CFG, train=True, validate=True)
    assert f"{gaze}:{head + 4}: unparsable integer '12a4'" in str(info.value)
    ds = EgteaClips(layout, entries, CFG, train=True, validate=True, on_bad_clip="skip")
    ours = {e.clip.name for e in entries if e.clip.session == session}
    assert {clip for clip, _ in ds.skipped} == ours and len(ds) == len(entries) - len(ours)


@pytest.mark.parametrize("damage", ["label out of range", "duplicate clip"])
def test_bad_split_lines_are_errors_naming_file_and_line(world, tmp_path, capsys, damage):
    split = world / "action_annotation" / "train_split1.txt"
    lines = split.read_text().splitlines()
    if damage == "label out of range":
        parts = lines[2].split()
        lines[2] = " ".join([parts[0], "999", *parts[2:]])
        where = f"{split}:3:"
    else:
        lines.append(lines[1])
        where = f"{split}:{len(lines)}:"
    split.write_text("\n".join(lines) + "\n")
    assert _train(world, tmp_path / "run", "--workers", "0", "--on-bad-clip", "skip") == 1
    err = capsys.readouterr().err
    assert where in err and ("out of range" in err if damage == "label out of range" else "duplicate clip" in err)


@pytest.mark.parametrize("workers", [0, 2])
def test_eval_reports_clips_skipped_inside_workers(world, workers):
    import torch

    from gazeattn.models import GazeAttentionModel, ModelConfig
    from gazeattn.train.evaluate import evaluate

    layout = EgteaLayout(world)
    test = layout.read_split(1, "test")
    corrupt_compressed_data(layout.video_path(test[0].clip))  # opens and demuxes; fails when decoded
    torch.manual_seed(0)
    model = GazeAttentionModel(ModelConfig(backbone="tiny", streams="rgb", num_classes=layout.n_actions(test),
                                           attention="min2021", clip=(24, 48, 48), strides=(8, 16, 16),
                                           tiny_widths=(4, 8, 8, 12, 16),
                                           head_channels=(4, 4)))
    result = evaluate(model, layout, test, CFG, variant="gaze-direct", workers=workers, batch=2, on_bad_clip="skip")
    assert result["skipped"] == [test[0].clip.name]
    assert result["n_clips"] == len(test) - 1


def test_eval_command_prints_and_saves_the_skipped_clips(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(world, out, "--workers", "0") == 0
    layout = EgteaLayout(world)
    bad = layout.read_split(1, "test")[1].clip
    corrupt_compressed_data(layout.video_path(bad))
    capsys.readouterr()
    saved = tmp_path / "eval.json"
    assert main(["eval", "--run", str(out), "--workers", "2", "--on-bad-clip", "skip", "--out", str(saved)]) == 0
    assert f"skipped 1 unreadable clip(s): {bad.name}" in capsys.readouterr().out
    assert json.loads(saved.read_text())["skipped"] == [bad.name]
    assert main(["eval", "--run", str(out), "--workers", "2"]) == 1  # the default policy stops
    assert str(layout.video_path(bad)) in capsys.readouterr().err
