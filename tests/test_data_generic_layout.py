"""The dataset seam (:mod:`gazeattn.data.source`) and its second format, the generic layout of the user's own
videos (:mod:`gazeattn.data.generic`): the synthetic world written in it checks OK, trains and evaluates; it reads
the same labels and gaze as the same world in the EGTEA layout; damaged files give one line naming file and line."""

from __future__ import annotations

import json

import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL, tiny_world  # noqa: E402

from gazeattn.cli import main  # noqa: E402
from gazeattn.data.dataset import ClipConfig, EgteaClips  # noqa: E402
from gazeattn.data.generic import GenericClip, GenericLayout  # noqa: E402
from gazeattn.data.layout import EgteaLayout  # noqa: E402
from gazeattn.data.source import ClipCatalog, open_dataset, split_file_name  # noqa: E402
from gazeattn.data.video import read_folder_frames, read_video_frames  # noqa: E402
from gazeattn.synth import SynthConfig, write_synthetic_generic  # noqa: E402
from gazeattn.utils.errors import DataError  # noqa: E402

SEED = 3
TINY = dict(sessions=2, clips_per_session=4, seed=SEED, width=64, height=48, min_frames=24, max_frames=30)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, Path]:
    """One tiny world in both layouts."""
    base = tmp_path_factory.mktemp("worlds")
    write_synthetic_generic(base / "generic", SynthConfig(**TINY))
    tiny_world(base / "egtea", seed=SEED)
    return {"generic": base / "generic", "egtea": base / "egtea"}


@pytest.fixture
def generic(worlds, tmp_path) -> Path:
    """A copy of the generic world to damage."""
    return Path(shutil.copytree(worlds["generic"], tmp_path / "g"))


def test_both_layouts_are_catalogs(worlds):
    egtea = open_dataset(worlds["egtea"])
    generic = open_dataset(worlds["generic"], format="generic")
    assert isinstance(egtea, EgteaLayout) and isinstance(generic, GenericLayout)
    assert isinstance(egtea, ClipCatalog) and isinstance(generic, ClipCatalog)
    assert egtea.split_path(1, "test") == worlds["egtea"] / "action_annotation" / split_file_name(1, "test")
    assert generic.split_path(1, "train") == worlds["generic"] / "splits" / "train_split1.txt"
    assert generic.split_path(2, "train", "/elsewhere") == Path("/elsewhere/train_split2.txt")
    with pytest.raises(ValueError, match="format"):
        open_dataset(worlds["egtea"], format="nope")


def test_generic_reads_what_egtea_reads(worlds):
    """Same clips, labels (actions.txt keeps EGTEA's id order) and per-frame gaze in both layouts."""
    egtea, generic = EgteaLayout(worlds["egtea"]), GenericLayout(worlds["generic"])
    assert egtea.actions.names == generic.actions.names
    config = ClipConfig(frames=24, crop=32, short_side=40, train_short_side=(40, 48))
    for subset in ("train", "test"):
        a, b = egtea.read_split(1, subset), generic.read_split(1, subset)
        assert [e.clip.name for e in a] == [e.clip.name for e in b]
        assert [e.action for e in a] == [e.action for e in b]
        da, db = (EgteaClips(layout, entries, config, train=False, validate=True)
                  for layout, entries in ((egtea, a), (generic, b)))
        for sa, sb in zip(da.sources, db.sources):
            assert sb.video_first_frame == sb.clip.start_frame == sa.clip.start_frame
            n = sa.media.n_frames
            xa, ta = da._frame_gaze(sa, 0, n)
            xb, tb = db._frame_gaze(sb, 0, n)
            assert np.array_equal(ta, tb) and np.array_equal(xa, xb)
        ia, ib = da[0], db[0]
        assert ia["label"] == ib["label"] and ia["rgb"].shape == ib["rgb"].shape
        # the same pixels, up to the encoder (one H.264 stream per clip vs per session)
        assert float((ia["rgb"] - ib["rgb"]).abs().mean()) < 0.05


def test_check_says_ok(worlds, capsys):
    assert main(["check", str(worlds["generic"]), "--strict"]) == 0  # generic: found by its labels.csv
    out = capsys.readouterr().out
    assert out.startswith("Generic-layout dataset") and out.rstrip().endswith("OK"), out


def test_train_and_eval(worlds, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(worlds["generic"]), "--out", str(run), "--steps", "3", "--eval",
                 "--set", "data.format=generic", *SMALL]) == 0
    assert main(["eval", "--run", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"mean_class_accuracy"' in out and '"gaze_truth"' in out  # the synthetic truth is found by clip name


def _rewrite(path: Path, lineno: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


DAMAGE = {
    "labels.csv": [(3, "x,{video},40,30,Put bowl", "ends"), (4, "y,{video},a,b,Put bowl", "integer frames"),
                   (2, "z,{video},10,20", "empty action"), (6, "v,{video},10,9999,Put bowl", "past the end of video"),
                   (5, "w,nosuchvideo/x,1,2,Put bowl", "file stem"),
                   (1, "clip,film,start_frame,end_frame,action", "header")],
    "splits/train_split1.txt": [(2, "no-such-clip", "neither a clip id")],
    "actions.txt": [(2, "Stir the unseen", "not in actions.txt")],
}


@pytest.mark.parametrize("rel,lineno,text,reason", [(rel, *case) for rel, cases in DAMAGE.items() for case in cases])
def test_damaged_files_give_one_line(generic, rel, lineno, text, reason, capsys):
    video = GenericLayout(generic).read_split(1, "train")[0].clip.session
    _rewrite(generic / rel, lineno, text.format(video=video))
    if rel == "actions.txt":  # the name that left actions.txt is still in labels.csv: the error names that line
        where = "labels.csv:"
    else:
        where = f"{rel}:{lineno}:"
    assert main(["check", str(generic)]) == 1  # what stops training stops check
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1 and where in errors[0] and reason in errors[0], out
    assert main(["train", "--data", str(generic), "--out", str(generic / "run"), "--steps", "1",
                 "--set", "data.format=generic", *SMALL]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gazeattn train: error: ") and where in err[0], err


def test_seconds_default_ids_and_video_splits(generic):
    """Spans in seconds become frames round(t × fps); ids default to <video>-<start>-<end>; a split line naming a
    video takes all its clips."""
    layout = GenericLayout(generic)
    rows = [(e.clip, layout.actions.names[e.action]) for s in ("train", "test") for e in layout.read_split(1, s)]
    lines = ["video,start,end,action,notes"]
    for clip, action in rows:
        lines.append(f"{clip.session}.mp4,{clip.start_frame / 24:.4f},{clip.end_frame / 24:.4f},{action},ignored")
    (generic / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    videos = sorted({clip.session for clip, _ in rows})
    (generic / "splits" / "train_split1.txt").write_text(f"# all of one video\n{videos[0]}\n\n", encoding="utf-8")
    first = rows[0][0]
    test_id = f"{first.session}-{first.start_frame / 24:.4f}-{first.end_frame / 24:.4f}"
    (generic / "splits" / "test_split1.txt").write_text(test_id + "\n", encoding="utf-8")
    (generic / "actions.txt").unlink()  # classes: the names sorted
    layout = GenericLayout(generic)
    train, test = layout.read_split(1, "train"), layout.read_split(1, "test")
    assert {e.clip.session for e in train} == {videos[0]}
    assert [(e.clip.start_frame, e.clip.end_frame) for e in train] == [
        (c.start_frame, c.end_frame) for c, _ in rows if c.session == videos[0]]
    assert test[0].clip == GenericClip(test_id, first.session, first.start_frame, first.end_frame)
    assert layout.actions.names == tuple(sorted({a for _, a in rows}))
    assert layout.actions.names[test[0].action] == rows[0][1]


def test_gaze_format_settings(generic):
    """gaze/<stem>.toml names the format and its keywords; mistakes name the file; no gaze file: no gaze."""
    layout = GenericLayout(generic)
    session = layout.read_split(1, "test")[0].clip.session
    assert layout.gaze_format(session) == "begaze" and layout.gaze_table(session).dtype == np.float32
    side = generic / "gaze" / f"{session}.toml"
    for text, message in (('format = "tobii"', r"\.toml: gaze format 'tobii' is not one of begaze"),
                          ('format = "begaze"\nfps = 30', r"\.toml: unknown key 'fps'"),
                          ('format = "aria-mps"\nupright = 1', r"\.toml: upright has the wrong type"),
                          ('format = "aria-mps"', r"\.txt: Aria eye gaze needs the device calibration"),
                          ('format = "begaze"\nstart_s = 1.5', r"\.txt: gaze format 'begaze': .*start_s"),
                          ("format = ", r"\.toml: cannot read as TOML")):
        side.write_text(text + "\n")
        with pytest.raises(DataError, match=message):
            GenericLayout(generic).gaze_table(session)
    side.unlink()
    (generic / "dataset.toml").write_text('gaze_format = "begaze"\nfps = 30\n')
    with pytest.raises(DataError, match="dataset.toml: unknown key"):
        GenericLayout(generic).gaze_table(session)
    (generic / "dataset.toml").write_text('gaze_format = "ego4d"\n')
    assert GenericLayout(generic).gaze_format(session) == "ego4d"
    (generic / "dataset.toml").unlink()
    (generic / "gaze" / f"{session}.txt").unlink()  # no gaze file: untracked, not an error
    assert GenericLayout(generic).gaze_table(session) is None


def test_prepare_writes_each_clip_span(worlds, tmp_path, capsys):
    """`gazeattn prepare` on a generic dataset: one frame folder a clip, its span of the video, read back as the
    clip's frames."""
    frames = tmp_path / "frames"
    assert main(["prepare", str(worlds["generic"]), "--out", str(frames), "--flow", "none", "--size", "64x48"]) == 0
    layout = GenericLayout(worlds["generic"], frames)
    entries = layout.read_split(1, "test")
    config = ClipConfig(frames=24, crop=32, short_side=40, train_short_side=(40, 48))
    by_video = EgteaClips(layout, entries, config, train=False)
    by_frames = EgteaClips(layout, entries, dataclasses.replace(config, source="frames"), train=False)
    for src in by_frames.sources:
        assert src.rgb_dir == frames / "images_rgb" / src.clip.name
        assert len(list(src.rgb_dir.glob("*.jpg"))) == src.clip.n_frames
    src = by_frames.sources[0]
    folder = read_folder_frames(src.rgb_dir, 0, 24).astype(np.float64)
    error = {shift: np.abs(folder - read_video_frames(src.video, src.video_first_frame + shift, 24)).mean()
             for shift in (-1, 0, 1)}
    assert min(error, key=error.get) == 0, error  # the folder holds the clip's span, not a frame off
    assert float((by_video[0]["rgb"] - by_frames[0]["rgb"]).abs().mean()) < 0.05  # JPEG vs H.264, same frames


def test_generic_read_as_egtea_says_so(worlds, tmp_path, capsys):
    assert main(["train", "--data", str(worlds["generic"]), "--out", str(tmp_path / "run"), "--steps", "1",
                 "--set", "data.format=egtea", *SMALL]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.format=generic" in err[0], err


def test_train_finds_the_generic_layout_by_itself(worlds, tmp_path):
    """No data.format given: train reads a folder with labels.csv as the generic layout (as check does) and saves
    that in the run's config, so eval reads it alike."""
    run = tmp_path / "run"
    assert main(["train", "--data", str(worlds["generic"]), "--out", str(run), "--steps", "1", *SMALL]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["format"] == "generic"
    assert main(["eval", "--run", str(run), "--json"]) == 0


@pytest.fixture(scope="module")
def pristine(worlds) -> dict[str, bytes]:
    return {rel: (worlds["generic"] / rel).read_bytes() for rel in ("labels.csv", "splits/train_split1.txt")}


@given(rel=st.sampled_from(["labels.csv", "splits/train_split1.txt"]), data=st.data())
@settings(derandomize=True, deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_fuzzed_files_read_or_name_their_file(worlds, pristine, tmp_path_factory, rel, data):
    """Bytes replaced, inserted or cut anywhere in labels.csv or a split file: the files read, or one DataError
    names a file (and line), never another exception."""
    original = pristine[rel]
    at = data.draw(st.integers(0, len(original)))
    cut = data.draw(st.integers(0, 8))
    junk = data.draw(st.binary(max_size=8) | st.sampled_from([b"\x00", b",", b"\"", b"\n", b"\r", b"\xff", b"-1",
                                                               b"1e309", b"nan", b"9" * 40]))
    root = tmp_path_factory.mktemp("fuzz")
    for sub in ("videos", "gaze", "splits"):
        (root / sub).symlink_to(worlds["generic"] / sub) if sub != "splits" else (root / sub).mkdir()
    for name in ("labels.csv", "actions.txt", "splits/train_split1.txt", "splits/test_split1.txt"):
        (root / name).write_bytes((worlds["generic"] / name).read_bytes())
    (root / rel).write_bytes(original[:at] + junk + original[at + cut:])
    try:
        GenericLayout(root).read_split(1, "train")
    except DataError as err:
        # the damaged file, or the split file naming a clip the damaged labels no longer hold
        assert str(err).startswith((str(root / "labels.csv"), str(root / "splits" / "train_split1.txt"))), err
        assert "\n" not in str(err)


ARIA = Path(__file__).parent / "data" / "aria"


def test_aria_gaze_with_its_side_files(tmp_path, capsys):
    """The real Aria recording (8 frames) as a generic dataset: gaze/<stem>.toml says aria-mps, the calibration
    and the frames' capture times sit beside the gaze file; the table is the registry's reading of those files."""
    from gazeattn.data.gaze_formats import FORMATS
    from gazeattn.data.gaze_formats.aria_mps import read_frame_times

    snippet, root = ARIA / "aea_snippet", tmp_path / "aria"
    for sub in ("videos", "gaze", "splits"):
        (root / sub).mkdir(parents=True)
    shutil.copy(snippet / "rgb_upright.mp4", root / "videos" / "aea.mp4")
    shutil.copy(snippet / "mps" / "eye_gaze" / "general_eye_gaze.csv", root / "gaze" / "aea.csv")
    shutil.copy(snippet / "device_calibration.json", root / "gaze" / "aea.calibration.json")
    shutil.copy(snippet / "rgb_frames.csv", root / "gaze" / "aea.frame_times.csv")
    (root / "gaze" / "aea.toml").write_text('format = "aria-mps"\n')
    (root / "labels.csv").write_text("video,start_frame,end_frame,action\naea,0,8,look around\n")
    for subset in ("train", "test"):
        (root / "splits" / split_file_name(1, subset)).write_text("aea\n")
    table = GenericLayout(root).gaze_table("aea")
    want = FORMATS["aria-mps"].frame_table(root / "gaze" / "aea.csv", calibration=snippet / "device_calibration.json",
                                            frame_times_s=read_frame_times(snippet / "rgb_frames.csv"))
    assert table.shape == (8, 3) and np.array_equal(table, want) and (table[:, 2] > 0).any()
    assert main(["check", str(root), "--strict", "--window", "8"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("OK")


@pytest.fixture(scope="module")
def aria_world(worlds, tmp_path_factory) -> Path:
    """The generic synthetic world with every video's gaze turned into Aria MPS eye gaze (Gen1 CSV) through the
    real recording's calibration: each frame's measured point on the 1408 x 1408 upright image → (yaw, pitch) at
    1 m, one row at the frame's time; frames without gaze have no row."""
    from gazeattn.data.gaze_formats.aria_calibration import read_device_calibration

    root = Path(shutil.copytree(worlds["generic"], tmp_path_factory.mktemp("aria") / "world"))
    calibration = ARIA / "aea_snippet" / "device_calibration.json"
    camera = read_device_calibration(calibration)
    layout = GenericLayout(root)
    tables = {stem: layout.gaze_table(stem) for stem in sorted({c.session for c in layout.clips()})}  # BeGaze
    (root / "dataset.toml").write_text('gaze_format = "aria-mps"\n')
    for stem, table in tables.items():
        frames = np.flatnonzero((table[:, 2] > 0) & (table[:, 0] > 0) & (table[:, 0] < 1) & (table[:, 1] > 0)
                                & (table[:, 1] < 1))
        yaw, pitch = camera.pixel_to_yaw_pitch(table[frames, :2].astype(np.float64) * 1408, 1.0, upright=True)
        lines = ["tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf,yaw_low_rads_cpf,pitch_low_rads_cpf,"
                 "yaw_high_rads_cpf,pitch_high_rads_cpf,depth_m,session_uid"]
        lines += [f"{round(i * 1e6 / 24)},{float(y)!r},{float(p)!r},0,0,0,0,,synthetic"
                  for i, y, p in zip(frames, yaw, pitch) if np.isfinite(y) and np.isfinite(p)]
        (root / "gaze" / f"{stem}.txt").unlink()
        (root / "gaze" / f"{stem}.csv").write_text("\n".join(lines) + "\n")
        shutil.copy(calibration, root / "gaze" / f"{stem}.calibration.json")
    return root


def test_aria_world_reads_the_same_gaze_points(worlds, aria_world):
    """Every frame with a measured point keeps it (to 1e-4 of the frame) through yaw/pitch and the fisheye."""
    begaze, aria = GenericLayout(worlds["generic"]), GenericLayout(aria_world)
    for stem in sorted({c.session for c in begaze.clips()}):
        a, b = begaze.gaze_table(stem), aria.gaze_table(stem)
        tracked = b[:, 2] > 0
        assert tracked.sum() > 0.5 * (a[:, 2] > 0).sum()
        assert np.max(np.abs(a[tracked, :2] - b[tracked, :2])) < 1e-4


def test_train_and_eval_with_aria_gaze(aria_world, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["check", str(aria_world), "--strict"]) == 0
    assert main(["train", "--data", str(aria_world), "--out", str(run), "--steps", "3", "--eval",
                 "--set", "data.format=generic", *SMALL]) == 0
    assert main(["eval", "--run", str(run), "--json"]) == 0
    assert '"mean_class_accuracy"' in capsys.readouterr().out
