"""Every CLI command that writes, against outputs it cannot write: an immutable folder (``chattr +i``, as root),
a path under a regular file, the wrong type (a folder where a file goes, a file where a folder goes), ``/proc``,
and a full disk (a small tmpfs filled to the brim, where ``mount`` works; an injected ENOSPC otherwise).

Each must exit 1 with one ``error:`` line naming the path, no traceback, and leave no file behind. Commands run
in-process through ``gazeattn.cli.main``.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gazeattn.cli import main
from gazeattn.runs.checkpoints import checkpoint_root, list_checkpoints, verify_checkpoint
from tinyworld import SMALL, tiny_world



@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("hostile") / "egtea", seed=3)


@pytest.fixture(scope="module")
def run(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile_run") / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", *SMALL]) == 0
    return out


@pytest.fixture(scope="module")
def video(world) -> Path:
    return sorted((world / "cropped_clips").glob("*/*.mp4"))[0]


# -- hostile places ---------------------------------------------------------------------------------------------

def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def immutable(tmp_path):
    """A folder nobody, root included, can create files in (``chattr +i``); skipped where chattr is unavailable
    (the other kinds below cover the same code without it)."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    if not _chattr("+i", folder):
        pytest.skip("chattr +i is not available here (needs root on ext4/xfs/tmpfs)")
    try:
        (folder / "probe").touch()
    except OSError:
        pass
    else:
        _chattr("-i", folder)
        pytest.skip("chattr +i did not make the folder read-only")
    yield folder
    _chattr("-i", folder)


@pytest.fixture
def small_disk(tmp_path):
    """An empty 2 MiB tmpfs (skipped where mount is not allowed: the *_injected tests cover ENOSPC without one)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (test_disk_full_*_injected covers ENOSPC without one)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def full_disk(small_disk):
    """The tmpfs filled to the last byte (creating an empty file still works; writing any data fails)."""
    _fill(small_disk)
    return small_disk


def _hostile(kind: str, tmp_path: Path, request, name: str, *, folder: bool) -> Path:
    """Where a command is told to write ``name`` (a file, or a folder when ``folder``)."""
    if kind == "immutable":
        return request.getfixturevalue("immutable") / name
    if kind == "under a file":
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder\n")
        return blocker / name
    if kind == "wrong type":
        target = tmp_path / name
        if folder:
            target.write_text("a file where a folder should be\n")
        else:
            target.mkdir()
        return target
    if kind == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc")
        return Path("/proc") / name
    if kind == "full disk":
        return request.getfixturevalue("full_disk") / name
    raise AssertionError(kind)


def _listing(folder: Path) -> list[str] | None:
    if str(folder).startswith("/proc") or not folder.is_dir():
        return None
    return sorted(p.name for p in folder.iterdir())


def _refused(capsys, argv: list[str], target: Path) -> str:
    """Run ``argv``; assert exit 1, one ``error:`` line naming ``target``, no traceback, nothing left behind."""
    parent = target.parent
    before, existed = _listing(parent), target.exists()
    target_kind = target.is_dir() if existed else None
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and str(target) in lines[0], lines[0]
    assert _listing(parent) == before, "a file was left behind"
    assert target.exists() == existed and (not existed or target.is_dir() == target_kind)
    if existed and target.is_dir():
        assert not any(target.iterdir())
    return lines[0]


FILE_KINDS = ["immutable", "under a file", "wrong type", "proc", "full disk"]
FOLDER_KINDS = ["immutable", "under a file", "wrong type", "full disk"]


# -- file outputs -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".npy", ".csv"])
@pytest.mark.parametrize("kind", FILE_KINDS)
def test_gaze_parse_out(world, tmp_path, request, capsys, kind, suffix):
    target = _hostile(kind, tmp_path, request, f"table{suffix}", folder=False)
    gaze = sorted((world / "gaze_data").iterdir())[0]
    line = _refused(capsys, ["gaze", "parse", gaze, "--out", target], target)
    assert line.startswith("gazeattn gaze parse: error: ")


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_gaze_parse_out_cut_short_keeps_the_os_reason(world, tmp_path, suffix):
    """A disk that fills after the first bytes of the table: the OS's reason, not numpy's "N requested and M
    written". A file size limit (``RLIMIT_FSIZE``, in a child process) cuts the write short as a full disk does,
    with EFBIG ("File too large") for ENOSPC ("No space left on device")."""
    resource = pytest.importorskip("resource")
    gaze = sorted((world / "gaze_data").iterdir())[0]
    target = tmp_path / f"table{suffix}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "OMP_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    limit = 200  # the .npy header (128 bytes) fits, the table does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: a write fails instead

    done = subprocess.run([sys.executable, "-m", "gazeattn", "gaze", "parse", str(gaze), "--out", str(target)],
                          env=env, capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert lines[0] == f"gazeattn gaze parse: error: {target}: cannot write: File too large", lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".gif", ".png", ".mp4"])
@pytest.mark.parametrize("kind", FILE_KINDS)
def test_predict_overlay(run, video, tmp_path, request, capsys, kind, suffix):
    target = _hostile(kind, tmp_path, request, f"overlay{suffix}", folder=False)
    line = _refused(capsys, ["predict", video, "--checkpoint", run, "--overlay", target], target)
    if kind == "full disk":  # the up-front probe passed (an empty file fits), then the encoder met ENOSPC
        assert "No space left on device" in line


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_eval_out(run, tmp_path, request, capsys, kind):
    target = _hostile(kind, tmp_path, request, "result.json", folder=False)
    _refused(capsys, ["eval", "--run", run, "--out", target], target)


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_weights_kinetics_out(tmp_path, request, capsys, monkeypatch, kind):
    from gazeattn.models.weights import KINETICS_FILE, save_i3d_weights

    cache = tmp_path / "cache"
    save_i3d_weights({"Conv3d_1a_7x7.conv3d.weight": torch.zeros(2, 3, 1, 1, 1)}, cache / KINETICS_FILE, source="test")
    monkeypatch.setenv("GAZEATTN_CACHE", str(cache))
    target = _hostile(kind, tmp_path, request, "k400.safetensors", folder=False)
    _refused(capsys, ["weights", "kinetics", "--out", target, "--no-download"], target)
    good = tmp_path / "good" / "k400.safetensors"  # the same command works on a writable path
    assert main(["weights", "kinetics", "--out", str(good), "--no-download"]) == 0 and good.is_file()


@pytest.mark.parametrize("kind", ["immutable", "under a file", "wrong type"])
def test_weights_import_reference_out(tmp_path, request, capsys, kind):
    target = _hostile(kind, tmp_path, request, "imported", folder=True)
    refs = [tmp_path / f"{part}.pt" for part in ("base", "gaze", "attn")]  # never read: the output fails first
    _refused(capsys, ["weights", "import-reference", "--base", refs[0], "--gaze", refs[1], "--attn", refs[2],
                      "--out", target], target)


# -- folder outputs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", FOLDER_KINDS)
def test_train_out(world, tmp_path, request, capsys, kind):
    target = _hostile(kind, tmp_path, request, "run", folder=True)
    _refused(capsys, ["train", "--data", world, "--out", target, "--steps", "2", *SMALL], target)


@pytest.mark.parametrize("kind", FOLDER_KINDS)
def test_synth_out(tmp_path, request, capsys, kind):
    target = _hostile(kind, tmp_path, request, "world", folder=True)
    _refused(capsys, ["synth", target, "--sessions", "1", "--clips-per-session", "2", "--size", "32x32",
                      "--min-frames", "24", "--max-frames", "26"], target)


@pytest.mark.parametrize("kind", ["immutable", "under a file", "wrong type"])
def test_prepare_out(world, tmp_path, request, capsys, kind):
    target = _hostile(kind, tmp_path, request, "frames", folder=True)
    _refused(capsys, ["prepare", world, "--out", target, "--flow", "none"], target)


@pytest.mark.parametrize("kind", ["immutable", "under a file"])
def test_demo_out(tmp_path, request, capsys, kind):
    """The demo fails at its first write (the world), before any training: cheap to check."""
    target = _hostile(kind, tmp_path, request, "demo", folder=True)
    _refused(capsys, ["demo", "--out", target], target)


# -- a disk that fills during training --------------------------------------------------------------------------

def _fill(folder: Path) -> None:
    """Write ``folder/filler`` until the disk is full (unbuffered: the ENOSPC comes from a write, not the close)."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC


def _assert_consistent_after_failed_save(run_dir: Path, good: str) -> None:
    """``latest`` names the last good checkpoint, which verifies; no temporary folder or file is left."""
    root = checkpoint_root(run_dir)
    assert (root / "latest").read_text().strip() == good
    for step in list_checkpoints(run_dir):  # no partial folder under a step name
        verify_checkpoint(step)
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]
    assert not (run_dir / ".lock").exists()


def _train_until_disk_full(world: Path, out: Path, capsys, monkeypatch, fill) -> str:
    """Train 4 steps with a checkpoint every step; ``fill()`` runs right after the first checkpoint."""
    from gazeattn.train import engine

    real = engine.save_checkpoint
    saved = []

    def save_then_fill(*args, **kwargs):
        path = real(*args, **kwargs)
        saved.append(path)
        if len(saved) == 1:
            fill()
        return path

    monkeypatch.setattr(engine, "save_checkpoint", save_then_fill)
    code = main(["train", "--data", str(world), "--out", str(out), "--steps", "4", "--set", "run.checkpoint_every=1",
                 *SMALL])
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    return lines[0]


def test_disk_full_during_a_checkpoint_names_the_file_and_the_last_good_checkpoint(world, small_disk, capsys,
                                                                                   monkeypatch):
    out = small_disk / "run"
    line = _train_until_disk_full(world, out, capsys, monkeypatch, lambda: _fill(small_disk))
    good = out / "checkpoints" / "step_0000001"
    assert line.startswith(f"gazeattn train: error: {out}/") and "No space left on device" in line, line
    assert f"the last good checkpoint is {good}" in line and "--resume" in line
    _assert_consistent_after_failed_save(out, "step_0000001")
    (small_disk / "filler").unlink()  # space again: --resume continues from the last good checkpoint
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "4", "--set", "run.checkpoint_every=1",
                 "--resume", *SMALL]) == 0
    assert (out / "checkpoints" / "latest").read_text().strip() == "step_0000004"


@pytest.mark.parametrize("where", ["model.safetensors", "state.pt", "meta.json", "latest"])
def test_disk_full_during_a_checkpoint_injected(world, tmp_path, capsys, monkeypatch, where):
    """Without a tmpfs: the writers of each checkpoint file fail with ENOSPC (safetensors' own error type for the
    weights, after writing part of the file)."""
    from safetensors import SafetensorError

    import gazeattn.utils.atomic as atomic
    import gazeattn.models.weights.digest as weights

    out = tmp_path / "run"
    full = {"on": False}

    def fill():
        full["on"] = True

    real_save_file, real_open, real_replace = weights.save_file, open, os.replace

    def save_file(tensors, filename, metadata=None):
        if full["on"]:
            Path(filename).write_bytes(b"\0" * 1000)  # a partial file, as a real full disk leaves
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real_save_file(tensors, filename, metadata=metadata)

    def enospc_open(file, mode="r", *args, **kwargs):
        name = Path(str(file)).name
        if full["on"] and "w" in mode and (name == where if where == "state.pt" else name.startswith(".meta")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    def enospc_replace(src, dst):
        if full["on"] and Path(dst).name == "latest":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))
        return real_replace(src, dst)

    if where == "model.safetensors":
        monkeypatch.setattr(weights, "save_file", save_file)
    elif where in ("state.pt", "meta.json"):
        monkeypatch.setattr("builtins.open", enospc_open)
    else:
        monkeypatch.setattr(atomic.os, "replace", enospc_replace)
    line = _train_until_disk_full(world, out, capsys, monkeypatch, fill)
    file = out / "checkpoints" / ("latest" if where == "latest" else f"step_0000002/{where}")
    assert line.startswith(f"gazeattn train: error: {file}: cannot write: No space left on device; "), line
    assert f"the last good checkpoint is {out / 'checkpoints' / 'step_0000001'}" in line
    _assert_consistent_after_failed_save(out, "step_0000001")


def test_an_unconverted_os_error_still_prints_one_line(capsys, monkeypatch):
    """The dispatcher's last resort: an OSError no write site converted is one line naming its file."""
    import gazeattn.cli.check as check_cli

    def boom(argv):
        raise PermissionError(errno.EACCES, "Permission denied", "/some/where.txt")

    monkeypatch.setattr(check_cli, "main", boom)
    assert main(["check", "x"]) == 1
    err = capsys.readouterr().err
    assert err == "gazeattn check: error: /some/where.txt: Permission denied\n"


# -- file modes -------------------------------------------------------------------------------------------------

def test_checkpoint_files_follow_the_umask(run):
    """model.safetensors (which safetensors itself writes 0600) gets the same mode as its siblings."""
    step = list_checkpoints(run)[-1]
    mask = os.umask(0o022)
    os.umask(mask)
    want = 0o666 & ~mask
    modes = {p.name: p.stat().st_mode & 0o777 for p in step.iterdir()}
    assert modes == {"model.safetensors": want, "state.pt": want, "meta.json": want}, modes
    assert (run / "config.json").stat().st_mode & 0o777 == want


def test_atomic_output_follows_a_stricter_umask(tmp_path):
    from gazeattn.models import ModelConfig, build_model, save_model

    old = os.umask(0o027)
    try:
        path = save_model(build_model(ModelConfig(backbone="tiny", num_classes=3, clip=(8, 32, 32),
                                                  strides=(8, 16, 16))), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
