"""Every CLI command against hostile arguments and circumstances: values out of range, devices this torch cannot
use, ... Each must end with a clear outcome: a usage error (exit 2, ``gazeattn CMD: error: ...`` naming the option
and what is allowed) or one ``error:`` line, never a traceback. Commands run in-process through
``gazeattn.cli.main``."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gazeattn.cli import main
from tinyworld import SMALL, TRAIN_FLAGS, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("hostile_in") / "egtea", seed=5)


@pytest.fixture(scope="module")
def run(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile_in_run") / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", *SMALL]) == 0
    return out


@pytest.fixture
def cpu_only(monkeypatch):
    """This torch as a CPU-only build sees it (whatever the machine has)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def _usage_error(capsys, argv: list[str]) -> str:
    """Run ``argv``: exit 2 and a last stderr line ``gazeattn CMD: error: ...`` (argparse's usage line may come
    before it); no traceback. Returns that line."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    assert len(lines) == 1 and lines[0].startswith(f"gazeattn {argv[0]}: error: "), err
    return lines[0]


# -- eval's arguments and the device ----------------------------------------------------------------------------

@pytest.mark.parametrize("option, value, allowed", [
    ("--samples", "0", ">= 1"), ("--samples", "-4", ">= 1"), ("--seed", "99999999999999999999999", "0..4294967295"),
    ("--seed", "-1", "0..4294967295"), ("--batch", "0", ">= 1"), ("--workers", "-2", ">= 0"),
])
def test_eval_refuses_a_number_out_of_range_naming_the_option(run, capsys, option, value, allowed):
    line = _usage_error(capsys, ["eval", "--run", run, option, value])
    assert option in line and allowed in line and value in line, line


@pytest.mark.parametrize("option, value, allowed", [
    ("--top", "0", ">= 1"), ("--top", "-1", ">= 1"), ("--top", "x", ">= 1"), ("--batch-size", "0", ">= 1"),
])
def test_predict_refuses_a_number_out_of_range_naming_the_option(run, world, capsys, option, value, allowed):
    video = sorted((world / "cropped_clips").glob("*/*.mp4"))[0]
    line = _usage_error(capsys, ["predict", video, "--checkpoint", run, option, value])
    assert option in line and allowed in line and value in line, line


@pytest.mark.parametrize("value", ["-1", "4294967296", "99999999999999999999999"])
def test_train_refuses_a_seed_out_of_range_before_it_starts(tmp_path, capsys, value):
    line = _usage_error(capsys, ["train", "--out", tmp_path / "run", "--seed", value])
    assert line == f"gazeattn train: error: command line: run.seed must be in 0..4294967295, got {value}", line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device, said", [("cuda", "not available"), ("cuda:0", "not available"),
                                          ("mps", "not available"), ("gpu;rm", "not a device"),
                                          ("meta", "not a device")])
def test_eval_refuses_a_device_this_torch_cannot_use_naming_what_is_available(run, capsys, cpu_only, device, said):
    line = _usage_error(capsys, ["eval", "--run", run, "--device", device])
    assert "--device" in line and repr(device) in line and said in line, line
    assert ("auto, cpu" if said == "not available" else "cuda:N") in line, line


def test_train_refuses_a_device_this_torch_cannot_use(tmp_path, capsys, cpu_only):
    line = _usage_error(capsys, ["train", "--out", tmp_path / "run", "--set", "run.device=cuda"])
    assert line == ("gazeattn train: error: run.device: 'cuda' is not available here "
                    f"(torch {torch.__version__}): use one of auto, cpu"), line
    assert not (tmp_path / "run").exists()


def test_the_config_refuses_a_device_torch_cannot_parse(tmp_path, capsys):
    line = _usage_error(capsys, ["train", "--out", tmp_path / "run", "--set", "run.device=gpu;rm"])
    assert "run.device: 'gpu;rm' is not a device" in line, line


# -- train's config ---------------------------------------------------------------------------------------------

def test_train_refuses_a_checkpoint_period_of_zero_before_it_starts(tmp_path, capsys):
    line = _usage_error(capsys, ["train", "--out", tmp_path / "run", "--set", "run.checkpoint_every=0"])
    assert line == "gazeattn train: error: --set: run.checkpoint_every must be >= 1, got 0", line
    assert not (tmp_path / "run").exists()


# -- a reader that stops early: quiet, like coreutils ----------------------------------------------------------

SRC = Path(__file__).resolve().parents[1] / "src"


def _gazeattn(*argv, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m gazeattn ARGV`` in a fresh process (this checkout's sources)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gazeattn", *map(str, argv)], env=env, capture_output="stdout" not in
                          kwargs, stderr=subprocess.PIPE if "stdout" in kwargs else None, timeout=120, **kwargs)


def test_help_into_a_closed_pipe_exits_quietly_with_sigpipes_status():
    """``gazeattn --help | head -0``, without the race: the pipe's reader is closed before the command starts."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = _gazeattn("--help", stdout=write)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == b"", done.stderr.decode()


def test_a_command_whose_reader_went_away_exits_quietly(monkeypatch, capsys):
    """Not ``error: Broken pipe`` after a `train ... | head -1` has finished."""
    import gazeattn.cli.check as check_cli

    def printing(argv):
        print("a first line")
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(check_cli, "main", printing)
    assert main(["check", "x"]) == 141
    assert capsys.readouterr().err == ""


# -- names the terminal cannot spell ------------------------------------------------------------------------------

def test_check_prints_a_non_ascii_path_on_an_ascii_terminal(tmp_path):
    folder = tmp_path / "données"
    folder.mkdir()
    done = _gazeattn("check", folder, env={"PYTHONIOENCODING": "ascii"})
    out, err = done.stdout.decode("ascii"), done.stderr.decode("ascii")
    assert "Traceback" not in err and "donn\\xe9es" in out, err


def test_predict_prints_a_non_ascii_path_on_an_ascii_terminal(run, world, tmp_path):
    video = tmp_path / "clipé.mp4"
    shutil.copy(sorted((world / "cropped_clips").glob("*/*.mp4"))[0], video)
    done = _gazeattn("predict", video, "--checkpoint", run, env={"PYTHONIOENCODING": "ascii"})
    out, err = done.stdout.decode("ascii"), done.stderr.decode("ascii")
    assert done.returncode == 0 and "Traceback" not in err, err
    assert "clip\\xe9.mp4" in out, out


# -- Ctrl-C -------------------------------------------------------------------------------------------------------

def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _exit_code_of_ctrl_c(argv: list[str]) -> int:
    try:
        return main([str(a) for a in argv])
    except KeyboardInterrupt:  # a test failure, not the end of the test session
        pytest.fail("KeyboardInterrupt escaped: a traceback")


def _interrupted(capsys, argv: list[str], command: str | None = None) -> None:
    """Run ``argv``: exit 130 and one line ``gazeattn CMD: interrupted``, no traceback."""
    assert _exit_code_of_ctrl_c(argv) == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"gazeattn {command or argv[0]}: interrupted"], lines


def test_ctrl_c_during_eval(run, capsys, monkeypatch):
    import gazeattn.train.evaluate

    monkeypatch.setattr(gazeattn.train.evaluate, "evaluate", _interrupt)
    _interrupted(capsys, ["eval", "--run", run])


def test_ctrl_c_during_predict(run, world, capsys, monkeypatch):
    import gazeattn.cli.predict

    monkeypatch.setattr(gazeattn.cli.predict, "load_predictor", _interrupt)
    _interrupted(capsys, ["predict", sorted((world / "cropped_clips").glob("*/*.mp4"))[0], "--checkpoint", run])


def test_ctrl_c_during_gaze_parse(world, tmp_path, capsys, monkeypatch):
    import gazeattn.cli.gaze

    monkeypatch.setattr(gazeattn.cli.gaze, "read_begaze_table", _interrupt)
    gaze_file = sorted((world / "gaze_data").glob("*.txt"))[0]
    _interrupted(capsys, ["gaze", "parse", gaze_file, "--out", tmp_path / "gaze.npy"], "gaze parse")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existed", [False, True], ids=["missing folder", "empty folder"])
def test_ctrl_c_during_synth_leaves_nothing_that_blocks_a_rerun(tmp_path, capsys, monkeypatch, existed):
    import gazeattn.synth.writer as writer

    out = tmp_path / "world"
    if existed:
        out.mkdir()
    argv = ["synth", out, "--sessions", "1", "--clips-per-session", "2", "--size", "32x32", "--min-frames", "24",
            "--max-frames", "24"]
    encode, calls = writer._write_mp4, []

    def one_clip_then_ctrl_c(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(args)
        return encode(*args, **kwargs)

    monkeypatch.setattr(writer, "_write_mp4", one_clip_then_ctrl_c)
    assert _exit_code_of_ctrl_c(argv) == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == ["gazeattn synth: interrupted; nothing was left behind"], lines
    assert calls and (list(out.iterdir()) == [] if existed else not out.exists())
    monkeypatch.setattr(writer, "_write_mp4", encode)
    assert main([str(a) for a in argv]) == 0  # the same command, again: no --force needed
    assert (out / "synth_truth.json").is_file()


# -- weights that are valid but not finite ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nan_checkpoint(run, tmp_path_factory) -> Path:
    """A checkpoint of the run whose weights are all NaN, in a valid file with matching checksums (a diverged
    model, saved)."""
    from gazeattn.runs.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint

    loaded = load_checkpoint(list_checkpoints(run)[-1])
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.fill_(float("nan"))
    out = tmp_path_factory.mktemp("nan") / "run"
    return save_checkpoint(out, model=loaded.model, state=loaded.state, meta=loaded.meta, step=1)


def _refused_checkpoint(capsys, argv: list[str], checkpoint: Path) -> None:
    assert main([str(a) for a in argv]) == 1
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"gazeattn {argv[0]}: error: {checkpoint / 'model.safetensors'}: "), lines[0]
    assert "non-finite weights" in lines[0] and lines[0].count("model.safetensors") == 1, lines[0]


def test_predict_refuses_a_checkpoint_with_nan_weights(nan_checkpoint, world, capsys):
    video = sorted((world / "cropped_clips").glob("*/*.mp4"))[0]
    _refused_checkpoint(capsys, ["predict", video, "--checkpoint", nan_checkpoint], nan_checkpoint)


def test_eval_refuses_a_checkpoint_with_nan_weights(nan_checkpoint, capsys):
    _refused_checkpoint(capsys, ["eval", "--checkpoint", nan_checkpoint], nan_checkpoint)


def test_a_run_whose_weights_turn_non_finite_stops_naming_a_checkpoint_that_is_finite(world, tmp_path, capsys,
                                                                                      monkeypatch):
    """The update of step 4 leaves NaN weights with a finite loss (as an overflowing update can): the checkpoint
    due after it is not written, and the stop names the step and a checkpoint that loads, on --resume too."""
    import re

    from gazeattn.models.weights import load_model
    from gazeattn.train import engine

    out = tmp_path / "run"
    argv = ["train", "--data", str(world), "--out", str(out), "--set", "run.checkpoint_every=1", *SMALL]
    assert main([*argv, "--steps", "2"]) == 0  # steps 1-2 of a run, then resumed
    capsys.readouterr()
    real = engine.train_step

    def diverging(run_, batch, step, **kwargs):
        terms, norm = real(run_, batch, step, **kwargs)
        if step == 3:  # the 4th update (step index 3)
            with torch.no_grad():
                for p in run_.model.parameters():
                    p.fill_(float("nan"))
        return terms, norm

    monkeypatch.setattr(engine, "train_step", diverging)
    assert main([*argv, "--steps", "6", "--resume"]) == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gazeattn train: stopped: non-finite weights after step 4"), lines
    named = re.search(r"the last good checkpoint (\S+) is intact", lines[0])
    assert named and named.group(1) == str(out / "checkpoints" / "step_0000003"), lines[0]
    assert (out / "checkpoints" / "latest").read_text().strip() == "step_0000003"
    for step in (out / "checkpoints").glob("step_*"):
        load_model(step / "model.safetensors")  # every checkpoint written is finite


def test_resume_passes_over_a_checkpoint_with_nan_weights_and_never_calls_it_good(world, tmp_path, capsys, caplog,
                                                                                 monkeypatch):
    """``latest`` names a diverged checkpoint (saved by an older version): --resume says it is unusable, continues
    from the one before, and a stop names that one."""
    from gazeattn.runs.checkpoints import load_checkpoint, save_checkpoint
    from gazeattn.train import engine

    out = tmp_path / "run"
    argv = ["train", "--data", str(world), "--out", str(out), "--set", "run.checkpoint_every=1", *SMALL]
    assert main([*argv, "--steps", "2"]) == 0
    loaded = load_checkpoint(out / "checkpoints" / "step_0000002")
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.fill_(float("nan"))
    save_checkpoint(out, model=loaded.model, state=loaded.state, meta=loaded.meta, step=2)
    capsys.readouterr()
    forward = engine._TrainStep.forward
    monkeypatch.setattr(engine._TrainStep, "forward", lambda self, batch, step, generator, diagnose=True: {
        **(terms := forward(self, batch, step, generator, diagnose=diagnose)), "loss": terms["loss"] * float("nan")})
    assert main([*argv, "--steps", "4", "--resume"]) == 3
    captured = capsys.readouterr()
    good = out / "checkpoints" / "step_0000001"
    assert f"resuming from {good} (step 1)" in captured.out
    warned = [r.getMessage() for r in caplog.records if "is unusable" in r.getMessage()]
    assert len(warned) == 1 and "step_0000002" in warned[0] and "non-finite weights" in warned[0], warned
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gazeattn train: stopped: non-finite loss at step 2 "), lines
    assert lines[0].endswith(f"the last good checkpoint {good} is intact"), lines


def test_a_non_finite_loss_stops_naming_its_step_as_the_log_and_checkpoints_count(world, tmp_path, capsys,
                                                                                  monkeypatch):
    """The loss of the 3rd update is NaN: "at step 3" (checkpoint step_0000002 holds the first 2 updates)."""
    from gazeattn.train import engine

    forward = engine._TrainStep.forward

    def nan_at_the_third(self, batch, step, generator, diagnose=True):
        terms = forward(self, batch, step, generator, diagnose=diagnose)
        return {**terms, "loss": terms["loss"] * float("nan")} if step == 2 else terms

    monkeypatch.setattr(engine._TrainStep, "forward", nan_at_the_third)
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", "--set", "run.checkpoint_every=1",
                 *SMALL]) == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gazeattn train: stopped: non-finite loss at step 3 "), lines
    assert lines[0].endswith(f"the last good checkpoint {out / 'checkpoints' / 'step_0000002'} is intact"), lines


# -- eval --checkpoint: what it accepts is what its messages offer ------------------------------------------------

def _one_error(capsys, argv: list) -> str:
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_eval_takes_the_model_file_of_a_checkpoint_folder(run, capsys):
    from gazeattn.runs.checkpoints import list_checkpoints

    step = list_checkpoints(run)[-1]
    assert main(["eval", "--checkpoint", str(step / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == str(step)


def test_eval_refuses_a_bare_model_file_saying_what_it_needs(run, tmp_path, capsys):
    from gazeattn.runs.checkpoints import list_checkpoints

    bare = tmp_path / "model.safetensors"  # a model file alone: no meta.json (training config) beside it
    shutil.copy(list_checkpoints(run)[-1] / "model.safetensors", bare)
    line = _one_error(capsys, ["eval", "--checkpoint", bare])
    assert line.startswith(f"gazeattn eval: error: {bare}: ") and "meta.json" in line and "predict" in line, line
    other = tmp_path / "weights.safetensors"
    bare.rename(other)
    line = _one_error(capsys, ["eval", "--checkpoint", other])
    assert line.startswith(f"gazeattn eval: error: {other}: not a checkpoint"), line
    assert "the model.safetensors of a checkpoint folder" in line, line
    line = _one_error(capsys, ["eval", "--checkpoint", tmp_path / "nowhere"])
    assert line == f"gazeattn eval: error: {tmp_path / 'nowhere'}: checkpoint not found", line


# -- a data warning is said once per run, not once per DataLoader worker ----------------------------------------

def _backwards_counter(gaze_file: Path) -> str:
    """Make the frame counter of one sample line of a BeGaze file go back to 0; returns the warning's start."""
    lines = gaze_file.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("Time\t")) + 1
    at = first + 12
    fields = lines[at].split("\t")
    fields[5] = "0"  # the Frame column
    lines[at] = "\t".join(fields)
    gaze_file.write_text("".join(lines))
    return f"{gaze_file}:{at + 1}: the frame counter goes backwards"


@pytest.mark.slow
def test_a_gaze_file_warning_is_said_once_with_dataloader_workers(world, tmp_path):
    data = tmp_path / "egtea"
    shutil.copytree(world, data)
    gaze_files = sorted((data / "gaze_data").glob("*.txt"))
    said = _backwards_counter(gaze_files[0])
    gaze_files[1].unlink()  # and a session without gaze
    out = tmp_path / "run"
    done = _gazeattn("train", "--data", data, "--out", out, "--steps", "4", *TRAIN_FLAGS, "--workers", "2", "--eval",
                     "--set", "run.eval_every=2")
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert err.count(said) == 1, err
    assert err.count("session(s) have no gaze file") == 1, err
    done = _gazeattn("eval", "--run", out, "--workers", "2", "--batch", "1")
    err = done.stderr.decode()
    assert done.returncode == 0 and err.count(said) == 1, err


# -- torchrun: only rank 0 says what was written ------------------------------------------------------------------

@pytest.mark.parametrize("rank", ["0", "1"])
def test_train_s_closing_line_under_torchrun(tmp_path, capsys, monkeypatch, rank):
    """Rank 1 writes no checkpoint (rank 0 does): it says nothing, rather than "checkpoint None"."""
    from gazeattn.train import engine

    ckpt = tmp_path / "run" / "checkpoints" / "step_0000003"
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setattr(engine, "train", lambda config, out, **kwargs: engine.TrainResult(
        Path(out), 3, ckpt if rank == "0" else None, None, 1.0))
    assert main(["train", "--out", str(tmp_path / "run"), "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    assert out == (f"trained 3 steps in 1.0 s; checkpoint {ckpt}\n" if rank == "0" else ""), out


def _corrupt_frames(video: Path) -> None:
    """Scramble the coded frames of an mp4 (its index intact): it opens and demuxes, and fails when decoded."""
    data = bytearray(video.read_bytes())
    start = data.find(b"mdat") + 40
    for k in range(start, min(len(data) - 2000, start + 3000)):
        data[k] = (data[k] * 7 + 13) % 256
    video.write_bytes(bytes(data))


@pytest.mark.slow
def test_a_clip_skipped_while_being_read_is_said_once_with_dataloader_workers(world, tmp_path):
    """Read at every step it is drawn, in any worker: one `skipping clip` line for it, not one per read."""
    data = tmp_path / "egtea"
    shutil.copytree(world, data)
    bad = sorted((data / "cropped_clips").glob("*/*.mp4"))[:2]
    for video in bad:
        _corrupt_frames(video)
    done = _gazeattn("train", "--data", data, "--out", tmp_path / "run", "--steps", "6", *TRAIN_FLAGS, "--workers", "2",
                     "--on-bad-clip", "skip")
    err = done.stderr.decode()
    assert done.returncode == 0, err
    said = [line for line in err.splitlines() if line.startswith("skipping clip ")]
    assert said, err  # the scrambled clips were drawn and failed
    assert len(said) == len({line.split(":")[0] for line in said}), said


def test_resume_with_no_usable_checkpoint_refuses_and_keeps_them(world, tmp_path, capsys):
    """Every checkpoint is damaged: --resume says so in one line and stops, instead of "no checkpoint ... starting
    from step 0" (which would then write over and prune the user's folders); nothing in the folder changes."""
    out = tmp_path / "run"
    argv = ["train", "--data", str(world), "--out", str(out), "--set", "run.checkpoint_every=1", *SMALL]
    assert main([*argv, "--steps", "2"]) == 0
    for step in (out / "checkpoints").glob("step_*"):
        (step / "model.safetensors").write_bytes(b"not a model")
    before = {p: p.read_bytes() for p in (out / "checkpoints").rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main([*argv, "--steps", "4", "--resume"]) != 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip() and "is unusable" not in line]
    assert len(lines) == 1 and lines[0].startswith("gazeattn train: error: "), lines
    assert str(out / "checkpoints") in lines[0] and "2 checkpoint(s), none usable" in lines[0], lines
    assert "starting from step 0" not in captured.out + captured.err
    assert "Traceback" not in captured.err
    after = {p: p.read_bytes() for p in (out / "checkpoints").rglob("*") if p.is_file()}
    assert after == before


def test_a_failed_write_names_the_checkpoint_resume_would_use_not_a_nan_one_latest_names(world, tmp_path):
    """``latest`` names a checkpoint with NaN weights (an older version saved it): the "last good checkpoint" of a
    failed write's message is the one --resume would continue from, the one before."""
    from gazeattn.runs.checkpoints import _last_good, load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--set", "run.checkpoint_every=1", *SMALL,
                 "--steps", "2"]) == 0
    loaded = load_checkpoint(out / "checkpoints" / "step_0000002")
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.fill_(float("nan"))
    save_checkpoint(out, model=loaded.model, state=loaded.state, meta=loaded.meta, step=2)
    assert (out / "checkpoints" / "latest").read_text().strip() == "step_0000002"
    assert _last_good(out) == (f"the last good checkpoint is {out / 'checkpoints' / 'step_0000001'} "
                               "(--resume continues from it)")
    assert _last_good(tmp_path / "empty") == "no usable checkpoint has been written yet"
