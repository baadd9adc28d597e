"""The gaze formats of ``gazeattn.data.gaze_formats``: Aria MPS against what Aria's own library reads from real
files (tests/data/aria/, every row), the FISHEYE624 camera and its inverse, the timestamp alignment rule, the
Ego-Exo4D and Ego4D readers on hand-made fixtures (their tutorials' readings included), and the registry."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gazeattn.data.begaze import FIXATION, SACCADE, TRUNCATED, UNTRACKED, parse_begaze
from gazeattn.data.gaze_formats import FORMATS, aria_mps, ego4d, egoexo4d
from gazeattn.data.gaze_formats.align import default_max_gap, frame_times, nearest_sample
from gazeattn.data.gaze_formats.aria_float32 import library_float32, sincosf
from gazeattn.data.gaze_formats.aria_calibration import (AriaCamera, device_calibration_json, raw_xy,
                                                         read_device_calibration, upright_xy)
from gazeattn.data.gaze_formats.fisheye624 import Fisheye624
from gazeattn.utils.errors import DataError
from realdata import gaze_file

DATA = Path(__file__).parent / "data"
ARIA = DATA / "aria"
SNIPPET = ARIA / "aea_snippet"
SNIPPET_GAZE = SNIPPET / "mps" / "eye_gaze" / "general_eye_gaze.csv"
SNIPPET_CALIB = SNIPPET / "device_calibration.json"
EGOEXO = DATA / "egoexo4d" / "general_eye_gaze_2d.csv"
EGO4D = DATA / "ego4d" / "gaze.csv"
MPS_FILES = ["gen1_generalized_eye_gaze.csv", "gen1_vergence_generalized_gaze.csv", "gen2_general_eye_gaze.csv",
             "gen2_personalized_eye_gaze.csv"]
LAYOUTS = ["gen1", "gen1-vergence", "gen2", "gen2"]


def _expected_rows(name: str) -> list[dict]:
    rows = json.loads((ARIA / "mps_samples" / "expected.json").read_text())["files"][name]
    return ast.literal_eval(rows) if isinstance(rows, str) else rows


def _snippet_expected() -> dict:
    return json.loads((SNIPPET / "expected.json").read_text())


# ------------------------------------------------------------------------------------ Aria MPS against the library


@pytest.mark.parametrize("name,layout", list(zip(MPS_FILES, LAYOUTS)))
def test_every_mps_row_decodes_as_the_library_reads_it(name, layout):
    rows = _expected_rows(name)
    gaze = aria_mps.read_eye_gaze(ARIA / "mps_samples" / name)
    assert gaze.layout == layout and len(gaze) == len(rows)

    def col(key):
        return np.array([r[key] for r in rows], dtype=np.float64)

    assert np.array_equal(gaze.time_us, col("tracking_timestamp_us").astype(np.int64))
    # the library stores float32: 1e-6 rad covers its rounding of the file's decimals
    assert np.max(np.abs(gaze.yaw - col("yaw"))) <= 1e-6  # Gen1 vergence: the derived combined yaw
    assert np.max(np.abs(gaze.pitch - col("pitch"))) <= 1e-6
    assert np.array_equal(gaze.spatial_point_valid, [r["spatial_gaze_point_valid"] for r in rows])
    point_1m = aria_mps.unit_direction(gaze.yaw, gaze.pitch)
    assert np.max(np.abs(point_1m - np.array([r["point_at_1m_in_cpf"] for r in rows]))) <= 1e-6
    spatial = np.array([r["spatial_gaze_point_in_cpf"] for r in rows])
    # Gen2's spatial point divides by sin^2 of the angle between the eye rays (~0.014 here), which magnifies one
    # float32 unit of an input to ~5e-6 m: the reader repeats the library's roundings (aria_float32) and matches
    # it bit for bit; elsewhere the depth is the file's float64 against the library's float32
    tol = 0.0 if layout == "gen2" else 1e-6
    assert np.max(np.abs(gaze.spatial_point_cpf - spatial)) <= tol
    assert np.max(np.abs(gaze.depth_m - col("depth_m"))) <= tol
    if layout == "gen2":
        assert gaze.spatial_point_valid.all() and np.all(np.abs(gaze.depth_m - 0.57) < 0.03)
        points = aria_mps.gaze_points_cpf(gaze)  # the valid spatial point wins over the 1 m default
        assert np.max(np.abs(points - spatial)) <= tol
    else:
        assert not gaze.spatial_point_valid.any()


def test_the_library_float32_parse_gives_the_librarys_angles_on_every_row():
    """The library's float32 yaw and pitch are its parser's rounding, not the nearest float32 (which misses about
    half of them by 1 or 2 units): the emulation gives every one of them exactly."""
    import csv
    nearest_misses = 0
    for name in MPS_FILES:
        with open(ARIA / "mps_samples" / name, newline="") as fh:
            table = list(csv.DictReader(fh))
        for column, key in (("yaw_rads_cpf", "yaw"), ("pitch_rads_cpf", "pitch")):
            if column not in table[0]:
                continue
            fields = [r[column] for r in table]
            want = np.array([r[key] for r in _expected_rows(name)])
            assert np.array_equal(library_float32(fields).astype(np.float64), want), (name, column)
            nearest_misses += int(np.sum(np.array(fields, dtype=np.float64).astype(np.float32) != want))
    assert nearest_misses > 100


@np.errstate(over="ignore", under="ignore")  # 45 nines are inf in float32, as in the library
def _parse_like_the_library(text: str) -> np.float32:
    """The parser's rule one character at a time (the reference for the vectorised library_float32)."""
    f32, x = np.float32, np.float32(0.0)
    negative = text[:1] == "-"
    i = 1 if text[:1] in ("+", "-") else 0
    while i < len(text) and text[i].isdigit():
        x, i = f32(f32(x * f32(10)) + f32(int(text[i]))), i + 1
    if i < len(text) and text[i] == ".":
        i, pos = i + 1, f32(1)
        while i < len(text) and text[i].isdigit():
            pos = f32(pos / f32(10))
            x, i = f32(x + f32(f32(int(text[i])) * pos)), i + 1
    if i < len(text) and text[i] in "eE":
        e = int(text[i + 1:])
        base, e = (f32(0.1), -e) if e < 0 else (f32(10), e)
        if e:
            while e != 1:
                base, e, x = (f32(base * base), e // 2, x) if e % 2 == 0 else (base, e - 1, f32(x * base))
            x = f32(x * base)
    return f32(-x) if negative else x


def test_library_float32_follows_the_parsers_rule_digit_by_digit():
    fields = ["0", "-0.0", "+1", "0.0325", "-0.0325", ".5", "7.", "123456789.123456789", "-0.36495319421188410",
              "1e-05", "-3.25E-2", "2.5e+3", "1e0", "4e1", "0.1e7", "1e-45", "1e-50", "3e38", "1e39", "-1e300",
              "0.000000000000000000000001234", "00012.50", "9" * 45]
    want = np.array([_parse_like_the_library(f) for f in fields], dtype=np.float32)
    got = library_float32(fields)
    assert got.dtype == np.float32 and np.array_equal(got, want, equal_nan=True)
    assert library_float32([]).shape == (0,)


def test_sincosf_is_glibcs_sinf_and_cosf():
    """Where this machine's C library is glibc >= 2.28 (whose sinf/cosf the library's Linux wheels call),
    compare every bit on angles of the whole accepted range; elsewhere, check the values are within one unit."""
    import ctypes
    import platform
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-np.pi / 2, np.pi / 2, 20000), rng.uniform(-1e-3, 1e-3, 500),
                        [0.0, 2.0 ** -12, -2.0 ** -12, 0.75, -0.75, 0.7853982, 1.5707963, -1.5707964]])
    x = x.astype(np.float32)
    sin, cos = sincosf(x)
    assert sin.dtype == cos.dtype == np.float32
    assert np.all(np.abs(sin - np.sin(x.astype(np.float64))) <= np.spacing(np.abs(sin)))
    assert np.all(np.abs(cos - np.cos(x.astype(np.float64))) <= np.spacing(np.abs(cos)))
    libc, version = platform.libc_ver()
    if libc != "glibc" or tuple(int(v) for v in version.split(".")[:2]) < (2, 28):
        pytest.skip("glibc >= 2.28 not present: bitwise comparison not possible here")
    libm = ctypes.CDLL("libm.so.6")
    for fn, ours in (("sinf", sin), ("cosf", cos)):
        f = getattr(libm, fn)
        f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
        theirs = np.array([f(float(v)) for v in x], dtype=np.float32)
        assert np.array_equal(ours, theirs), (fn, x[ours != theirs][:5])


def test_gen1_without_depth_uses_the_stated_default_and_the_file_depth_when_known():
    gen1 = aria_mps.read_eye_gaze(ARIA / "mps_samples" / MPS_FILES[0])
    assert np.all(gen1.depth_m == 0)  # empty depth_m fields: unknown
    p = aria_mps.gaze_points_cpf(gen1)
    assert np.allclose(np.linalg.norm(p, axis=1), aria_mps.DEFAULT_DEPTH_M)
    assert np.allclose(np.linalg.norm(aria_mps.gaze_points_cpf(gen1, default_depth_m=2.5), axis=1), 2.5)
    verg = aria_mps.read_eye_gaze(ARIA / "mps_samples" / MPS_FILES[1])
    assert np.allclose(np.linalg.norm(aria_mps.gaze_points_cpf(verg), axis=1), verg.depth_m)


def test_snippet_calibration_cpf_and_camera_match_the_library():
    want = _snippet_expected()
    cam = read_device_calibration(SNIPPET_CALIB)
    assert (cam.width, cam.height) == tuple(want["rgb_camera"]["image_size"]) == (1408, 1408)
    assert np.allclose(cam.model.params(), want["rgb_camera"]["projection_params"], rtol=0, atol=1e-15)
    assert np.max(np.abs(cam.t_device_camera - np.array(want["rgb_camera"]["T_device_camera"]))) < 1e-12
    assert np.max(np.abs(cam.t_device_cpf - np.array(want["T_device_cpf"]))) < 1e-12  # from the CAD of DVT-S


@pytest.mark.parametrize("upright", [False, True])
def test_each_snippet_gaze_row_lands_on_the_library_pixel(upright):
    want = _snippet_expected()
    cam = read_device_calibration(SNIPPET_CALIB)
    gaze = aria_mps.read_eye_gaze(SNIPPET_GAZE)
    assert [r["depth_m_used"] for r in want["gaze"]] == [1.0] * 4 and np.all(gaze.depth_m == 0)
    points = aria_mps.gaze_points_cpf(gaze)
    assert np.max(np.abs(points - np.array([r["point_in_cpf_m"] for r in want["gaze"]]))) <= 1e-6
    px = aria_mps.gaze_pixels(gaze, cam, upright=upright)
    key = "pixel_upright_xy" if upright else "pixel_raw_xy"
    err = np.max(np.abs(px - np.array([r[key] for r in want["gaze"]])))
    assert err <= 0.01, err  # achieved: < 1e-5 px


def test_upright_is_the_clockwise_rotation_and_raw_inverts_it():
    xy = np.array([[0.0, 0.0], [1407.0, 0.0], [10.5, 700.25]])
    up = upright_xy(xy, 1408)
    assert np.array_equal(up, [[1407.0, 0.0], [1407.0, 1407.0], [706.75, 10.5]])  # top-left -> top-right
    assert np.array_equal(raw_xy(up, 1408), xy)


@pytest.mark.parametrize("upright", [False, True])
@pytest.mark.parametrize("depth", [0.3, 1.0, 4.0])
def test_pixel_to_yaw_pitch_round_trips(upright, depth):
    cam = read_device_calibration(SNIPPET_CALIB)
    g = np.linspace(200.0, 1200.0, 11)
    pixels = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    yaw, pitch = cam.pixel_to_yaw_pitch(pixels, depth, upright=upright)
    points = aria_mps.unit_direction(yaw, pitch) * depth  # how the reader decodes a row with this depth
    back = cam.project_cpf(points, upright=upright)
    assert np.max(np.abs(back - pixels)) < 1e-6


def test_fisheye_unproject_inverts_project_over_the_valid_radius():
    cam = read_device_calibration(SNIPPET_CALIB)
    model = cam.model
    rng = np.random.default_rng(19)
    theta = rng.uniform(0, np.deg2rad(60), 500)
    phi = rng.uniform(-np.pi, np.pi, 500)
    rays = np.stack([np.tan(theta) * np.cos(phi), np.tan(theta) * np.sin(phi), np.ones(500)], axis=1)
    px = model.project(rays * rng.uniform(0.2, 5, (500, 1)))
    assert np.max(np.abs(model.unproject(px) - rays)) < 1e-9
    assert np.allclose(model.project(np.array([0.0, 0.0, 1.0])), [model.cx, model.cy])
    assert np.all(np.isnan(model.project(np.array([0.1, 0.0, -1.0]))))  # behind the camera: no pixel
    assert Fisheye624.from_params(model.params()) == model


def test_calibration_json_round_trips_for_a_synthetic_writer(tmp_path):
    cam = read_device_calibration(SNIPPET_CALIB)
    path = tmp_path / "calib.json"
    path.write_text(device_calibration_json(cam))
    back = read_device_calibration(path)
    assert back.model == cam.model and (back.width, back.height) == (cam.width, cam.height)
    assert np.allclose(back.t_device_camera, cam.t_device_camera, atol=1e-12)
    assert np.allclose(back.t_device_cpf, cam.t_device_cpf, atol=0)


def test_calibration_errors_name_the_file(tmp_path):
    doc = json.loads(SNIPPET_CALIB.read_text())
    cases = {
        "unknown_build": lambda d: d["DeviceClassInfo"].update(BuildVersion="Gen2-X"),
        "no_rgb": lambda d: d.update(CameraCalibrations=[c for c in d["CameraCalibrations"]
                                                         if c["Label"] != "camera-rgb"]),
        "pinhole": lambda d: [c["Projection"].update(Name="Linear") for c in d["CameraCalibrations"]],
        "short_params": lambda d: [c["Projection"].update(Params=[1.0, 2.0]) for c in d["CameraCalibrations"]],
        "bad_quat": lambda d: [c["T_Device_Camera"].update(UnitQuaternion=[1.0]) for c in d["CameraCalibrations"]],
    }
    for name, edit in cases.items():
        d = json.loads(json.dumps(doc))
        edit(d)
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(d))
        with pytest.raises(DataError) as info:
            read_device_calibration(p)
        assert str(info.value).startswith(str(p)) and "\n" not in str(info.value), name
    (tmp_path / "broken.json").write_text('{"CameraCalibrations": [\n  {"Label": ')
    with pytest.raises(DataError, match=r"broken\.json:2: not JSON"):
        read_device_calibration(tmp_path / "broken.json")
    with pytest.raises(DataError, match="cannot read"):
        read_device_calibration(tmp_path / "missing.json")
    # an unknown build reads with an explicit CPF
    d = json.loads(json.dumps(doc))
    d["DeviceClassInfo"]["BuildVersion"] = "Gen2-X"
    (tmp_path / "gen2.json").write_text(json.dumps(d))
    cam = read_device_calibration(tmp_path / "gen2.json", t_device_cpf=np.eye(4))
    assert np.array_equal(cam.t_device_cpf, np.eye(4))


def test_aria_frame_table_needs_a_calibration_and_never_guesses():
    with pytest.raises(DataError, match="device calibration") as info:
        aria_mps.frame_table(SNIPPET_GAZE, n_frames=8, fps=20.0, start_s=86.385)
    assert str(info.value).startswith(str(SNIPPET_GAZE)) and "field of view" in str(info.value)
    with pytest.raises(DataError, match="do not overlap"):  # frames at 0 .. 0.35 s, gaze at 86.4 .. 86.7 s
        aria_mps.frame_table(SNIPPET_GAZE, calibration=SNIPPET_CALIB, n_frames=8, fps=20.0)
    with pytest.raises(DataError, match="1000x1000"):
        aria_mps.frame_table(SNIPPET_GAZE, calibration=SNIPPET_CALIB, n_frames=8, fps=20.0, width=1000,
                             height=1000)


# ----------------------------------------------------------------------------------------------- alignment rule


def test_snippet_frames_take_the_nearest_gaze_within_half_a_gaze_period():
    """10 Hz gaze against 20 Hz frames (rgb_frames.csv): max gap = 50 ms. Frame 0 is 50.06 ms before the first
    row: untracked; frames 1..7 take rows 0,0,1,1,2,2,3 (each even frame is 49.9 ms from the row before and
    50.1 ms from the row after)."""
    want = _snippet_expected()
    times = aria_mps.read_frame_times(SNIPPET / "rgb_frames.csv")
    gaze = aria_mps.read_eye_gaze(SNIPPET_GAZE)
    assert default_max_gap(gaze.time_s, times) == pytest.approx(0.05)
    index = nearest_sample(gaze.time_s, times)
    assert index.tolist() == [-1, 0, 0, 1, 1, 2, 2, 3]
    nearest_frame = [int(np.argmin(np.abs(times - t))) for t in gaze.time_s]
    assert nearest_frame == [r["nearest_rgb_frame"] for r in want["gaze"]] == [1, 3, 5, 7]
    for upright in (True, False):
        table = aria_mps.frame_table(SNIPPET_GAZE, calibration=SNIPPET_CALIB, frame_times_s=times, upright=upright)
        assert table.dtype == np.float32 and table.shape == (8, 3)
        assert table[0].tolist() == [0, 0, UNTRACKED] and np.all(table[1:, 2] == FIXATION)
        px = np.array([r["pixel_upright_xy" if upright else "pixel_raw_xy"] for r in want["gaze"]])
        assert np.allclose(table[1:, :2], (px[index[1:]] / 1408).astype(np.float32), atol=1e-7)


def test_nearest_sample_rule():
    s = np.array([0.0, 0.1, 0.2])
    # ties go to the earlier sample; the bound is inclusive; nothing beyond it
    assert nearest_sample(s, np.array([0.05, 0.15, -0.05, 0.25, 0.2501, -0.0501]), 0.05).tolist() == \
        [0, 1, 0, 2, -1, -1]
    # 90 Hz gaze against 30 fps: each frame the sample nearest to it, within 1/60 s
    gaze = np.arange(0, 90) / 90.0 + 0.002
    frames = frame_times(n_frames=30, fps=30.0)
    assert default_max_gap(gaze, frames) == pytest.approx(1 / 60)
    assert nearest_sample(gaze, frames).tolist() == [3 * i for i in range(30)]
    # a gap in the recording leaves frames untracked
    holed = np.concatenate([gaze[:30], gaze[60:]])
    idx = nearest_sample(holed, frames)
    assert np.all(idx[11:20] == -1) and np.all(idx[:10] >= 0) and np.all(idx[21:] >= 0)
    with pytest.raises(ValueError):
        frame_times(n_frames=3, fps=30.0, frame_times_s=[0, 1, 2])
    with pytest.raises(ValueError):
        frame_times(fps=30.0)


# --------------------------------------------------------------------------------------------------- Ego-Exo4D


def _tutorial_list(values: list[float]) -> list[float]:
    """The Ego-Exo4D tutorial's expansion: each 10 Hz row three times, then [1:]."""
    return [v for v in values for _ in range(3)][1:]


def test_egoexo4d_fixture_table():
    table = egoexo4d.frame_table(EGOEXO, n_frames=21)  # 7 rows -> frames 0..20 (3N - 1 = 20)
    x, y = egoexo4d.read_gaze_2d(EGOEXO)
    rows = [round(i / 3) for i in range(20)]
    for i in range(20):
        k = rows[i]
        if k == 4:  # empty x, y
            assert table[i].tolist() == [0, 0, UNTRACKED]
        elif k == 5:  # x = 1500: outside the 1408 frame, kept unclamped
            assert table[i, 2] == TRUNCATED and table[i, 0] == np.float32(1500 / 1408)
        else:
            assert table[i, 2] == FIXATION
            assert table[i, :2].tolist() == [np.float32(x[k] / 1408), np.float32(y[k] / 1408)]
    assert table[20].tolist() == [0, 0, UNTRACKED]  # 67 ms after the last row: beyond the 50 ms bound


def test_egoexo4d_alignment_against_the_tutorial():
    """The tutorial's list (expand x3, drop the first) gives frame i the row (i + 1) // 3: the nearest row,
    equal to ours on frames 0 .. 3N - 2, but it has 3N - 1 entries, so the take's last frame has none. The same
    expansion without the shift (row i // 3) is one frame off on every frame 3k + 2."""
    x, _ = egoexo4d.read_gaze_2d(EGOEXO)
    n = x.size
    tutorial = _tutorial_list(list(range(n)))
    assert len(tutorial) == 3 * n - 1  # the off-by-one: one entry short of the 3N frames
    ours = nearest_sample(egoexo4d.sample_times(n), frame_times(n_frames=3 * n, fps=30.0))
    assert ours[: 3 * n - 1].tolist() == tutorial
    assert ours[3 * n - 1] == -1
    hold = [i // 3 for i in range(3 * n)]
    differ = [i for i in range(3 * n - 1) if hold[i] != ours[i]]
    assert differ == list(range(2, 3 * n - 1, 3))
    for i in differ:  # at those frames our row is nearer in time
        assert abs(ours[i] / 10 - i / 30) < abs(hold[i] / 10 - i / 30)


def test_egoexo4d_downscaled_video_keeps_normalised_positions():
    full = egoexo4d.frame_table(EGOEXO, n_frames=21, fps=30.0)
    assert np.array_equal(full, FORMATS["egoexo4d"].frame_table(EGOEXO, n_frames=21))
    times = np.arange(21) / 30.0
    assert np.array_equal(full, egoexo4d.frame_table(EGOEXO, frame_times_s=times))


# ------------------------------------------------------------------------------------------------------- Ego4D


def test_ego4d_fixture_table_flips_y_and_takes_the_nearest_timestamp():
    table = ego4d.frame_table(EGO4D, n_frames=7, fps=30.0)
    t, x, y, conf = ego4d.read_gaze(EGO4D)
    assert y[0] == 1 - 0.440328527379919  # bottom-left origin -> image y
    assert table[0].tolist() == [np.float32(x[0]), np.float32(y[0]), FIXATION]
    k8 = int(np.flatnonzero(np.isclose(t, 0.032))[0])  # frame 1 (33.3 ms): nearest is the 32 ms sample
    assert table[1].tolist() == [np.float32(x[k8]), np.float32(y[k8]), FIXATION]
    assert table[2].tolist() == [0, 0, UNTRACKED]  # nearest (68 ms) has no position
    assert table[3, 2] == TRUNCATED and table[3, 1] == np.float32(1 - 1.05)  # norm_pos_y > 1: above the frame
    assert table[4, 2] == FIXATION and table[5, 2] == FIXATION  # 0.156 s is 10.7 ms from frame 5: within 16.7
    assert table[6].tolist() == [0, 0, UNTRACKED]  # 0.2 s: 44 ms from any sample (a gap)
    picky = ego4d.frame_table(EGO4D, n_frames=7, fps=30.0, min_confidence=0.5)
    k9 = k8 + 1  # the low-confidence 32 ms sample is left out: frame 1 takes the 36 ms one
    assert picky[1].tolist() == [np.float32(x[k9]), np.float32(y[k9]), FIXATION]
    assert np.array_equal(np.delete(picky, 1, 0), np.delete(table, 1, 0))


def test_ego4d_glc_saccades_by_movement():
    table = ego4d.frame_table(EGO4D, n_frames=7, fps=30.0)
    glc = ego4d.frame_table(EGO4D, n_frames=7, fps=30.0, glc_saccades=True)
    assert np.array_equal(glc[:, :2], table[:, :2])
    # frame 1 jumps to the low-confidence sample (0.9, 0.9): ~560 px at 1088x1080 from frame 0 -> saccade;
    # frame 4 follows frame 3 (truncated, at y = -0.05) by ~540 px -> saccade; frame 5 moves ~13 px -> fixation
    assert glc[:, 2].tolist() == [FIXATION, SACCADE, UNTRACKED, TRUNCATED, SACCADE, FIXATION, UNTRACKED]


def test_ego4d_glc_compatible_on_its_common_ground():
    """GLC's loop (nearest timestamp, y = 1 - norm_pos_y), rewritten here, agrees with the table on every frame
    where a sample is within the bound and has a position."""
    t, x, y, _ = ego4d.read_gaze(EGO4D)
    table = ego4d.frame_table(EGO4D, n_frames=6, fps=30.0)
    j = 0
    for i in range(6):
        ts = i / 30.0
        while t[j] < ts:
            j += 1
        k = j - 1 if abs(t[j - 1] - ts) < abs(t[j] - ts) else j
        if np.isfinite(x[k]):
            assert table[i, :2].tolist() == [np.float32(x[k]), np.float32(y[k])]


# ---------------------------------------------------------------------------------------------------- registry


def test_registry_formats_share_the_contract():
    assert tuple(FORMATS) == ("begaze", "aria-mps", "egoexo4d", "ego4d")
    with pytest.raises(ValueError, match="unknown gaze format 'tobii'; one of"):
        FORMATS["tobii"]
    tables = {
        "aria-mps": FORMATS["aria-mps"].frame_table(SNIPPET_GAZE, calibration=SNIPPET_CALIB, n_frames=8, fps=20.0,
                                                     start_s=86.385246037),
        "egoexo4d": FORMATS["egoexo4d"].frame_table(EGOEXO, n_frames=8, fps=30.0),
        "ego4d": FORMATS["ego4d"].frame_table(EGO4D, n_frames=8, fps=30.0),
        "begaze": FORMATS["begaze"].frame_table(gaze_file("OP04-R06-GreekSalad"), n_frames=8),
    }
    for name, table in tables.items():
        assert table.dtype == np.float32 and table.shape == (8, 3), name
        assert set(np.unique(table[:, 2]).tolist()) <= {0, 1, 2, 3, 4}, name
    assert FORMATS["aria-mps"].needs_calibration and not FORMATS["ego4d"].needs_calibration
    assert tables["aria-mps"][1:, 2].tolist() == [FIXATION] * 7


def test_begaze_entry_pads_and_cuts_the_parser_table():
    path = gaze_file("OP04-R06-GreekSalad")
    full = parse_begaze(path)
    fmt = FORMATS["begaze"]
    assert np.array_equal(fmt.frame_table(path), full)
    assert np.array_equal(fmt.frame_table(path, n_frames=10, fps=24), full[:10])
    longer = fmt.frame_table(path, n_frames=full.shape[0] + 5)
    assert np.array_equal(longer[:-5], full) and not longer[-5:].any()
    with pytest.raises(ValueError):
        fmt.frame_table(path, n_frames=10, fps=30)


def test_aria_camera_is_the_public_calibration_type():
    assert isinstance(read_device_calibration(SNIPPET_CALIB), AriaCamera)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(samples=st.lists(st.integers(0, 2000), min_size=1, max_size=30),
       frames=st.lists(st.integers(-100, 2100), min_size=1, max_size=30, unique=True),
       gap=st.integers(0, 300))
def test_nearest_sample_equals_a_brute_force_reading_of_the_rule(samples, frames, gap):
    s = np.sort(np.array(samples, dtype=np.float64)) / 1000  # ms -> s, ties and repeats included
    t = np.sort(np.array(frames, dtype=np.float64)) / 1000
    got = nearest_sample(s, t, gap / 1000)
    for i, ti in enumerate(t):
        d = np.abs(s - ti)
        best = int(np.flatnonzero(d == d.min())[0])  # the earliest of the nearest
        want = best if d[best] <= gap / 1000 + 1e-12 else -1
        assert got[i] == want or (want >= 0 and s[got[i]] == s[want]), (i, got[i], want)


def test_projectaria_tools_as_a_second_oracle():
    """When Aria's own library is importable (it is not a dependency), compare with it directly."""
    mps = pytest.importorskip("projectaria_tools.core.mps")
    for name in MPS_FILES:
        theirs = mps.read_eyegaze(str(ARIA / "mps_samples" / name))
        ours = aria_mps.read_eye_gaze(ARIA / "mps_samples" / name)
        assert len(theirs) == len(ours)
        assert np.max(np.abs(ours.yaw - [g.yaw for g in theirs])) <= 1e-6
        assert np.max(np.abs(ours.pitch - [g.pitch for g in theirs])) <= 1e-6


def test_a_writer_of_aria_gaze_round_trips_through_the_reader(tmp_path):
    """What a synthetic world does: choose gaze pixels on the upright video, turn them into (yaw, pitch) with
    the calibration, write a Gen1 MPS CSV at 10 Hz, and read the per-frame table of a 30 fps video back."""
    cam = read_device_calibration(SNIPPET_CALIB)
    calib = tmp_path / "device_calibration.json"
    calib.write_text(device_calibration_json(cam))
    rng = np.random.default_rng(7)
    pixels = rng.uniform(300, 1100, (12, 2))
    yaw, pitch = cam.pixel_to_yaw_pitch(pixels, 1.0, upright=True)
    lines = ["tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf,yaw_low_rads_cpf,pitch_low_rads_cpf,"
             "yaw_high_rads_cpf,pitch_high_rads_cpf,depth_m,session_uid"]
    for k in range(12):
        lines.append(f"{k * 100_000},{float(yaw[k])!r},{float(pitch[k])!r},0,0,0,0,,synthetic")
    gaze = tmp_path / "general_eye_gaze.csv"
    gaze.write_text("\n".join(lines) + "\n")
    table = FORMATS["aria-mps"].frame_table(gaze, calibration=calib, n_frames=34, fps=30.0)
    rows = [round(i / 3) for i in range(34)]
    assert np.all(table[:, 2] == FIXATION)
    assert np.max(np.abs(table[:, :2] - pixels[rows] / 1408)) < 1e-6
