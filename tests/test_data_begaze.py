"""SMI BeGaze gaze files: official mode bit-exact on real files, clean-mode properties, every error names file:line."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazeattn.data import begaze
from gazeattn.data.begaze import (
    FIXATION,
    GAZE_RESOLUTION,
    OTHER,
    SACCADE,
    TRUNCATED,
    UNTRACKED,
    clean_table,
    find_gaze_file,
    official_table,
    parse_begaze,
    read_begaze_samples,
)
from gazeattn.utils.errors import DataError
from realdata import GAZE_NAMES, gaze_file, official_table_file


# A real v1 (BeGaze 3.1) header, from OP04-R06-GreekSalad.txt: 33 '##' lines, then the column header (line 34).
V1_HEADER = [
    "## [BeGaze]",
    "## Converted from:\tD:\\Recorded Data\\Experiment Data\\Rahul_2012_07_18_Greek.etg.data\\Rahul-1-recording.idf",
    "## Date:\t01.01.0001 00:00:00",
    "## Version:\tBeGaze 3.1.77",
    "## IDF Version:\t10",
    "## Sample Rate:\t30",
    "## Separator Type:\tTrial",
    "## Trial Count:\t0",
    "## Uses Plane File:\tFalse",
    "## Number of Samples:\t10665",
    "## Reversed:\tnone",
    "## [Run]",
    "## Subject:\tRahul",
    "## Description:\tRun1",
    "## [Calibration]",
    "## Calibration Type:\tn.a.",
    "## Calibration Area:\t1280\t960",
    "## [Geometry]",
    "## Stimulus Dimension [mm]:\t1280\t960",
    "## Head Distance [mm]:\t1450",
    "## [Hardware Setup]",
    "## System ID:\t",
    "## Operating System :\t",
    "## IView X Version:\t",
    "## [Filter Settings]",
    "## Heuristics:\tFalse",
    "## Heuristics Stage:\t0",
    "## Bilateral:\tFalse",
    "## Gaze Cursor Filter:\tFalse",
    "## Saccade Length [px]:\t0",
    "## Filter Depth [ms]:\t0",
    "## Format:\tLEFT, POR, FRAMECOUNTER",
    "##",
    "Time\tType\tTrial\tL POR X [px]\tL POR Y [px]\tFrame\tAux1\tL Event Info",
]
V2_COLUMNS = (
    "Time\tType\tTrial\tL Pupil Diameter [mm]\tR Pupil Diameter [mm]\tB POR X [px]\tB POR Y [px]\tL POR X [px]\t"
    "L POR Y [px]\tR POR X [px]\tR POR Y [px]\tB AOI Hit\tL EPOS X\tL EPOS Y\tL EPOS Z\tR EPOS X\tR EPOS Y\tR EPOS Z\t"
    "L GVEC X\tL GVEC Y\tL GVEC Z\tR GVEC X\tR GVEC Y\tR GVEC Z\tFrame\tAux1\tB Event Info"
)
# v2 (BeGaze 3.4): an extra '## Stimulus:' line, no 'Calibration Type' line, 27 columns.
V2_HEADER = (
    V1_HEADER[:3]
    + ["## Version:\tBeGaze 3.4.46"]
    + V1_HEADER[4:9]
    + ["## Stimulus:\tp10r2-2-recording.avi"]
    + V1_HEADER[9:15]
    + V1_HEADER[16:31]
    + ["## Format:\tLEFT, RIGHT, POR, AOI, EYEPOSITION, GAZEVECTOR, FRAMECOUNTER", "##", V2_COLUMNS]
)
FIRST = len(V1_HEADER) + 1  # 1-based line number of the first sample: 35
assert len(V2_HEADER) == len(V1_HEADER) == 34


def v1(frame, x="100.00", y="200.00", event="Fixation", t=1611931665) -> str:
    return f"{t}\tSMP\t1\t{x}\t{y}\t{frame}\t\t{event}"


def v2(tc, x="100.00", y="200.00", event="Fixation", t=2717558959) -> str:
    mid = "\t".join(["0.00"] * 4 + ["-"] + ["0.00"] * 12)
    return f"{t}\tSMP\t1\t4.00\t4.00\t{x}\t{y}\t{mid}\t{tc}\t\t{event}"


def _text(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def write(tmp_path: Path, lines: list[str], header: list[str] = V1_HEADER, name: str = "s.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(header + lines) + "\r\n").encode())
    return path


# ------------------------------------------------------------------------------------------- real fixtures


@pytest.mark.parametrize("name", GAZE_NAMES)
def test_official_mode_equals_the_official_reader(name):
    got = parse_begaze(gaze_file(name), compat="official")
    want = np.load(official_table_file(name))
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("name", GAZE_NAMES)
def test_samples_versions_and_layout(name):
    path = gaze_file(name)
    s = read_begaze_samples(path)
    assert s.version == (2 if name.startswith("P") else 1)
    header_count = next(int(line.split()[-1]) for line in path.read_text().splitlines() if "Number of Samples" in line)
    assert len(s) == header_count  # these four files have exactly the announced number of samples
    assert s.line[0] == FIRST and np.array_equal(np.diff(s.line), np.ones(len(s) - 1))
    assert s.time_us.dtype == np.int64 and s.frame.dtype == np.int64 and s.event.dtype == np.uint8
    assert s.x_px.dtype == s.y_px.dtype == np.float64
    assert (np.diff(s.frame) >= 0).all() and (np.diff(s.time_us) > 0).all()
    assert set(np.unique(s.event)) <= {1, 2, 3, 4}
    # spot-check the first sample against the text
    first = path.read_text().splitlines()[FIRST - 1].split()
    x_col, y_col = (5, 6) if s.version == 2 else (3, 4)
    assert s.x_px[0] == float(first[x_col]) and s.y_px[0] == float(first[y_col]) and s.time_us[0] == int(first[0])


def _per_frame(samples):
    """Per frame: list of (x, y, event) in file order (plain Python, for independent checks)."""
    frames: dict[int, list] = {}
    for x, y, f, e in zip(samples.x_px, samples.y_px, samples.frame, samples.event):
        frames.setdefault(int(f), []).append((float(x), float(y), int(e)))
    return frames


@pytest.mark.parametrize("name", GAZE_NAMES)
def test_clean_mode_properties_on_real_files(name):
    s = read_begaze_samples(gaze_file(name))
    clean, official = clean_table(s), official_table(s)
    assert np.array_equal(parse_begaze(s.path), clean)  # clean is the default
    assert clean.dtype == np.float32 and clean.shape == official.shape
    assert np.isfinite(clean).all()  # no NaN leaks (P10 has 335 NaN samples)
    types = clean[:, 2]
    assert set(np.unique(types)) <= {UNTRACKED, FIXATION, SACCADE, OTHER, TRUNCATED}
    tracked = types != TRUNCATED
    assert (clean[tracked, :2] >= 0).all() and (clean[tracked, :2] <= 1).all()
    assert (clean[types == UNTRACKED, :2] == 0).all()
    w, h = GAZE_RESOLUTION
    frames = _per_frame(s)
    single_agree = trunc_clamped = nan_only = 0
    for f, samples in frames.items():
        finite = [(x, y, e) for x, y, e in samples if np.isfinite(x) and np.isfinite(y)]
        inside = [(x, y, e) for x, y, e in finite if 0 <= x < w and 0 <= y < h]
        if len(samples) == 1 and inside and inside[0][0] <= w - 1 and inside[0][1] <= h - 1:
            assert np.array_equal(clean[f], official[f])  # same semantics -> bit-identical
            single_agree += 1
        if inside:
            mean = np.array([sum(v[0] for v in inside) / len(inside), sum(v[1] for v in inside) / len(inside)])
            want = mean.astype(np.float32) / np.array([w, h], dtype=np.float32)
            assert np.array_equal(clean[f, :2], want), f
        elif finite:
            assert types[f] == TRUNCATED
            assert official[f, 2] != TRUNCATED  # official clamps and keeps the event type
            on_border = np.isin(official[f, :2], [0, np.float32(w - 1) / w, np.float32(h - 1) / h]).any()
            assert on_border
            trunc_clamped += 1
        else:
            assert types[f] == UNTRACKED and official[f, 2] != UNTRACKED and (official[f, :2] == 0).all()
            nan_only += 1
    for f in set(range(len(clean))) - set(frames):
        assert (clean[f] == 0).all() and (official[f] == 0).all()
    assert single_agree > 5000 and trunc_clamped > 200
    assert (nan_only > 200) if name.startswith("P") else (nan_only == 0)
    assert (official[:, 2] != TRUNCATED).all() and (official[:, :2] < 1).all() and (official[:, :2] >= 0).all()


# -------------------------------------------------------------------- official quirks on tiny synthetic files


def test_official_quirks_running_average_last_type_clamp_nan(tmp_path):
    path = write(
        tmp_path,
        [
            v1(1, "100.00", "90.00", "Fixation"),
            v1(1, "200.00", "30.00", "Fixation"),
            v1(1, "400.00", "60.00", "Saccade"),  # 3 samples: ((100+200)/2 + 400)/2 = 275 (y: 60), type of the last
            v1(3, "-5.00", "2000.00", "Saccade"),  # clamped to (0, 959), type kept
            v1(4, "10.00", "10.00", "Blink"),
            v1(4, "NaN", "20.00", "-"),  # NaN poisons x -> 0
            v1(5, "12.00", "13.00", "Whatever"),  # unknown event -> other
        ],
    )
    t = parse_begaze(path, compat="official")
    assert t.shape == (6, 3)
    f32 = np.float32
    assert t[1, 0] == f32(275) / f32(1280) and t[1, 1] == f32(60) / f32(960) and t[1, 2] == SACCADE
    assert (t[0] == 0).all() and (t[2] == 0).all()
    assert t[3, 0] == 0 and t[3, 1] == f32(959) / f32(960) and t[3, 2] == SACCADE
    assert t[4, 0] == 0 and t[4, 1] == f32(15) / f32(960) and t[4, 2] == OTHER
    assert t[5, 2] == OTHER
    c = parse_begaze(path, compat="clean")
    assert np.isclose(c[1, 0], (100 + 200 + 400) / 3 / 1280) and c[1, 2] == FIXATION  # true mean, majority
    assert c[3, 2] == TRUNCATED and c[3, 0] < 0 and c[3, 1] > 1  # unclamped
    assert c[4, 0] == f32(10) / f32(1280) and c[4, 2] == OTHER  # the NaN sample does not contribute
    assert c[5, 2] == OTHER


def test_official_running_average_is_float32_stepwise(tmp_path):
    rng = np.random.default_rng(12345)
    xs = rng.uniform(0, 1279, size=7).round(2)
    path = write(tmp_path, [v1(0, f"{x:.2f}", "1.00") for x in xs])
    acc = np.float32(float(f"{xs[0]:.2f}"))
    for x in xs[1:]:
        acc = (acc + np.float32(float(f"{x:.2f}"))) / np.float32(2)
    assert parse_begaze(path, compat="official")[0, 0] == acc / np.float32(1280)


@pytest.mark.parametrize(
    "events, want",
    [
        (["Fixation", "Saccade"], SACCADE),  # tie: the less stable type wins
        (["Fixation", "Fixation", "Saccade"], FIXATION),
        (["Fixation", "Blink"], OTHER),
        (["Saccade", "-", "Fixation"], OTHER),
        (["Saccade", "Saccade", "Blink"], SACCADE),
    ],
)
def test_clean_majority_and_tie_rule(tmp_path, events, want):
    path = write(tmp_path, [v1(2, "10.00", "10.00", e) for e in events])
    assert parse_begaze(path)[2, 2] == want


def test_clean_ignores_out_of_frame_samples_when_some_are_inside(tmp_path):
    path = write(tmp_path, [v1(0, "100.00", "100.00", "Saccade"), v1(0, "5000.00", "100.00", "Fixation")])
    c = parse_begaze(path)
    assert c[0, 0] == np.float32(100) / np.float32(1280) and c[0, 2] == SACCADE


def test_v2_timecodes_and_nan(tmp_path):
    lines = [v2("00:00:00:00"), v2("00:00:01:23", "NaN", "NaN", "Blink"), v2("01:02:03:04", "640.00", "480.00")]
    s = read_begaze_samples(write(tmp_path, lines, V2_HEADER))
    assert s.version == 2
    assert list(s.frame) == [0, 47, (3600 + 2 * 60 + 3) * 24 + 4]
    assert np.isnan(s.x_px[1]) and list(s.event) == [begaze.EVENT_FIXATION, begaze.EVENT_BLINK, begaze.EVENT_FIXATION]
    c = clean_table(s)
    assert c[47, 2] == UNTRACKED and c[-1, 0] == 0.5 and c[-1, 1] == 0.5


def test_header_found_by_content_not_line_number(tmp_path):
    header = V1_HEADER[:10] + ["## Extra:\tline", "## Another:\tone"] + V1_HEADER[10:]
    path = write(tmp_path, [v1(0), v1(1, "1.50", "2.25")], header)
    s = read_begaze_samples(path)
    assert s.line.tolist() == [FIRST + 2, FIRST + 3] and s.x_px[1] == 1.5 and s.y_px[1] == 2.25


def test_tolerated_variants(tmp_path):
    # LF line ends, trailing blank lines, spaces around fields, no final newline
    text = "\n".join(V1_HEADER + [v1(0, " 1.25 ", "2.00", " Fixation"), v1(1)]) + "\n\n\n"
    (tmp_path / "lf.txt").write_text(text)
    s = read_begaze_samples(tmp_path / "lf.txt")
    assert s.x_px[0] == 1.25 and s.event[0] == begaze.EVENT_FIXATION and len(s) == 2
    (tmp_path / "nofinal.txt").write_text("\r\n".join(V1_HEADER + [v1(0), v1(1)]))
    assert len(read_begaze_samples(tmp_path / "nofinal.txt")) == 2


def test_numbers_parse_exactly_like_python_float(tmp_path):
    rng = random.Random(7)
    xs = []
    for _ in range(3000):
        digits = rng.randint(0, 6)
        xs.append(f"{rng.uniform(-5000, 5000):.{digits}f}".rstrip(".") if digits else str(rng.randint(-9999, 9999)))
    xs += ["-0.00", "0", "5.", ".5", "-.5", "123456789012345", "1.23456789012345", "1e3", "-2.5E-1", "nan", "+7.25"]
    path = write(tmp_path, [v1(i, x, x) for i, x in enumerate(xs)])
    s = read_begaze_samples(path)
    want = np.array([float(x) for x in xs])
    assert np.array_equal(s.x_px, want, equal_nan=True)
    assert np.array_equal(np.signbit(s.x_px), np.signbit(want))


def test_compat_must_be_known(tmp_path):
    with pytest.raises(ValueError, match="compat"):
        parse_begaze(write(tmp_path, [v1(0)]), compat="exact")


# ------------------------------------------------------------------------------------------------- errors


def _replace(lines, i, new):
    lines = list(lines)
    lines[i] = new
    return lines


BODY = [v1(f) for f in range(6)]
V2_BODY = [v2(f"00:00:00:{f:02d}") for f in range(6)]

ERROR_CASES = {
    # name: (header, body lines, expected line, message fragment)
    "wrong token count": (V1_HEADER, _replace(BODY, 3, "1\tSMP\t1\t2.00\t3.00\t4\tFixation"), FIRST + 3, "columns"),
    "blank line inside": (V1_HEADER, _replace(BODY, 2, ""), FIRST + 2, "columns"),
    "unparsable x": (V1_HEADER, _replace(BODY, 4, v1(4, x="12.3.4")), FIRST + 4, "unparsable number"),
    "empty y": (V1_HEADER, _replace(BODY, 1, v1(1, y="")), FIRST + 1, "unparsable number"),
    "unparsable frame": (V1_HEADER, _replace(BODY, 5, v1("5.5")), FIRST + 5, "unparsable integer"),
    "negative frame": (V1_HEADER, _replace(BODY, 2, v1(-3)), FIRST + 2, "negative frame"),
    "huge frame": (V1_HEADER, _replace(BODY, 2, v1(10**12)), FIRST + 2, "frame beyond"),
    "unparsable time": (V1_HEADER, _replace(BODY, 0, v1(0, t="12a4")), FIRST, "unparsable integer"),
    "empty event": (V1_HEADER, _replace(BODY, 3, v1(3, event="")), FIRST + 3, "empty event"),
    "message line": (V1_HEADER, _replace(BODY, 1, v1(1).replace("SMP", "MSG")), FIRST + 1, "sample type"),
    "bad timecode": (V2_HEADER, _replace(V2_BODY, 2, v2("00:0a:00:02")), FIRST + 2, "unparsable timecode"),
    "short timecode": (V2_HEADER, _replace(V2_BODY, 4, v2("00:00:04")), FIRST + 4, "unparsable timecode"),
    "FF out of range": (V2_HEADER, _replace(V2_BODY, 3, v2("00:00:01:24")), FIRST + 3, "outside 0..23"),
    "integer frame in v2": (V2_HEADER, _replace(V2_BODY, 1, v2("17")), FIRST + 1, "unparsable timecode"),
    "v1 line in v2 file": (V2_HEADER, _replace(V2_BODY, 5, v1(5)), FIRST + 5, "columns"),
    "unknown version": (_replace(V1_HEADER, 3, "## Version:\tBeGaze 2.0.1"), BODY, 4, "unknown version"),
    "not begaze": (_replace(V1_HEADER, 3, "## Version:\tiView X 2.8"), BODY, 4, "unknown version"),
    "no version line": (V1_HEADER[:3] + V1_HEADER[4:], BODY, 33, "Version"),
    "garbage header line": (_replace(V1_HEADER, 12, "Subject: Rahul"), BODY, 13, "unrecognised header"),
    "no x column": (V1_HEADER[:-1] + [V1_HEADER[-1].replace("L POR X", "Q POR X")], BODY, 34, "no column"),
    "no samples": (V1_HEADER, [], FIRST, "no samples"),
    "header only": (V1_HEADER[:20], [], 20, "ends inside the header"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_malformed_files_raise_data_error_naming_file_and_line(tmp_path, case):
    header, body, line, fragment = ERROR_CASES[case]
    path = write(tmp_path, body, header)
    for compat in ("clean", "official"):
        with pytest.raises(DataError) as info:
            parse_begaze(path, compat=compat)
        err = info.value
        assert err.path == str(path) and err.line == line, (err.line, str(err))
        assert f"{path}:{line}: " in str(err) and fragment in str(err)


@pytest.mark.parametrize(
    "name, data, line",
    [
        ("empty", b"", 1),
        ("whitespace", b"\r\n\r\n  ", 1),
        ("binary", bytes(range(256)) * 4, 1),
        ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1),
        ("latin1 header", _text(V1_HEADER[:12] + ["## Subject:\tRen\xe9"] + V1_HEADER[13:], "latin-1"), 13),
        ("latin1 sample", _text(V1_HEADER + [v1(0), v1(1, event="Fixati\xf3n")], "latin-1"), FIRST + 1),
        ("nul in sample", _text(V1_HEADER + [v1(0, event="Fix\0tion"), v1(1)]), FIRST),
        ("lone CR", _text(V1_HEADER + [v1(0), v1(1), v1(2)]).replace(b"\t1\t\tFix", b"\t1\r\tFix"), FIRST + 1),
    ],
)
def test_garbage_bytes_raise_data_error(tmp_path, name, data, line):
    path = tmp_path / "g.txt"
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        read_begaze_samples(path)
    assert info.value.path == str(path) and info.value.line == line, str(info.value)


# ---------------------------------------------------------------------------------- fuzzing: DataError only


def _check_table(table: np.ndarray, compat: str) -> None:
    assert table.dtype == np.float32 and table.ndim == 2 and table.shape[1] == 3 and table.shape[0] >= 1
    assert np.isfinite(table).all()
    types = table[:, 2]
    assert set(np.unique(types)) <= ({0, 1, 2, 3} if compat == "official" else {0, 1, 2, 3, 4})
    normal = types != TRUNCATED
    assert (table[normal, :2] >= 0).all() and (table[normal, :2] <= 1).all()
    assert (table[types == UNTRACKED, :2] == 0).all()


def _sample_file() -> bytes:
    rng = random.Random(3)
    events = ["Fixation", "Saccade", "Blink", "-"]
    lines = [
        v1(f // 2, f"{rng.uniform(-300, 1600):.2f}", f"{rng.uniform(-300, 1200):.2f}", rng.choice(events))
        for f in range(40)
    ]
    return _text(V1_HEADER + lines)


SAMPLE = _sample_file()
SAMPLE_V2 = _text(V2_HEADER + [v2(f"00:00:00:{f:02d}", x="NaN" if f % 7 == 0 else "10.00") for f in range(24)])
def fuzz_settings(n: int) -> settings:
    """Seeded (derandomized) hypothesis settings; tmp_path is reused across examples, which is fine here."""
    return settings(
        max_examples=n, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


def _parse_or_data_error(path: Path) -> dict[str, np.ndarray]:
    """Each compat mode either raises DataError naming ``path:line`` (a line of the file, or the one after its end
    for 'no samples') or returns a table with the documented columns and values; returns the tables it got."""
    data = path.read_bytes()
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    tables = {}
    for compat in ("official", "clean"):
        try:
            table = parse_begaze(path, compat=compat)
        except DataError as err:
            assert err.path == str(path) and err.line is not None and 1 <= err.line <= n_lines + 1, str(err)
            assert str(err) == f"{path}:{err.line}: {err.reason}"
        else:
            _check_table(table, compat)
            tables[compat] = table
    return tables


@fuzz_settings(150)
@given(
    base=st.sampled_from([SAMPLE, SAMPLE_V2]),
    cut=st.integers(min_value=0, max_value=10**6),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=0, max_size=4)), max_size=4),
)
def test_fuzz_truncations_and_byte_edits_give_a_valid_table_or_data_error(tmp_path, base, cut, edits):
    data = bytearray(base[: len(base) - cut % len(base)] if cut % 3 else base)
    for pos, new in edits:  # overwrite a few bytes with random ones
        pos %= max(len(data), 1)
        data[pos : pos + len(new)] = new
    path = tmp_path / "fuzz.txt"
    path.write_bytes(bytes(data))
    _parse_or_data_error(path)


@fuzz_settings(60)
@given(prefix=st.sampled_from([b"", SAMPLE[:2000]]), garbage=st.binary(max_size=3000))
def test_fuzz_random_bytes_give_a_valid_table_or_data_error(tmp_path, prefix, garbage):
    path = tmp_path / "garbage.txt"
    path.write_bytes(prefix + garbage)
    _parse_or_data_error(path)


@fuzz_settings(60)
@given(
    lines=st.lists(
        st.tuples(
            st.one_of(st.integers(-2, 50), st.text("0123456789-.", max_size=5)),
            st.one_of(st.floats(width=64).map(repr), st.text("0123456789-.eEnaN", max_size=8)),
            st.sampled_from(["Fixation", "Saccade", "Blink", "-", "Other", ""]),
        ),
        min_size=0,
        max_size=20,
    )
)
def test_fuzz_field_values_give_a_valid_table_or_data_error(tmp_path, lines):
    body = [v1(f, x, x, e) for f, x, e in lines]
    _parse_or_data_error(write(tmp_path, body, name="fields.txt"))


@fuzz_settings(25)
@given(frac=st.floats(0.0, 1.0), name=st.sampled_from(GAZE_NAMES))
def test_fuzz_truncated_real_files(tmp_path, frac, name):
    """A real file cut anywhere: an error naming its line, or the official table of every frame before the last
    one read (the last frame's samples, or the last sample's digits, may be cut short)."""
    data = gaze_file(name).read_bytes()
    path = tmp_path / "cut.txt"
    path.write_bytes(data[: int(len(data) * frac)])
    tables = _parse_or_data_error(path)
    if "official" in tables:
        got, want = tables["official"], np.load(official_table_file(name))
        assert len(got) <= len(want) and np.array_equal(got[:-1], want[: len(got) - 1])


# ---------------------------------------------------------------------------------------------- find_gaze_file


def test_find_gaze_file(tmp_path):
    (tmp_path / "OP01-R02-TurkeySandwich.txt").write_text("x")
    (tmp_path / "P10-R02-TurkeySandwich-GazeData.txt").write_text("x")
    (tmp_path / "P1-R02-Turkey.csv").write_text("x")
    (tmp_path / "P10-R02-TurkeySandwichXL.txt").write_text("x")  # another session name, never a match
    assert find_gaze_file(tmp_path, "OP01-R02-TurkeySandwich") == tmp_path / "OP01-R02-TurkeySandwich.txt"
    assert find_gaze_file(tmp_path, "P10-R02-TurkeySandwich") == tmp_path / "P10-R02-TurkeySandwich-GazeData.txt"
    assert find_gaze_file(tmp_path, "P1-R02-Turkey") is None
    assert find_gaze_file(tmp_path, "OP01-R02-Turkey") is None
    (tmp_path / "P10-R02-TurkeySandwich.txt").write_text("x")
    with pytest.raises(DataError, match="several gaze files"):
        find_gaze_file(tmp_path, "P10-R02-TurkeySandwich")
    with pytest.raises(DataError, match="not found"):
        find_gaze_file(tmp_path / "nope", "P10-R02-TurkeySandwich")
