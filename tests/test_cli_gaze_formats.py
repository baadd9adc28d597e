"""`gazeattn gaze parse --format aria-mps|egoexo4d|ego4d`, called in-process (BeGaze: tests/test_cli_gaze.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gazeattn.cli import main
from gazeattn.data.gaze_formats import aria_mps, ego4d, egoexo4d

DATA = Path(__file__).parent / "data"
SNIPPET = DATA / "aria" / "aea_snippet"
GAZE = SNIPPET / "mps" / "eye_gaze" / "general_eye_gaze.csv"
CALIB = SNIPPET / "device_calibration.json"
FRAMES = SNIPPET / "rgb_frames.csv"
EGOEXO = DATA / "egoexo4d" / "general_eye_gaze_2d.csv"
EGO4D = DATA / "ego4d" / "gaze.csv"


@pytest.mark.parametrize("upright", [True, False])
def test_aria_with_frame_times_writes_the_library_table(tmp_path, capsys, upright):
    out = tmp_path / "t.npy"
    side = [] if upright else ["--raw"]
    argv = ["gaze", "parse", str(GAZE), "--format", "aria-mps", "--calibration", str(CALIB),
            "--frame-times", str(FRAMES), *side, "--out", str(out)]
    assert main(argv) == 0
    want = aria_mps.frame_table(GAZE, calibration=CALIB, frame_times_s=aria_mps.read_frame_times(FRAMES),
                                upright=upright)
    assert np.array_equal(np.load(out), want)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "8 frames (aria-mps, " + ("upright" if upright else "raw") in line
    assert "untracked 12.5%" in line and "fixation 87.5%" in line
    assert [p.name for p in tmp_path.iterdir()] == ["t.npy"]


def test_aria_with_fps_covers_the_frames_up_to_the_last_sample(tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["gaze", "parse", str(GAZE), "--format", "aria-mps", "--calibration", str(CALIB), "--fps", "20",
                 "--start", "86.385246", "--out", str(out)]) == 0
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    assert rows.shape == (8, 4)  # 86.385 + 7/20 s is the last frame at or before the last sample (86.735 s)
    assert rows[0, 3] == 0 and np.all(rows[1:, 3] == 1)
    capsys.readouterr()


def test_aria_without_calibration_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "t.npy"
    assert main(["gaze", "parse", str(GAZE), "--format", "aria-mps", "--fps", "30", "--out", str(out)]) == 2
    assert "--calibration" in capsys.readouterr().err and not out.exists()
    assert main(["gaze", "parse", str(GAZE), "--format", "aria-mps", "--calibration", str(CALIB),
                 "--out", str(out)]) == 2
    assert "--frame-times" in capsys.readouterr().err
    assert main(["gaze", "parse", str(EGOEXO), "--format", "egoexo4d", "--calibration", str(CALIB),
                 "--out", str(out)]) == 2
    assert main(["gaze", "parse", str(EGO4D), "--format", "ego4d", "--out", str(out)]) == 2
    assert "--fps" in capsys.readouterr().err and not out.exists()


def test_egoexo4d_and_ego4d(tmp_path, capsys):
    out = tmp_path / "e.npy"
    assert main(["gaze", "parse", str(EGOEXO), "--format", "egoexo4d", "--out", str(out)]) == 0
    assert np.array_equal(np.load(out), egoexo4d.frame_table(EGOEXO, n_frames=19))  # rows 0..6 at 10 Hz: 0.6 s
    assert "19 frames (egoexo4d, 30 fps)" in capsys.readouterr().out
    assert main(["gaze", "parse", str(EGO4D), "--format", "ego4d", "--fps", "30", "--frames", "7",
                 "--min-confidence", "0.5", "--out", str(out)]) == 0
    assert np.array_equal(np.load(out), ego4d.frame_table(EGO4D, n_frames=7, fps=30.0, min_confidence=0.5))
    assert "7 frames (ego4d, 30 fps)" in capsys.readouterr().out
    assert main(["gaze", "parse", str(EGO4D), "--format", "ego4d", "--fps", "30", "--frames", "7",
                 "--glc-saccades", "--out", str(out)]) == 0
    assert np.array_equal(np.load(out), ego4d.frame_table(EGO4D, n_frames=7, fps=30.0, glc_saccades=True))
    assert "saccade 28.6%" in capsys.readouterr().out


def test_damaged_file_is_one_line_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1.0,2.0\n3.0,oops\n")
    out = tmp_path / "o.npy"
    assert main(["gaze", "parse", str(bad), "--format", "egoexo4d", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}:3:" in err and "not a number" in err
    assert not out.exists()
    bad.write_text("tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf,depth_m\n1,0.1,0.2,\n0,0.1,0.2,\n")
    assert main(["gaze", "parse", str(bad), "--format", "aria-mps", "--calibration", str(CALIB), "--fps", "30",
                 "--out", str(out)]) == 1
    assert f"{bad}:3: column 'tracking_timestamp_us' goes backwards" in capsys.readouterr().err


def test_help_names_the_formats(capsys):
    with pytest.raises(SystemExit) as info:
        main(["gaze", "parse", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("aria-mps", "egoexo4d", "ego4d", "begaze", "--calibration", "--upright", "--raw"):
        assert word in text
