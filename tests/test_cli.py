"""CLI commands called in-process, as functions main(argv) -> int."""

from __future__ import annotations

import json
import shutil

import pytest

from gazeattn.cli import COMMANDS, main
from gazeattn.cli.bench import BENCHMARKS
from gazeattn.synth import SynthConfig, write_synthetic_egtea


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "egtea"
    write_synthetic_egtea(root, SynthConfig(sessions=2, clips_per_session=4, seed=1, width=64, height=48))
    return root


def test_top_level_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(name, capsys):
    argv = [name, "--help"]
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 0
    assert "usage" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_has_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", name, "--help"])
    assert info.value.code == 0


def test_check_json_on_a_synthetic_world(world, capsys):
    assert main(["check", str(world), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["n_actions"] >= 2
    assert report["subsets"]["train"]["n_clips"] + report["subsets"]["test"]["n_clips"] == 8
    assert report["sessions"] == 2 and report["sessions_without_gaze"] == []


def test_check_reports_what_is_missing(world, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(world, copy)
    session_dirs = sorted((copy / "cropped_clips").iterdir())
    victim = sorted(session_dirs[0].glob("*.mp4"))[0]
    victim.unlink()
    gaze = sorted((copy / "gaze_data").glob("*.txt"))[0]
    gaze.unlink()
    assert main(["check", str(copy), "--json", "--strict"]) == 1
    report = json.loads(capsys.readouterr().out)
    missing = report["subsets"]["train"]["missing_media"] + report["subsets"]["test"]["missing_media"]
    assert victim.stem in missing
    assert report["sessions_without_gaze"] == [gaze.stem]
    assert main(["check", str(copy)]) == 1  # a split clip without its video stops training: a failure
    captured = capsys.readouterr()
    assert "without a gaze file: 1" in captured.out and "problems found" in captured.out
    assert captured.err == f"gazeattn check: {copy}: problems found that stop training (see the report)\n"


def test_check_passes_sessions_without_gaze_unless_strict(world, tmp_path, capsys):
    """Training runs on them (their frames untracked, masked out of the gaze loss): reported, exit 0; --strict: 1."""
    copy = tmp_path / "copy"
    shutil.copytree(world, copy)
    sorted((copy / "gaze_data").glob("*.txt"))[0].unlink()
    assert main(["check", str(copy)]) == 0
    captured = capsys.readouterr()
    assert "without a gaze file: 1" in captured.out and captured.err == ""
    assert main(["check", str(copy), "--strict"]) == 1
    assert capsys.readouterr().err == f"gazeattn check: {copy}: problems found (see the report)\n"


def test_check_names_a_bad_split_line(world, tmp_path, capsys):
    copy = tmp_path / "bad"
    shutil.copytree(world, copy)
    split = copy / "action_annotation" / "train_split1.txt"
    lines = split.read_text().splitlines()
    lines[1] = lines[1].split()[0] + " 999 1 1"
    split.write_text("\n".join(lines) + "\n")
    assert main(["check", str(copy), "--strict"]) == 1
    assert f"{split}:2: action label 999 out of range" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_small_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--steps", "3", "--sessions", "3", "--clips-per-session", "6",
            "--seeds", "0", "1", "--jobs", "1", "--cells", "direct", "gumbel", "i3d"]
    assert main(argv) == 0
    text = (out / "report.md").read_text()
    for cell in ("direct", "gumbel", "i3d"):
        assert f"| `{cell}` |" in text
        for seed in (0, 1):
            result = json.loads((out / "study" / "runs" / "demo" / cell / f"s{seed}" / "eval.json").read_text())
            assert 0 <= result["mean_class_accuracy"] <= 100
            if cell != "i3d":  # both gaze cells use the same head
                assert result["study"]["config"]["model"]["attention"] == "glimpse"
    assert "beats i3d" in text or "trails i3d" in text or "includes 0" in text
    assert (out / "overlays" / "direct.png").is_file() and (out / "overlays" / "measured_gaze.png").is_file()
    printed = capsys.readouterr().out
    assert "direct" in printed and "report:" in printed
    # the conclusions printed are the run's own sentences: direct and gumbel each against i3d, then one another
    conclusions = printed.split("Conclusions (from this run's 95 % intervals):", 1)[1]
    assert "direct [gaze-direct]" in conclusions and "gumbel [gaze-gumbel]" in conclusions
    assert "direct [gaze-direct] vs gumbel [gaze-gumbel]" in conclusions or \
        "direct [gaze-direct] beats gumbel" in conclusions or "direct [gaze-direct] trails gumbel" in conclusions
    assert "Floats computed with: " in printed and "ATen" in printed
    # a rerun reuses the worlds and the finished runs
    assert main(argv) == 0
    assert "report:" in capsys.readouterr().out
    assert all(r["status"] == "reused" for r in json.loads((out / "study" / "study.json").read_text())["runs"])
