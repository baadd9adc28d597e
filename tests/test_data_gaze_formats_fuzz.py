"""Fuzz tests of the gaze-format readers (Aria MPS eye gaze and frame timestamps, the device calibration,
Ego-Exo4D 2D gaze, Ego4D gaze), as tests/test_data_begaze_fuzz.py fuzzes BeGaze.

Each generated file is one of the fixtures (real Aria files, the hand-made Ego-Exo4D and Ego4D ones) damaged:
truncated anywhere, bytes inserted, a field replaced by a nasty token, a column renamed or dropped, lines
duplicated or swapped, re-encoded (UTF-16, Latin-1), arbitrary bytes, empty. The contract: the reader returns
the documented table (float32 (n_frames, 3), finite, types untracked/fixation/truncated; saccade with
GLC's movement rule) or raises one
DataError whose message is one line starting ``path:line: `` with a line the file has (``path: `` only for
whole-file problems: unreadable, too large); never another exception, never a numpy warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazeattn.data.begaze import FIXATION, SACCADE, TRUNCATED, UNTRACKED
from gazeattn.data.gaze_formats import aria_mps, ego4d, egoexo4d
from gazeattn.data.gaze_formats.aria_calibration import read_device_calibration
from gazeattn.utils.errors import DataError

DATA = Path(__file__).parent / "data"
SNIPPET = DATA / "aria" / "aea_snippet"
CALIB = read_device_calibration(SNIPPET / "device_calibration.json")
SEEDS = {
    "aria-gen1": DATA / "aria" / "mps_samples" / "gen1_generalized_eye_gaze.csv",
    "aria-vergence": DATA / "aria" / "mps_samples" / "gen1_vergence_generalized_gaze.csv",
    "aria-gen2": DATA / "aria" / "mps_samples" / "gen2_general_eye_gaze.csv",
    "aria-snippet": SNIPPET / "mps" / "eye_gaze" / "general_eye_gaze.csv",
    "frames": SNIPPET / "rgb_frames.csv",
    "egoexo4d": DATA / "egoexo4d" / "general_eye_gaze_2d.csv",
    "ego4d": DATA / "ego4d" / "gaze.csv",
}
_QUIET = [HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.function_scoped_fixture,
          HealthCheck.data_too_large]
FUZZ = settings(derandomize=True, deadline=None, max_examples=150, suppress_health_check=_QUIET)
NASTY = ["", " ", "abc", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "0x10", "1_0", "1,5", "--1", "+", ".",
         "1e", "é", "\x00", "\x0b", "\u2028", "1.0.0", "9" * 40, "-9" * 20, "3.2", "-3.2", "1e300", "-1e300",
         "0", "-0.0", "2e-320", '"1.0"', "1.5707963", "-1.5707963"]


def _tables(kind: str, path: Path) -> list[np.ndarray]:
    """The tables the readers of ``kind`` make from ``path`` (the reading is what is under test)."""
    if kind.startswith("aria"):
        out = [aria_mps.frame_table(path, calibration=CALIB, n_frames=12, fps=20.0, start_s=86.38, upright=u)
               for u in (True, False)]
        gaze = aria_mps.read_eye_gaze(path)
        out.append(aria_mps.frame_table(path, calibration=CALIB, frame_times_s=gaze.time_s[:1] + [0.0]))
        return out
    if kind == "frames":
        t = aria_mps.read_frame_times(path)
        assert np.all(np.diff(t) > 0)
        return []
    if kind == "egoexo4d":
        return [egoexo4d.frame_table(path, n_frames=25)]
    return [ego4d.frame_table(path, n_frames=12, fps=30.0),
            ego4d.frame_table(path, n_frames=12, fps=30.0, min_confidence=0.5, glc_saccades=True)]


def _check(kind: str, path: Path, raw: bytes) -> None:
    path.write_bytes(raw)
    n_lines = max(1, raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning is a bug too
        try:
            tables = _tables(kind, path)
        except DataError as err:
            msg = str(err)
            assert "\n" not in msg and "\r" not in msg and "\u2028" not in msg, msg
            assert err.path == str(path), msg
            if err.line is None:
                assert msg.startswith(f"{path}: "), msg
            else:
                assert msg.startswith(f"{path}:{err.line}: "), msg
                assert 1 <= err.line <= n_lines, (err.line, n_lines, msg)
            return
    for table in tables:
        assert table.dtype == np.float32 and table.ndim == 2 and table.shape[1] == 3
        assert np.all(np.isfinite(table))
        assert set(np.unique(table[:, 2]).tolist()) <= {UNTRACKED, FIXATION, SACCADE, TRUNCATED}
        untracked = table[:, 2] == UNTRACKED
        assert not table[untracked, :2].any()
        inside = (table[:, 2] == FIXATION) | (table[:, 2] == SACCADE)
        assert np.all((table[inside, :2] >= 0) & (table[inside, :2] < 1))
        assert np.all(np.abs(table[:, :2]) < 1000)


@st.composite
def damaged(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(SEEDS)))
    raw = SEEDS[kind].read_bytes()
    how = draw(st.sampled_from(["truncate", "insert", "field", "column", "lines", "encode", "arbitrary", "empty"]))
    if how == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == "insert":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    elif how == "field":
        lines = raw.split(b"\n")
        k = draw(st.integers(0, max(0, len(lines) - 2)))
        fields = lines[k].split(b",")
        j = draw(st.integers(0, len(fields) - 1))
        fields[j] = draw(st.sampled_from(NASTY)).encode()
        lines[k] = b",".join(fields)
        raw = b"\n".join(lines)
    elif how == "column":
        lines = raw.split(b"\n")
        names = lines[0].split(b",")
        j = draw(st.integers(0, len(names) - 1))
        if draw(st.booleans()):
            names[j] = draw(st.sampled_from([b"x", b"X", b"yaw", b"", names[0], b"tracking_timestamp_us"]))
        else:
            del names[j]
        lines[0] = b",".join(names)
        raw = b"\n".join(lines)
    elif how == "lines":
        lines = raw.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if draw(st.booleans()):
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(i, lines[j])
        raw = b"\n".join(lines)
    elif how == "encode":
        text = raw.decode("utf-8")
        if draw(st.booleans()):
            raw = text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
        else:
            raw = (text + "\n" + "é,ü\n").encode("latin-1") if kind != "frames" else ("é" + text).encode("latin-1")
    elif how == "arbitrary":
        raw = draw(st.binary(max_size=300))
    else:
        raw = draw(st.sampled_from([b"", b"\n", b"\r\n", b"   \n\n", b"\xef\xbb\xbf"]))
    return kind, raw


@FUZZ
@given(case=damaged())
def test_damaged_gaze_files_give_a_table_or_one_line_error(tmp_path, case):
    kind, raw = case
    _check(kind, tmp_path / f"{kind}.csv", raw)


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_every_truncation_of_each_fixture(tmp_path, kind):
    raw = SEEDS[kind].read_bytes()
    step = max(1, len(raw) // 150)  # ~150 cuts per file, every line end of the small ones included
    cuts = sorted(set(range(0, len(raw) + 1, step)) | {i for i, b in enumerate(raw) if b == 10} |
                  {i + 1 for i, b in enumerate(raw) if b == 10})
    for cut in cuts:
        _check(kind, tmp_path / f"{kind}.csv", raw[:cut])


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_the_fixtures_themselves_read(tmp_path, kind):
    _check(kind, tmp_path / f"{kind}.csv", SEEDS[kind].read_bytes())


def test_named_cases_give_the_right_line(tmp_path):
    p = tmp_path / "g.csv"
    head = "tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf,depth_m\n"
    cases = {
        head + "1,0.1,0.2,\n2,abc,0.2,\n": (3, "not a number"),
        head + "1,0.1,0.2,\n2,0.1,0.2\n": (3, "3 fields, the header has 4"),
        head + "5,0.1,0.2,\n2,0.1,0.2,\n": (3, "goes backwards"),
        head + "1,0.1,0.2,\n\n2,0.1,0.2,\n": (3, "blank line"),
        head + "1,2.0,0.2,\n": (2, "within +-90 degrees"),
        head + "1,0.1,0.2,-1\n": (2, "negative depth"),
        head + "1,0.1,nan,\n": (2, "not a number"),
        head: (1, "no samples"),
        "": (1, "empty file"),
        "tracking_timestamp_us,pitch_rads_cpf,depth_m\n1,0.1,\n": (1, "missing column(s) 'yaw_rads_cpf'"),
        "a,a\n1,2\n": (1, "appears twice"),
    }
    for text, (line, words) in cases.items():
        p.write_text(text)
        with pytest.raises(DataError) as info:
            aria_mps.read_eye_gaze(p)
        assert info.value.line == line and words in str(info.value), (text, str(info.value))
    p.write_bytes(head.encode() + b"1,0.1,0.2,\n2,0.\xe91,0.2,\n")
    with pytest.raises(DataError, match=r"g\.csv:3: not UTF-8"):
        aria_mps.read_eye_gaze(p)
    p.write_text("x,y\n1,2\n3,four\n")
    with pytest.raises(DataError, match=r"g\.csv:3: column 'y': not a number: 'four'"):
        egoexo4d.frame_table(p, n_frames=3)
    p.write_text("canonical_timestamp_s,norm_pos_x\n0.0,0.5\n")
    with pytest.raises(DataError, match=r"g\.csv:1: missing column\(s\) 'norm_pos_y'"):
        ego4d.frame_table(p, n_frames=3, fps=30.0)
    with pytest.raises(DataError, match="is a folder"):
        ego4d.frame_table(tmp_path, n_frames=3, fps=30.0)
    with pytest.raises(DataError, match="cannot read"):
        egoexo4d.frame_table(tmp_path / "missing.csv", n_frames=3)


@FUZZ
@given(raw=st.binary(max_size=400), keep=st.integers(0, 11909))
def test_damaged_calibration_json_gives_one_line_error(tmp_path, raw, keep):
    p = tmp_path / "calib.json"
    for data in (raw, (SNIPPET / "device_calibration.json").read_bytes()[:keep]):
        p.write_bytes(data)
        try:
            read_device_calibration(p)
        except DataError as err:
            assert str(err).startswith(f"{p}") and "\n" not in str(err)


_JSON_VALUES = st.sampled_from([None, [], {}, "x", 1e308, -1, 0, True, [1.0], {"a": 1}, float("nan"), "camera-rgb",
                                [0.5, [0.5, 0.5, 0.5]], [1e308, [1e308, 0, 0]], 2 ** 70])


def _leaves(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))


@FUZZ
@given(data=st.data())
def test_calibration_json_with_wrong_values_gives_one_line_error(tmp_path, data):
    import json

    doc = json.loads((SNIPPET / "device_calibration.json").read_text())
    rgb = [c for c in doc["CameraCalibrations"] if c["Label"] == "camera-rgb"][0]
    target = data.draw(st.sampled_from([doc, rgb, rgb["Projection"], rgb["T_Device_Camera"], rgb["ConfigData"]]))
    paths = [p for p in _leaves(target) if p]
    where = data.draw(st.sampled_from(paths))
    node = target
    for key in where[:-1]:
        node = node[key]
    if data.draw(st.booleans()):
        node[where[-1]] = data.draw(_JSON_VALUES)
    elif isinstance(node, dict):
        del node[where[-1]]
    else:
        node.pop(where[-1])
    p = tmp_path / "calib.json"
    p.write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            cam = read_device_calibration(p)
        except DataError as err:
            assert str(err).startswith(f"{p}") and "\n" not in str(err)
            return
        px = cam.project_cpf(np.array([[0.0, 0.0, 1.0]]), upright=True)
    assert px.shape == (1, 2)
