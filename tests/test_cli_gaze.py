"""`gazeattn gaze parse` and `gazeattn bench gaze`, called in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gazeattn.cli import main
from gazeattn.data.begaze import parse_begaze
from realdata import gaze_file, official_table_file

P10 = "P10-R02-TurkeySandwich"
OP04 = "OP04-R06-GreekSalad"
COLUMNS = b"Time\tType\tL POR X [px]\tL POR Y [px]\tFrame\tL Event Info\r\n"  # a minimal v1 column header


@pytest.mark.parametrize("name", [P10, OP04])
def test_parse_official_npy_equals_fixture(tmp_path, capsys, name):
    out = tmp_path / "x.npy"
    rc = main(["gaze", "parse", str(gaze_file(name)), "--compat", "official", "--out", str(out)])
    assert rc == 0
    table = np.load(out)
    assert table.dtype == np.float32 and np.array_equal(table, np.load(official_table_file(name)))
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and f"{table.shape[0]} frames" in line and "official" in line
    assert ("v2" in line) == name.startswith("P") and "fixation" in line and "truncated 0.0%" in line
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]  # no temporary file left behind


def test_parse_clean_csv_round_trips(tmp_path, capsys):
    src = gaze_file(P10)
    out = tmp_path / "p10.csv"
    assert main(["gaze", "parse", str(src), "--out", str(out)]) == 0  # clean is the default
    assert out.read_text().splitlines()[0] == "frame,x,y,type"
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    want = parse_begaze(src, compat="clean")
    assert rows.shape == (want.shape[0], 4)
    assert np.array_equal(rows[:, 0], np.arange(want.shape[0]))
    assert np.array_equal(rows[:, 1:].astype(np.float32), want)  # %.9g round-trips float32 exactly
    assert "truncated" in capsys.readouterr().out


def test_help_exits_zero(capsys):
    for argv in (["gaze", "--help"], ["gaze", "parse", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--compat" in capsys.readouterr().out


def test_data_error_returns_1_and_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(
        b"## [BeGaze]\r\n## Version:\tBeGaze 3.1.77\r\n" + COLUMNS + b"1\tSMP\t1.0\t2.0\t0\tFixation\r\n"
        b"2\tSMP\tx\t2.0\t1\tFixation\r\n"
    )
    out = tmp_path / "o.npy"
    assert main(["gaze", "parse", str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:5:" in err and "unparsable number" in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.txt"]


def test_bad_output_suffix_and_missing_input(tmp_path, capsys):
    good = tmp_path / "g.txt"
    good.write_bytes(b"## Version:\tBeGaze 3.1.77\r\n" + COLUMNS + b"1\tSMP\t640.0\t480.0\t2\tFixation\r\n")
    assert main(["gaze", "parse", str(good), "--out", str(tmp_path / "o.txt")]) == 2
    assert main(["gaze", "parse", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o.npy")]) == 1
    assert main(["gaze", "parse", str(good), "--out", str(tmp_path / "no" / "o.npy")]) == 1
    assert main(["gaze", "parse", str(good), "--out", str(tmp_path / "o.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "o.npy"), [[0, 0, 0], [0, 0, 0], [0.5, 0.5, 1]])
    capsys.readouterr()


def test_benchmark_runs_and_reports_json(capsys, tmp_path):
    src = str(gaze_file(OP04))
    assert main(["bench", "gaze", "--repeat", "1", "--json", "--sizes", "0.6", "--tmp", str(tmp_path), src]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["results"]) == {"per-line python", "official", "clean"}
    assert all(r["mb_per_s"] > 0 for r in report["results"].values())
    assert report["bytes"] == Path(src).stat().st_size
    # generated files: OP04's samples twice (>= 0.6 MB), each parse in a fresh process reporting its peak memory
    rows = report["generated"]["rows"]
    assert [r["compat"] for r in rows] == ["official", "clean"] and report["generated"]["source"] == src
    n_frames = len(parse_begaze(src))
    for r in rows:
        assert r["bytes"] >= 0.6e6 and r["mb_per_s"] > 0 and r["frames"] == n_frames
        assert r["peak_rss_kb"] >= r["rss_before_kb"] >= 0 and r["peak_rss_kb"] > 0  # (before: 0 off Linux)
        assert 0 < r["parse_alloc_peak_bytes"] < 20e6
    assert list(tmp_path.iterdir()) == []  # the generated files are deleted


def test_benchmark_reads_the_real_gaze_files_the_repository_carries():
    """`bench gaze` without files reads <repo>/tests/data/egtea/gaze_data, so `make bench` works from any clone."""
    from gazeattn.benchmarks.gaze_parse import default_fixtures

    repo = Path(__file__).resolve().parents[1]
    assert default_fixtures().resolve() == (repo / "tests" / "data" / "egtea" / "gaze_data").resolve()
    assert sorted(p.suffix for p in default_fixtures().iterdir()) == [".txt"] * 4
