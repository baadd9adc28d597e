"""The BeGaze reader reads files in blocks: the result never depends on where blocks end, memory does not grow
with the file, and the messages added with it (folders, old Mac line ends, over-long lines, a frame counter that
goes backwards). The property tests in test_data_begaze_fuzz.py also draw tiny block sizes for every generated file.
"""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest

from gazeattn.cli import main
from gazeattn.data import begaze
from gazeattn.data.begaze import MAX_LINE_BYTES, parse_begaze, read_begaze_samples, read_begaze_table
from gazeattn.utils.errors import DataError
from realdata import GAZE_NAMES, gaze_file, official_table_file
from test_data_begaze import FIRST, V1_HEADER, V2_HEADER, v1, v2

COMPATS = ("clean", "official")


def write(tmp_path, data: bytes, name: str = "s.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def text(lines: list[str], newline: str = "\r\n") -> bytes:
    return (newline.join(lines) + newline).encode()


def error(path, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        parse_begaze(path, **kw)
    return info.value


# ------------------------------------------------------------------------------------- block independence


@pytest.mark.parametrize("name", GAZE_NAMES)
def test_real_files_give_the_same_table_and_samples_for_any_block_size(name):
    path = gaze_file(name)
    official = np.load(official_table_file(name))
    whole = {c: parse_begaze(path, compat=c, chunk_bytes=1 << 26) for c in COMPATS}  # one block
    assert np.array_equal(whole["official"], official)
    samples = read_begaze_samples(path, chunk_bytes=1 << 26)
    for chunk in (4093, 1 << 16, begaze.CHUNK_BYTES):
        for compat in COMPATS:
            assert np.array_equal(parse_begaze(path, compat=compat, chunk_bytes=chunk), whole[compat]), (chunk, compat)
        s = read_begaze_samples(path, chunk_bytes=chunk)
        for field in ("time_us", "x_px", "y_px", "frame", "event", "line"):
            assert np.array_equal(getattr(s, field), getattr(samples, field), equal_nan=field.endswith("px")), field
        assert s.version == samples.version
    info = read_begaze_table(path, compat="official", chunk_bytes=4093)
    assert info.version == samples.version and info.n_samples == len(samples) and info.compat == "official"


def _small_file(newline: str) -> bytes:
    body = [v1(0, " 1.25 ", "2.00"), v1(0, "-0.00", "3.5", "Saccade"), v1(1, "NaN", "7"), v1(3, "1e3", "9.75", "-"),
            v1(2, "1279.99", "959.99", "Blink"), v1(2, "+12.5", "4", " Fixation "), v1(5, "5000", "1", "Saccade")]
    return b"\xef\xbb\xbf" + text(V1_HEADER + body, newline) + newline.encode() * 3  # BOM, trailing blank lines


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_every_block_boundary_gives_the_same_table(tmp_path, newline):
    """Block sizes 1..150 cut the BOM, the header, CRLF pairs, fields and the trailing blank lines everywhere."""
    data = _small_file(newline)
    for variant, raw in (("full", data), ("no final newline", data.rstrip(b"\r\n"))):
        path = write(tmp_path, raw)
        want = {c: parse_begaze(path, compat=c) for c in COMPATS}
        assert want["clean"].shape == (6, 3)
        for chunk in range(1, 151):
            compat = COMPATS[chunk % 2]
            assert np.array_equal(parse_begaze(path, compat=compat, chunk_bytes=chunk), want[compat]), (variant, chunk)


def test_v2_timecodes_across_block_boundaries(tmp_path):
    body = [v2(f"00:00:{s:02d}:{f:02d}", x="NaN" if f == 5 else f"{10 * f}.5")
            for s in range(3) for f in range(0, 24, 5)]
    body[4] = body[4].replace("\t00:00:00:20\t", "\t 0:00:00:20 \t")  # read by the slow path
    path = write(tmp_path, text(V2_HEADER + body))
    want = {c: parse_begaze(path, compat=c) for c in COMPATS}
    assert want["clean"].shape == (2 * 24 + 21, 3) and want["clean"][20, 2] == 1  # the spaced timecode
    for chunk in (1, 13, 97, 211, 500):
        for compat in COMPATS:
            assert np.array_equal(parse_begaze(path, compat=compat, chunk_bytes=chunk), want[compat])


# One file, several errors on different lines: the error reported is the first in the order of the checks
# (bytes, line ends, column counts, then column by column: Type, Time, x, y, Frame, Event), as a single pass
# over the whole file reports it, whichever block each bad line falls in.
def _body(n: int = 60) -> list[str]:
    return [v1(f, f"{f}.5", "2.00") for f in range(n)]


def _with(edits: dict[int, str]) -> bytes:
    body = _body()
    for i, line in edits.items():
        body[i] = line
    return text(V1_HEADER + body)


ORDER_CASES = {
    # name: (edits by body index, expected line, message fragment)
    "byte after column error": ({5: "1\t2", 50: v1(50, event="Fix\x01")}, FIRST + 50, "byte 0x01"),
    "lone CR after blank line": ({5: "", 40: v1(40).replace("\tSMP", "\rSMP")}, FIRST + 40, "carriage return"),
    "time after x": ({3: v1(3, x="1.2.3"), 55: v1(55, t="12a4")}, FIRST + 55, "column 'Time'"),
    "x width after y": ({4: v1(4, y="7" * 70), 30: v1(30, x="9" * 70)}, FIRST + 30, "'L POR X [px]': field longer"),
    "columns after frame": ({2: v1(-3), 58: "x\ty"}, FIRST + 58, "tab-separated columns"),
    "blank lines then samples": ({20: "", 21: "", 45: v1(45, t="x")}, FIRST + 20, "got 1"),
    "sample type before event": ({1: v1(1, event=""), 59: v1(59).replace("SMP", "MSG")}, FIRST + 59, "sample type"),
    "first of two of a kind": ({10: v1(10, x="abc"), 50: v1(50, x="def")}, FIRST + 10, "'abc'"),
}


@pytest.mark.parametrize("case", sorted(ORDER_CASES))
def test_the_first_error_in_check_order_wins_whatever_the_blocks(tmp_path, case):
    edits, line, fragment = ORDER_CASES[case]
    path = write(tmp_path, _with(edits))
    messages = set()
    for chunk in (1, 50, 64, 333, 4096, None):
        kw = {} if chunk is None else {"chunk_bytes": chunk}
        for compat in COMPATS:
            err = error(path, compat=compat, **kw)
            assert err.line == line and fragment in str(err), (chunk, str(err))
            messages.add(str(err))
    assert len(messages) == 1


def test_blank_lines_are_errors_before_samples_and_dropped_at_the_end(tmp_path):
    lines = V1_HEADER + [v1(0)] + [""] * 40 + [v1(1)]
    for chunk in (1, 7, 100, None):
        kw = {} if chunk is None else {"chunk_bytes": chunk}
        err = error(write(tmp_path, text(lines)), **kw)
        assert err.line == FIRST + 1 and "got 1" in str(err)
        table = parse_begaze(write(tmp_path, text(V1_HEADER + [v1(0), v1(1)] + [""] * 40)), **kw)
        assert table.shape == (2, 3)
        assert error(write(tmp_path, text(V1_HEADER + [""] * 40)), **kw).line == FIRST  # no samples


# ------------------------------------------------------------------------------------------------- memory


def _peak_bytes(path, compat: str) -> int:
    tracemalloc.start()
    try:
        parse_begaze(path, compat=compat)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("compat", COMPATS)
def test_memory_does_not_grow_with_the_file(tmp_path, compat, caplog):
    """A session's samples repeated 15 times (12.6 MB) need the memory of 3 repetitions (2.5 MB): the table,
    per-frame sums and one read buffer (holding the whole file would cost about 9 bytes per byte of file)."""
    rng = np.random.default_rng(0)
    body = "".join(f"{1000 + i}\tSMP\t1\t{x:.2f}\t{y:.2f}\t{i * 24 // 30}\t\t{'Fixation' if i % 5 else 'Saccade'}\r\n"
                   for i, (x, y) in enumerate(rng.uniform(0, 1300, size=(20_000, 2)))).encode()
    header = text(V1_HEADER)
    three = write(tmp_path, header + body * 3, "three.txt")
    fifteen = write(tmp_path, header + body * 15, "fifteen.txt")
    small, big = _peak_bytes(three, compat), _peak_bytes(fifteen, compat)
    assert big - small < 1e6 and big < 12e6, (small, big)  # a whole-file reader: about 110 MB more
    # the counter restarts after each repetition: one warning per file, naming it and the first line going back
    warned = [r.getMessage().split(": ")[0] for r in caplog.records if "goes backwards" in r.getMessage()]
    assert warned == [f"{three}:{FIRST + 20_000}", f"{fifteen}:{FIRST + 20_000}"]


# ------------------------------------------------------------------------------------------------ messages


def test_a_backwards_frame_counter_is_warned_about_once_naming_file_and_line(tmp_path, caplog):
    """Once per file and process: parsing the same file again (a second dataset, an evaluation) says nothing."""
    body = text(V1_HEADER + [v1(0), v1(1), v1(1), v1(5), v1(2), v1(7), v1(0)])
    for chunk in (1, 100, None):
        path = write(tmp_path, body, f"chunk{chunk}.txt")
        kwargs = {} if chunk is None else {"chunk_bytes": chunk}
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gazeattn.data.begaze"):
            parse_begaze(path, **kwargs)
            parse_begaze(path, **kwargs)
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"{path}:{FIRST + 4}: the frame counter goes backwards (frame 2 after frame 5)")
    caplog.clear()
    parse_begaze(write(tmp_path, text(V1_HEADER + [v1(0), v1(0), v1(2), v1(2), v1(3)]), "sorted.txt"))
    assert not caplog.records  # several samples per frame are normal


@pytest.mark.parametrize("size", ["small", "over 1 MiB"])
def test_old_mac_line_ends_are_named(tmp_path, size):
    """CR-only line ends are named as such (not as 'control characters in the header (binary file?)')."""
    body = [v1(f % 24000, "100.00", "200.00") for f in range(3 if size == "small" else 25_000)]
    path = write(tmp_path, text(V1_HEADER + body, "\r"))
    for compat in COMPATS:
        err = error(path, compat=compat)
        assert err.line == 1 and "carriage returns without line feeds (old Mac line ends)" in str(err)
        assert "re-save the file with LF or CRLF line ends" in str(err)
    path = write(tmp_path, text(V1_HEADER[:3], "\r\n") + text(V1_HEADER[3:], "\r"))  # only later lines
    assert error(path).line == 4 and "old Mac line ends" in str(error(path))
    binary = write(tmp_path, text(V1_HEADER[:2]) + b"## x\r\x00\x01\r\n", "binary.txt")  # not just CRs: binary
    assert "control characters in the header (binary file?)" in str(error(binary))


def test_a_folder_or_a_missing_file_is_named_as_such(tmp_path, capsys):
    """A folder given as a gaze file is a DataError saying so (not 'no such file', not IsADirectoryError); a missing
    file is 'no such file'."""
    folder = tmp_path / "P10-R02-TurkeySandwich.txt"
    folder.mkdir()
    for fn in (parse_begaze, read_begaze_samples, read_begaze_table):
        with pytest.raises(DataError, match="is a folder, not a gaze file"):
            fn(folder)
        with pytest.raises(DataError, match="no such file") as info:
            fn(tmp_path / "missing.txt")
        assert info.value.path == str(tmp_path / "missing.txt")
    assert main(["gaze", "parse", str(folder), "--out", str(tmp_path / "x.npy")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"gazeattn gaze parse: error: {folder}: is a folder, not a gaze file " \
                          "(give the SMI BeGaze export <session>.txt)"
    assert main(["gaze", "parse", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x.npy")]) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


def test_lines_up_to_the_limit_are_read_and_longer_ones_named(tmp_path):
    """Memory is bounded by refusing lines over MAX_LINE_BYTES (real lines are under 300 bytes). The unused Aux1
    column may hold anything, so a line of exactly the limit is still a valid sample."""
    def line(n: int) -> str:
        base = v1(1)
        return base.replace("\t\t", "\t" + " " * (n - len(base)) + "\t")
    assert len(line(MAX_LINE_BYTES)) == MAX_LINE_BYTES
    ok = write(tmp_path, text(V1_HEADER + [v1(0), line(MAX_LINE_BYTES), v1(2)]), "ok.txt")
    bad = write(tmp_path, text(V1_HEADER + [v1(0), line(MAX_LINE_BYTES + 1), v1(2, event="")]), "bad.txt")
    head = write(tmp_path, text(V1_HEADER[:5] + ["## " + "x" * MAX_LINE_BYTES] + V1_HEADER[5:] + [v1(0)]), "head.txt")
    for chunk in (1 << 16, None):
        kw = {} if chunk is None else {"chunk_bytes": chunk}
        assert parse_begaze(ok, **kw).shape == (3, 3)
        err = error(bad, **kw)  # reported before the empty event of a later line
        assert err.line == FIRST + 1 and f"line longer than {MAX_LINE_BYTES} bytes" in str(err)
        assert error(head, **kw).line == 6
