"""`gazeattn train` and `gazeattn eval --json` on an EGTEA-layout world this project did not generate:
written here by hand, the way another tool might — mpeg4 videos of an odd size, one frame more than the
clip names say, a `-GazeData.txt` gaze file, no label index files, CRLF/quoted split lines, a clip shorter
than the 24-frame window and a session without any gaze file."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from gazeattn.cli import main

HEADER_V1 = ["## [BeGaze]", "## Converted from:\tX.idf", "## Date:\t01.01.0001 00:00:00", "## Version:\tBeGaze 3.1.77",
             "## IDF Version:\t10", "## Sample Rate:\t30", "## Separator Type:\tTrial", "## Trial Count:\t0",
             "## Uses Plane File:\tFalse", "## Number of Samples:\t{n}", "## Reversed:\tnone", "## [Run]",
             "## Subject:\tX", "## Description:\tRun1", "## [Calibration]", "## Calibration Type:\tn.a.",
             "## Calibration Area:\t1280\t960", "## [Geometry]", "## Stimulus Dimension [mm]:\t1280\t960",
             "## Head Distance [mm]:\t1450", "## [Hardware Setup]", "## System ID:\t", "## Operating System :\t",
             "## IView X Version:\t", "## [Filter Settings]", "## Heuristics:\tFalse", "## Heuristics Stage:\t0",
             "## Bilateral:\tFalse", "## Gaze Cursor Filter:\tFalse", "## Saccade Length [px]:\t0",
             "## Filter Depth [ms]:\t0", "## Format:\tLEFT, POR, FRAMECOUNTER", "##",
             "Time\tType\tTrial\tL POR X [px]\tL POR Y [px]\tFrame\tAux1\tL Event Info"]


def _video(path, n, rng, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=24)
        s.width, s.height, s.pix_fmt = 150, 110, "yuv420p"
        for i in range(n):
            img = np.full((110, 150, 3), 40, np.uint8)
            x = 20 + (i * 3) % 100
            img[40:70, x:x + 30] = colour
            img += rng.integers(0, 20, img.shape, dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("foreign") / "EGTEA"
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    lines = {"train": [], "test": []}
    sessions = ["P90-R01-Toast", "OP70-R02-Soup"]
    for si, session in enumerate(sessions):
        frame = 100
        samples = []
        for k in range(9):
            n = 18 if k == 0 else 30 + (k % 3) * 6  # one clip shorter than the window
            label = k % 3
            name = f"{session}-{frame * 1000 // 24}-{(frame + n) * 1000 // 24}-F{frame:06d}-F{frame + n:06d}"
            _video(root / "cropped_clips" / session / f"{name}.mp4", n + 1, rng, colours[label])
            subset = "test" if k % 4 == 3 else "train"
            lines[subset].append(f'"{name}" {label + 1} {label + 1} {label + 1}')
            for f in range(frame, frame + n):
                samples.append((f, 300 + 20 * label, 480, "Fixation" if f % 5 else "Saccade"))
            frame += n + 40
        if si == 0:  # the second session has no gaze file at all
            body = [f"{1000 * i}\tSMP\t1\t{x:.2f}\t{y:.2f}\t{f}\t\t{ev}" for i, (f, x, y, ev) in enumerate(samples)]
            header = [h.format(n=len(body)) for h in HEADER_V1]
            gaze = root / "gaze_data" / f"{session}-GazeData.txt"
            gaze.parent.mkdir(parents=True, exist_ok=True)
            gaze.write_bytes(("\r\n".join(header + body) + "\r\n").encode())
    ann = root / "action_annotation"
    ann.mkdir(parents=True)
    for subset, rows in lines.items():
        (ann / f"{subset}_split1.txt").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    return root


def test_train_and_eval_json_on_a_foreign_world(foreign, tmp_path, capsys):
    assert main(["check", str(foreign)]) == 0
    report = capsys.readouterr().out
    assert "without a gaze file: 1" in report and "2 shorter than the 24-frame window" in report
    assert "no actions index" in report and "warning:" in report
    run = tmp_path / "run"
    assert main(["train", "--data", str(foreign), "--model", "gaze-direct", "--out", str(run), "--steps", "4",
                 "--batch", "4", "--workers", "0", "--no-progress", "--set", "clip.crop=64",
                 "--set", "clip.short_side=72", "--set", "clip.train_short_side=72,80"]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_clips"] == 4 and 0 <= result["mean_class_accuracy"] <= 100
    assert result["gaze"]["n_slots"] > 0  # the session with gaze is measured
    meta = json.loads(next((run / "checkpoints").glob("step_*/meta.json")).read_text())
    assert meta["class_names"] == ["class 0", "class 1", "class 2"]  # no action_idx.txt: inferred from labels
