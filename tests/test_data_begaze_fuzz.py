"""Property tests of the BeGaze reader against a slow line-by-line reference of its documented semantics.

For every generated file (v1 and v2, NaN / inf / huge / negative coordinates, unknown event names), and for
every truncation, field edit, column-count error, wrong encoding or arbitrary bytes made from one: either both
readers reject it and the fast one raises DataError naming the file and one of the lines that are actually bad,
or both accept it and the tables agree bit for bit in both compat modes. Never a crash, never a silent wrong
table. The fast reader reads files in blocks: each check also runs with a drawn tiny block size, so lines, CRLF
pairs, fields and the UTF-8 byte-order mark are cut at every place, and the table or the error (message and
line) must be the same as with the default size. (tests/test_data_begaze.py holds the example-based tests and the
real-file comparisons; tests/test_data_begaze_stream.py the block-reading ones.)
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazeattn.data.begaze import MAX_FRAME, TRUNCATED, UNTRACKED, parse_begaze
from gazeattn.utils.errors import DataError
from test_data_begaze import V1_HEADER, V2_HEADER

W, H = 1280, 960
EVENT_CODES = {"Fixation": 1, "Saccade": 2, "Blink": 3, "-": 4}
EVENT_TYPE = {1: 1, 2: 2, 3: 3, 4: 3, 5: 3}  # event code -> table type
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


# -------------------------------------------------------------------------------------------- the reference


class Reject(Exception):
    def __init__(self, lines: set[int]):
        self.lines = lines


def _header_bytes(version: int, newline: str = "\r\n") -> bytes:
    return (newline.join(V1_HEADER if version == 1 else V2_HEADER) + newline).encode()


_TC = re.compile(rb"^(\d+):(\d\d):(\d\d):(\d\d)$")


def reference_samples(data: bytes, version_header: int) -> list[tuple[float, float, int, int]]:
    """(x, y, frame, event code) per sample of a file made of our header + a body, by the documented rules;
    raises Reject with every bad body line (1-based file lines). A UTF-8 byte-order mark is skipped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    header = next((h for h in (_header_bytes(version_header, nl) for nl in ("\r\n", "\n")) if data.startswith(h)),
                  _header_bytes(version_header))
    first = header.count(b"\n") + 1
    if len(data) <= len(header) or not data.startswith(header):
        raise Reject(set(range(1, first + 1)))
    cols = [c.strip() for c in header.decode().splitlines()[-1].split("\t")]
    i_type, i_time, i_frame = cols.index("Type"), cols.index("Time"), cols.index("Frame")
    i_x = cols.index("B POR X [px]") if "B POR X [px]" in cols else cols.index("L POR X [px]")
    i_y, i_event = i_x + 1, len(cols) - 1
    raw = data[len(header):].split(b"\n")
    if raw[-1] == b"":
        raw.pop()
    bad: set[int] = set()
    lines = []
    for k, line in enumerate(raw):
        if any(not (32 <= c < 127 or c in (9, 13)) for c in line) or b"\r" in line[:-1]:
            bad.add(first + k)
        if line.endswith(b"\r") and (k < len(raw) - 1 or data.endswith(b"\n")):
            line = line[:-1]
        elif line.endswith(b"\r"):  # a final CR without its LF
            bad.add(first + k)
        lines.append(line)
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise Reject({first})
    version = None
    out = []
    for k, line in enumerate(lines):
        no = first + k
        fields = line.split(b"\t")
        if len(fields) != len(cols):
            bad.add(no)
            continue
        if version is None:
            version = 2 if b":" in fields[i_frame] else 1
        try:
            if fields[i_type].strip() != b"SMP":
                raise ValueError
            if not -2**63 <= int(fields[i_time]) < 2**63:
                raise ValueError
            x, y = float(fields[i_x]), float(fields[i_y])
            if version == 1:
                frame = int(fields[i_frame])
            else:
                m = _TC.match(fields[i_frame].strip())
                if m is None:
                    raise ValueError
                h, mi, s, f = (int(g) for g in m.groups())
                if mi >= 60 or s >= 60 or f >= 24 or h > 99999:
                    raise ValueError
                frame = (h * 3600 + mi * 60 + s) * 24 + f
            if not 0 <= frame <= MAX_FRAME:
                raise ValueError
            name = fields[i_event].strip().decode()
            if not name:
                raise ValueError
            if any(len(fields[i]) > 64 for i in (i_type, i_time, i_x, i_y, i_frame, i_event)):
                raise ValueError
        except ValueError:
            bad.add(no)
            continue
        out.append((x, y, frame, EVENT_CODES.get(name, 5)))
    if bad:
        raise Reject(bad)
    return out


def reference_official(samples) -> np.ndarray:
    f32 = np.float32
    table = np.zeros((max(s[2] for s in samples) + 1, 3), np.float32)
    by_frame: dict[int, list] = {}
    for s in samples:
        by_frame.setdefault(s[2], []).append(s)
    with np.errstate(all="ignore"):
        for frame, group in by_frame.items():
            ax, ay = f32(group[0][0]), f32(group[0][1])
            for x, y, _, _ in group[1:]:
                ax, ay = (ax + f32(x)) / f32(2), (ay + f32(y)) / f32(2)
            ax = f32(0) if np.isnan(ax) else min(max(ax, f32(0)), f32(W - 1))
            ay = f32(0) if np.isnan(ay) else min(max(ay, f32(0)), f32(H - 1))
            table[frame] = (f32(ax) / f32(W), f32(ay) / f32(H), EVENT_TYPE[group[-1][3]])
    return table


def reference_clean(samples) -> np.ndarray:
    f32 = np.float32
    table = np.zeros((max(s[2] for s in samples) + 1, 3), np.float32)
    by_frame: dict[int, list] = {}
    for s in samples:
        by_frame.setdefault(s[2], []).append(s)
    for frame, group in by_frame.items():
        valid = [s for s in group if np.isfinite(s[0]) and np.isfinite(s[1]) and abs(s[0]) < 1e6 and abs(s[1]) < 1e6]
        inside = [s for s in valid if 0 <= s[0] < W and 0 <= s[1] < H]
        use = inside or valid
        if not use:
            continue  # untracked: (0, 0, 0)
        mx = sum(s[0] for s in use) / len(use)
        my = sum(s[1] for s in use) / len(use)
        if inside:
            votes = [sum(EVENT_TYPE[s[3]] == t for s in inside) for t in (1, 2, 3)]
            kind = max((3, 2, 1), key=lambda t: votes[t - 1])  # ties go to the less stable type
        else:
            kind = TRUNCATED
        table[frame] = (f32(mx) / f32(W), f32(my) / f32(H), kind)
    return table


# ------------------------------------------------------------------------------------------------ generators

_COORD = st.one_of(
    st.floats(-300, 1600).map(lambda v: f"{v:.2f}"),
    st.sampled_from(["NaN", "nan", "inf", "-inf", "1e300", "-1e300", "1e7", "999999.99", "1000000", "-0.00",
                     "1279.99", "1280", "959.99", "960", "0", "1e-320", "+12.5", " 7.25 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_EVENT = st.sampled_from(["Fixation", "Saccade", "Blink", "-", "Unknown", "fixation", "Fix ation", " Saccade "])


def _timecode(frame: int) -> str:
    s, f = divmod(frame, 24)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"


def _line(version: int, t: int, x: str, y: str, frame: int, event: str) -> str:
    if version == 1:
        return f"{t}\tSMP\t1\t{x}\t{y}\t{frame}\t\t{event}"
    mid = "\t".join(["0.00"] * 4 + ["-"] + ["0.00"] * 12)
    return f"{t}\tSMP\t1\t4.00\t4.00\t{x}\t{y}\t{mid}\t{_timecode(frame)}\t\t{event}"


@st.composite
def begaze_files(draw) -> tuple[int, list[str]]:
    version = draw(st.sampled_from([1, 2]))
    rows = draw(st.lists(st.tuples(st.integers(0, 40) | st.integers(86_000, 90_000), _COORD, _COORD, _EVENT),
                         min_size=1, max_size=25))
    if draw(st.booleans()):  # real files are sorted by frame; the reader must not depend on it
        rows.sort(key=lambda r: r[0])
    body = [_line(version, 1_000_000 + 33_333 * i, x, y, f, e) for i, (f, x, y, e) in enumerate(rows)]
    return version, body


def _file(version: int, body: list[str], newline: str = "\r\n") -> bytes:
    header = V1_HEADER if version == 1 else V2_HEADER
    return (newline.join(header + body) + newline).encode()


CHUNKS = st.integers(1, 97)  # block sizes for the fast reader: tiny, so every file is cut in many places


def agree(tmp_path: Path, data: bytes, version: int, chunk: int | None = None) -> str:
    """Check the fast reader against the reference on ``data``; returns "accepted" or "rejected". With
    ``chunk``, the reader must also give the same table or the same error when it reads blocks of that size."""
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    chunks = [None] if chunk is None else [None, chunk]

    def parse(compat: str, size: int | None) -> np.ndarray:
        return parse_begaze(path, compat=compat) if size is None else parse_begaze(path, compat=compat,
                                                                                    chunk_bytes=size)
    try:
        samples = reference_samples(data, version)
    except Reject as rej:
        for compat in ("clean", "official"):
            messages = set()
            for size in chunks:
                with pytest.raises(DataError) as info:
                    parse(compat, size)
                err = info.value
                assert err.path == str(path) and err.line in rej.lines, (str(err), sorted(rej.lines)[:5])
                assert str(err).startswith(f"{path}:{err.line}: ")
                messages.add(str(err))
            assert len(messages) == 1, (chunk, messages)  # the same first error whatever the block size
        return "rejected"
    for compat, reference in (("official", reference_official), ("clean", reference_clean)):
        table = parse(compat, chunk)
        assert chunk is None or np.array_equal(table, parse(compat, None))
        want = reference(samples)
        assert table.dtype == np.float32 and table.shape == want.shape
        assert np.array_equal(table, want), (compat, np.argwhere(table != want)[:3])
        assert np.isfinite(table).all()
        if compat == "clean":
            types = table[:, 2]
            assert ((table[types != TRUNCATED, :2] >= 0) & (table[types != TRUNCATED, :2] <= 1)).all()
            assert (table[types == UNTRACKED, :2] == 0).all()
    return "accepted"


# ------------------------------------------------------------------------------------------------- properties


@settings(max_examples=150, **SETTINGS)
@given(case=begaze_files(), lf=st.booleans(), chunk=CHUNKS, bom=st.booleans())
def test_valid_files_give_exactly_the_documented_table(tmp_path, case, lf, chunk, bom):
    version, body = case
    data = (b"\xef\xbb\xbf" if bom else b"") + _file(version, body, "\n" if lf else "\r\n")
    assert agree(tmp_path, data, version, chunk) == "accepted"


@settings(max_examples=120, **SETTINGS)
@given(case=begaze_files(), data=st.data(), chunk=CHUNKS)
def test_truncated_files_are_rejected_or_give_the_table_of_what_remains(tmp_path, case, data, chunk):
    version, body = case
    raw = _file(version, body)
    cut = data.draw(st.integers(0, len(raw)))
    agree(tmp_path, raw[:cut], version, chunk)


_FIELD_TEXT = st.text(alphabet="0123456789.-+eEnaNifty :_\t", max_size=8)


@settings(max_examples=150, **SETTINGS)
@given(case=begaze_files(), data=st.data(), chunk=CHUNKS)
def test_edited_fields_are_rejected_on_their_line_or_parsed_like_python(tmp_path, case, data, chunk):
    version, body = case
    for _ in range(data.draw(st.integers(1, 3))):  # several edits: the first error in check order must win
        k = data.draw(st.integers(0, len(body) - 1))
        fields = body[k].split("\t")
        j = data.draw(st.integers(0, len(fields) - 1))
        fields[j] = data.draw(_FIELD_TEXT)
        body = body[:k] + ["\t".join(fields)] + body[k + 1:]
    agree(tmp_path, _file(version, body), version, chunk)


@settings(max_examples=100, **SETTINGS)
@given(case=begaze_files(), data=st.data(), chunk=CHUNKS)
def test_damaged_lines_anywhere_give_the_same_error_for_every_block_size(tmp_path, case, data, chunk):
    """Several kinds of damage on different lines (a bad byte, a lone CR, blank lines, a wrong column count, an
    unparsable field): the error must be the first in check order, as a whole-file pass finds it."""
    version, body = case
    body = list(body)
    damages = [
        lambda line: line.replace("SMP", "SMP\x01", 1),  # a control byte
        lambda line: line.replace("\tSMP", "\rSMP", 1),  # a lone CR
        lambda line: "",  # a blank line (an error unless it is trailing)
        lambda line: line + "\textra",  # a column too many
        lambda line: line.replace("\tSMP\t1\t", "\tSMP\t1\t7e", 1),  # an unparsable coordinate (v1: x)
        lambda line: line.rsplit("\t", 1)[0] + "\t",  # an empty event
    ]
    for _ in range(data.draw(st.integers(1, 3))):
        k = data.draw(st.integers(0, len(body) - 1))
        body[k] = data.draw(st.sampled_from(damages))(body[k])
    body += [""] * data.draw(st.integers(0, 3))  # trailing blank lines are dropped
    agree(tmp_path, _file(version, body), version, chunk)


@settings(max_examples=60, **SETTINGS)
@given(case=begaze_files(), data=st.data())
def test_wrong_column_count_names_its_line(tmp_path, case, data):
    version, body = case
    k = data.draw(st.integers(0, len(body) - 1))
    fields = body[k].split("\t")
    if data.draw(st.booleans()):
        fields.insert(data.draw(st.integers(0, len(fields))), data.draw(st.sampled_from(["", "1.00", "x"])))
    else:
        del fields[data.draw(st.integers(0, len(fields) - 1))]
    body[k] = "\t".join(fields)
    path = tmp_path / "cols.txt"
    path.write_bytes(_file(version, body))
    line = len(V1_HEADER) + 1 + k
    for compat in ("clean", "official"):
        with pytest.raises(DataError, match=r"tab-separated columns as in the header, got \d+") as info:
            parse_begaze(path, compat=compat)
        assert info.value.line == line and info.value.path == str(path)


@settings(max_examples=40, **SETTINGS)
@given(case=begaze_files(), data=st.data(), char=st.sampled_from(["é", "ó", "ü", "\u00a0", "°"]))
def test_latin1_text_names_the_line_of_the_first_non_ascii_byte(tmp_path, case, data, char):
    version, body = case
    k = data.draw(st.integers(0, len(body) - 1))
    body[k] = body[k].replace("\tSMP\t1\t", f"\tSMP\t1{char}\t", 1)
    path = tmp_path / "latin1.txt"
    path.write_bytes(("\r\n".join((V1_HEADER if version == 1 else V2_HEADER) + body) + "\r\n").encode("latin-1"))
    with pytest.raises(DataError, match="not ASCII text") as info:
        parse_begaze(path)
    assert info.value.line == len(V1_HEADER) + 1 + k


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_text_is_named_as_such_on_line_1(tmp_path, encoding):
    """Wide text, UTF-16-LE without a byte-order mark included, is named as such (not as control characters)."""
    path = tmp_path / "wide.txt"
    path.write_bytes(("\r\n".join(V1_HEADER + [_line(1, 1, "1.00", "2.00", 0, "Fixation")]) + "\r\n").encode(encoding))
    for compat in ("clean", "official"):
        with pytest.raises(DataError, match="UTF-16 or UTF-32 text, not the ASCII of an SMI BeGaze export") as info:
            parse_begaze(path, compat=compat)
        assert info.value.line == 1 and info.value.path == str(path)


def test_utf8_byte_order_mark_is_tolerated(tmp_path):
    plain = _file(1, [_line(1, 1, "1.00", "2.00", 0, "Fixation"), _line(1, 2, "3.00", "4.00", 2, "Saccade")])
    (tmp_path / "plain.txt").write_bytes(plain)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + plain)
    for compat in ("clean", "official"):
        assert np.array_equal(parse_begaze(tmp_path / "bom.txt", compat=compat),
                              parse_begaze(tmp_path / "plain.txt", compat=compat))


def test_huge_values_parse_without_numpy_warnings(tmp_path):
    """|px| > 3.4e38 (beyond float32) gives finite tables and no 'RuntimeWarning: overflow encountered in cast'."""
    path = tmp_path / "huge.txt"
    path.write_bytes(_file(1, [_line(1, 1, "1e300", "-1e300", 0, "Fixation"), _line(1, 2, "-1e300", "1e300", 0, "-")]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for compat in ("clean", "official"):
            assert np.isfinite(parse_begaze(path, compat=compat)).all()


@settings(max_examples=100, **SETTINGS)
@given(prefix=st.sampled_from([b"", _file(1, [])[:-2], _file(2, [])]), garbage=st.binary(max_size=400),
       chunk=CHUNKS)
def test_arbitrary_bytes_give_data_error_on_an_existing_line(tmp_path, prefix, garbage, chunk):
    data = prefix + garbage
    path = tmp_path / "bytes.txt"
    path.write_bytes(data)
    for compat in ("clean", "official"):
        try:
            table = parse_begaze(path, compat=compat)
        except DataError as err:
            n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
            assert err.path == str(path) and 1 <= err.line <= n_lines + 1, str(err)  # +1: "no samples" after the end
            with pytest.raises(DataError) as again:
                parse_begaze(path, compat=compat, chunk_bytes=chunk)
            assert str(again.value) == str(err)
        else:  # a few random bytes can form a valid file: then it must be the reference's table
            agree(tmp_path, data, 1 if b"L POR X" in data else 2, chunk)
            assert np.isfinite(table).all()


# ------------------------------------------------------------------------ documented values for odd numbers


@pytest.mark.parametrize(
    "x, clean, official",
    [
        ("NaN", (0.0, UNTRACKED), (0.0, 1)),  # clean: untracked; official: NaN poisons x to 0, type kept
        ("inf", (0.0, UNTRACKED), (np.float32(W - 1) / np.float32(W), 1)),  # official clamps +inf to 1279
        ("-inf", (0.0, UNTRACKED), (0.0, 1)),
        ("1e300", (0.0, UNTRACKED), (np.float32(W - 1) / np.float32(W), 1)),  # float32 overflow -> inf -> clamp
        ("1e7", (0.0, UNTRACKED), (np.float32(W - 1) / np.float32(W), 1)),  # |x| >= 1e6 px: a tracker failure
        ("5e5", (np.float32(5e5) / np.float32(W), TRUNCATED), (np.float32(W - 1) / np.float32(W), 1)),
        ("-3.5", (np.float32(-3.5) / np.float32(W), TRUNCATED), (0.0, 1)),
        ("1280", (1.0, TRUNCATED), (np.float32(W - 1) / np.float32(W), 1)),
        ("1279.99", (np.float32(1279.99) / np.float32(W), 1), (np.float32(W - 1) / np.float32(W), 1)),
    ],
)
def test_documented_values_for_nan_inf_and_huge_coordinates(tmp_path, x, clean, official):
    path = tmp_path / "odd.txt"
    path.write_bytes(_file(1, [_line(1, 1, x, "100.00", 0, "Fixation")]))
    c, o = parse_begaze(path, compat="clean"), parse_begaze(path, compat="official")
    assert (c[0, 0], c[0, 2]) == (np.float32(clean[0]), clean[1])
    assert (o[0, 0], o[0, 2]) == (np.float32(official[0]), official[1])
    assert np.isfinite(c).all() and np.isfinite(o).all()


def test_unknown_event_names_are_other(tmp_path):
    path = tmp_path / "events.txt"
    path.write_bytes(_file(1, [_line(1, i, "10.00", "10.00", i, e) for i, e in
                               enumerate(["Fixation", "fixation", "User Event", "Blink", "-", "?"])]))
    for compat in ("clean", "official"):
        assert parse_begaze(path, compat=compat)[:, 2].tolist() == [1, 3, 3, 3, 3, 3]
