"""`gazeattn synth --layout generic --gaze-format F`: the synthetic world with its gaze written as Project Aria MPS
eye gaze (+ a synthetic device calibration and the frames' capture times), Ego-Exo4D 2D gaze or Ego4D gaze. Read back
through the generic layout, each gives the BeGaze world's per-frame gaze (exactly; Ego-Exo4D at its 10 Hz rows);
`gazeattn check` says OK and reports the coverage; a model trains and evaluates on the Aria world; a damaged Aria
file or calibration is one line naming the file and line."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL  # noqa: E402

from gazeattn.cli import main  # noqa: E402
from gazeattn.data.begaze import FIXATION, SACCADE, TRUNCATED, UNTRACKED  # noqa: E402
from gazeattn.data.gaze_formats.align import nearest_sample  # noqa: E402
from gazeattn.data.gaze_formats.aria_calibration import read_device_calibration  # noqa: E402
from gazeattn.data.generic import GenericLayout  # noqa: E402
from gazeattn.synth.gaze_writers import GAZE_FORMATS, egoexo4d_source_frames, synthetic_aria_camera  # noqa: E402

WORLD = ["--sessions", "2", "--clips-per-session", "4", "--seed", "3", "--size", "64x48", "--min-frames", "24",
         "--max-frames", "30"]
FPS = 24.0
MEASURED = (FIXATION, SACCADE, TRUNCATED)  # a frame with a measured point; blinks (OTHER) and untracked have none


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, Path]:
    """The same tiny world, written by the CLI once per gaze format."""
    base = tmp_path_factory.mktemp("formats")
    for fmt in GAZE_FORMATS:
        assert main(["synth", str(base / fmt), "--layout", "generic", "--gaze-format", fmt, *WORLD]) == 0
    return {fmt: base / fmt for fmt in GAZE_FORMATS}


def _stems(root: Path) -> list[str]:
    return sorted({c.session for c in GenericLayout(root).clips()})


def _expected(begaze: np.ndarray, fmt: str) -> np.ndarray:
    """What a format's file must read back as, from the BeGaze world's table: the frames with a measured point,
    FIXATION at a point in the frame and TRUNCATED outside it (no format but BeGaze labels saccades or blinks);
    Ego-Exo4D:
    frame i holds the 10 Hz row nearest to it, written from frame round(k * 24 / 10)."""
    n = begaze.shape[0]
    if fmt == "egoexo4d":
        source = egoexo4d_source_frames(n, FPS)
        row = nearest_sample(np.arange(source.size) / 10.0, np.arange(n) / FPS)
        assert np.all(row >= 0)  # every frame is within 50 ms of a row
        begaze = begaze[source[row]]
    out = np.zeros_like(begaze)
    has = np.isin(begaze[:, 2], MEASURED)
    out[has, :2] = begaze[has, :2]
    x, y = begaze[has, 0], begaze[has, 1]
    inside = (x >= 0) & (x < 1) & (y >= 0) & (y < 1)  # by position (BeGaze: by its samples, see gaze_writers)
    out[has, 2] = np.where(inside, FIXATION, TRUNCATED)
    return out


@pytest.mark.parametrize("fmt", [f for f in GAZE_FORMATS if f != "begaze"])
def test_each_format_reads_back_the_begaze_gaze(worlds, fmt):
    """Per frame: tracked in one ⇔ tracked in the other, the same type (saccades read as fixations) and the same
    position to 1e-6 of the frame (Aria: through yaw/pitch, the CPF and the fisheye; the others: exact)."""
    begaze, other = GenericLayout(worlds["begaze"]), GenericLayout(worlds[fmt])
    assert _stems(worlds["begaze"]) == _stems(worlds[fmt])
    for stem in _stems(worlds["begaze"]):
        assert other.gaze_format(stem) == fmt and begaze.gaze_format(stem) == "begaze"
        want, got = _expected(begaze.gaze_table(stem), fmt), other.gaze_table(stem)
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.array_equal(got[:, 2], want[:, 2]), stem
        assert (got[:, 2] == FIXATION).sum() > 0.5 * got.shape[0] and (got[:, 2] == TRUNCATED).any()
        assert np.max(np.abs(got[:, :2] - want[:, :2])) <= 1e-6, stem
        assert np.all(got[got[:, 2] == UNTRACKED, :2] == 0)


def test_begaze_is_the_default_and_egtea_takes_no_other_format(worlds, tmp_path, capsys):
    assert (worlds["begaze"] / "dataset.toml").read_text() == 'gaze_format = "begaze"\n'
    assert not list((worlds["begaze"] / "gaze").glob("*.toml"))
    assert "gaze_format" not in json.loads((worlds["begaze"] / "synth_truth.json").read_text())
    assert json.loads((worlds["ego4d"] / "synth_truth.json").read_text())["gaze_format"] == "ego4d"
    assert main(["synth", str(tmp_path / "w"), "--gaze-format", "aria-mps", *WORLD]) == 2
    assert "--layout generic" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_aria_world_files(worlds):
    """Per video: the Gen1 CSV, the calibration (an Aria-like camera of the video's size) and every frame's
    capture time; the side files sit where the generic layout finds them without a <stem>.toml key."""
    gaze = worlds["aria-mps"] / "gaze"
    for stem in _stems(worlds["aria-mps"]):
        assert (gaze / f"{stem}.toml").read_text() == 'format = "aria-mps"\n'
        cam = read_device_calibration(gaze / f"{stem}.calibration.json")
        assert cam.image_size(upright=True) == (64, 48)
        assert cam.model == synthetic_aria_camera(64, 48).model
        times = np.loadtxt(gaze / f"{stem}.frame_times.csv", delimiter=",", skiprows=1, dtype=np.int64)
        assert np.all(np.diff(times[:, 1]) > 0) and times[0, 0] == 0
        header = (gaze / f"{stem}.csv").read_text().splitlines()[0]
        assert header.startswith("tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf")


@pytest.mark.parametrize("fmt", GAZE_FORMATS)
def test_check_reports_each_formats_coverage(worlds, fmt, capsys):
    assert main(["check", str(worlds[fmt]), "--strict"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("OK"), out
    stems = _stems(worlds[fmt])
    assert "  gaze coverage: " in out and all(f"    {s} ({fmt}): " in out for s in stems), out
    assert main(["check", str(worlds[fmt]), "--json"]) == 0
    coverage = json.loads(capsys.readouterr().out)["gaze_coverage"]
    assert [c["session"] for c in coverage] == stems and all(c["format"] == fmt for c in coverage)
    table = GenericLayout(worlds[fmt]).gaze_table(stems[0])
    assert coverage[0]["n_frames"] == table.shape[0]
    assert coverage[0]["n_fixation"] == int((table[:, 2] == FIXATION).sum())
    assert coverage[0]["n_with_gaze"] == int(np.isin(table[:, 2], MEASURED).sum())


def test_train_and_eval_on_the_aria_world(worlds, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(worlds["aria-mps"]), "--out", str(run), "--steps", "3", "--eval",
                 "--set", "data.format=generic", *SMALL]) == 0
    assert main(["eval", "--run", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"mean_class_accuracy"' in out and '"gaze_truth"' in out


def _damage_line(path: Path, lineno: int, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


DAMAGE = {  # what is damaged -> (file suffix, line, the line's edit, the words of the message)
    "gaze yaw": (".csv", 3, lambda line: line.replace(",", ",abc", 1), "not a number"),
    "gaze fields": (".csv", 4, lambda line: line.rsplit(",", 3)[0], "fields"),
    "calibration": (".calibration.json", 4, lambda line: line.replace('"camera-rgb"', "camera-rgb"), "not JSON"),
    "frame times": (".frame_times.csv", 4, lambda line: line.split(",")[0] + ",12", "does not increase"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_aria_file_is_one_line(worlds, tmp_path, case, capsys):
    root = Path(shutil.copytree(worlds["aria-mps"], tmp_path / "w"))
    suffix, lineno, text, words = DAMAGE[case]
    path = root / "gaze" / f"{_stems(root)[0]}{suffix}"
    _damage_line(path, lineno, text)
    where = f"{path}:{lineno}:"
    assert main(["check", str(root)]) == 1  # an unreadable gaze file stops training, so it stops check
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1 and where in errors[0] and words in errors[0], out
    assert main(["train", "--data", str(root), "--out", str(root / "run"), "--steps", "1",
                 "--set", "data.format=generic", *SMALL]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gazeattn train: error: ") and where in err[0], err


def test_force_switches_the_format_without_leftovers(worlds, tmp_path, capsys):
    """--force over a world of another format removes the old gaze files (two gaze files for a video would be an
    error): the world reads in the new format alone."""
    root = Path(shutil.copytree(worlds["begaze"], tmp_path / "w"))
    assert main(["synth", str(root), "--layout", "generic", "--gaze-format", "aria-mps", "--force", *WORLD]) == 0
    assert sorted(p.name for p in (root / "gaze").iterdir()) == sorted(
        p.name for p in (worlds["aria-mps"] / "gaze").iterdir())
    assert main(["check", str(root), "--strict"]) == 0


def test_the_synthetic_aria_camera_is_like_the_real_one():
    """At 1408 x 1408 the synthetic camera is the real RGB camera but for the principal point and the pose: the same
    field of view (to 1.5 degrees at the sides) and a rotation 1.1 degrees from the real one."""
    real = read_device_calibration(Path(__file__).parent / "data" / "aria" / "aea_snippet" / "device_calibration.json")
    synthetic = synthetic_aria_camera(1408, 1408)
    assert (synthetic.width, synthetic.height) == (real.width, real.height)
    sides = np.array([[0.0, 703.5], [1407.0, 703.5], [703.5, 0.0], [703.5, 1407.0]])

    def angle_deg(cam):
        rays = cam.model.unproject(sides)
        return np.degrees(np.arccos(rays[:, 2] / np.linalg.norm(rays, axis=1)))

    assert np.all(np.abs(angle_deg(synthetic) - angle_deg(real)) < 1.5) and np.all(angle_deg(synthetic) > 55)
    r = real.t_device_camera[:3, :3].T @ synthetic.t_device_camera[:3, :3]
    assert np.degrees(np.arccos((np.trace(r) - 1) / 2)) < 1.2
    assert np.allclose(synthetic.t_device_cpf, real.t_device_cpf)
