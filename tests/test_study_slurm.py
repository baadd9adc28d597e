"""`gazeattn study --executor slurm` on the real one-node Slurm of `.ci/slurm-cluster start` (the acceptance of
issue 17): a tiny study gives the numbers of the local executor; a requeued run resumes from its checkpoint and
ends with the weights of an uninterrupted one; a run with a bad setting fails alone, named with its log; a study
command killed while its jobs are queued re-attaches when run again and submits nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gazeattn
from gazeattn.study import runner
from gazeattn.study.slurm_queue import Ledger
from gazeattn.study.slurm_settings import SlurmSettings
from gazeattn.study.spec import load_spec
from test_study import TINY

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# the tiny grid of test_study.py (1 world × direct, i3d × 2 seeds), with its steps as a parameter, on 1 CPU each
SPEC = TINY.replace('"run.steps" = 2', '"run.steps" = {steps}').replace(
    '"run.checkpoint_every" = 1', '"run.checkpoint_every" = 2') + """[executor]
gpus_per_cell = 0
cpus_per_cell = 1
mem_gb = 1
time = 10
poll_seconds = 0.5
"""


@pytest.fixture
def cluster_env(slurm_cluster, monkeypatch):
    """The cluster's variables in this process (submitit's sbatch and the executor's squeue read them) and in the
    jobs it submits, which import this checkout's gazeattn."""
    source = str(Path(gazeattn.__file__).resolve().parents[1])
    env = {**slurm_cluster.env, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _spec(tmp_path: Path, *, steps: int = 2, extra: str = "", seeds: str = "[0, 1]") -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(steps=steps).replace("seeds = [0, 1]", f"seeds = {seeds}") + extra)
    return path


def _metrics(out: Path) -> dict[str, float]:
    report = json.loads((out / "study.json").read_text())
    return {f"{r['world']}/{r['cell']}/s{r['seed']}": r["metrics"] for r in report["runs"]}


def _study(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gazeattn", "study", *args, "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
    return found


def test_a_tiny_study_on_slurm_gives_the_local_numbers(cluster_env, tmp_path):
    spec = load_spec(_spec(tmp_path))
    local = runner.run_study(spec, tmp_path / "local", progress=False, say=lambda _: None)
    said = []
    on_slurm = runner.run_study(spec, tmp_path / "slurm", progress=False, say=said.append,
                                slurm=SlurmSettings.from_table(spec.executor))
    assert not local.failed and not on_slurm.failed
    assert len(_metrics(tmp_path / "slurm")) == 4
    assert _metrics(tmp_path / "slurm") == _metrics(tmp_path / "local")
    assert [r["sentence"] for r in on_slurm.report["comparisons"]] == [r["sentence"] for r in
                                                                       local.report["comparisons"]]
    ledger = Ledger(tmp_path / "slurm")
    assert len(ledger.submissions) == 1 and len(ledger.submissions[0].job_ids) == 4  # one array of 4 tasks
    assert any(line.startswith("submitted 4 run(s) to Slurm as job ") for line in said)


def test_a_requeued_run_resumes_and_ends_with_the_uninterrupted_weights(cluster_env, tmp_path):
    spec = _spec(tmp_path, steps=150, seeds="[0]").read_text().replace(
        "[cells.i3d]\nmodel = \"i3d\"\n", "").replace("baseline = \"i3d\"\n", "")
    (tmp_path / "spec.toml").write_text(spec)
    studies = {name: _study(cluster_env, str(tmp_path / "spec.toml"), "--out", str(tmp_path / name),
                            "--executor", "slurm") for name in ("straight", "requeued")}
    run = tmp_path / "requeued" / "runs" / "tiny" / "direct" / "s0"
    _wait_for(lambda: list((run / "checkpoints").glob("step_0000004")), 120, "no checkpoint at step 4 in 120 s")
    job = Ledger(tmp_path / "requeued").latest_jobs()["tiny/direct/s0"]
    subprocess.run(["scontrol", "requeue", job], env=cluster_env, check=True, capture_output=True)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=cluster_env, capture_output=True)
    for name, study in studies.items():
        output, _ = study.communicate(timeout=300)
        assert study.returncode == 0, f"{name}:\n{output}"
    starts = [e["start_step"] for e in json.loads((run / "provenance.json").read_text())["entries"]]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] >= 4, starts  # trained, then resumed
    final = "checkpoints/step_0000150/model.safetensors"
    a, b = load_file(run / final), load_file(tmp_path / "straight" / "runs/tiny/direct/s0" / final)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(tmp_path / "requeued") == _metrics(tmp_path / "straight")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the bad setting is a GPU asked of a machine without one")
def test_a_run_with_a_bad_setting_fails_alone_named_with_its_log(cluster_env, tmp_path):
    spec = _spec(tmp_path, seeds="[0]", extra='[cells.on-gpu]\nmodel = "i3d"\nset = { "run.device" = "cuda" }\n')
    study = _study(cluster_env, str(spec), "--out", str(tmp_path / "out"), "--executor", "slurm")
    output, _ = study.communicate(timeout=300)
    assert study.returncode == 3, output
    failed = json.loads((tmp_path / "out/runs/tiny/on-gpu/s0/failed.json").read_text())
    log = Path(failed["slurm"]["log"])
    assert log.is_file() and "cuda" in log.read_text().lower()  # the job's error
    assert f"tiny/on-gpu/s0: Slurm job {failed['slurm']['job_id']} ended (FAILED) without a result; its log: {log}" \
        in output
    assert "1 run(s) failed" in output and "tiny/on-gpu/s0" in output
    assert set(_metrics(tmp_path / "out")) == {"tiny/direct/s0", "tiny/i3d/s0"}  # the others finished


def test_a_killed_study_command_reattaches_and_submits_nothing_twice(cluster_env, tmp_path):
    spec = _spec(tmp_path, extra="array_parallelism = 1\n")  # one run at a time: the others wait in the queue
    out = tmp_path / "out"
    first = _study(cluster_env, str(spec), "--out", str(out), "--executor", "slurm")
    _wait_for(lambda: (out / "slurm/jobs.json").is_file() and Ledger(out).latest_jobs(), 60, "nothing submitted")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    status = subprocess.run([sys.executable, "-m", "gazeattn", "study", str(spec), "--out", str(out), "--status"],
                            env=cluster_env, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "queued" in status.stdout and "job " in status.stdout, status.stdout
    again = _study(cluster_env, str(spec), "--out", str(out), "--executor", "slurm")
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    assert "re-attached to" in output and "submitted" not in output
    ledger = Ledger(out)
    assert len(ledger.submissions) == 1 and len(ledger.latest_jobs()) == 4
    for key in ledger.latest_jobs():  # each run trained once, from the start, by one job
        entries = json.loads((out / "runs" / key / "provenance.json").read_text())["entries"]
        assert [e["start_step"] for e in entries] == [0], key
    assert len(_metrics(out)) == 4


def test_the_plain_array_script_runs_each_run_and_the_report_follows(cluster_env, tmp_path):
    spec = _spec(tmp_path)
    script = Path(gazeattn.__file__).resolve().parents[2] / "docs" / "slurm" / "study-array.sbatch"
    dry = subprocess.run([sys.executable, "-m", "gazeattn", "study", str(spec), "--out", str(tmp_path / "out"),
                          "--dry-run"], env=cluster_env, capture_output=True, text=True, timeout=120)
    count = dry.stdout.count("--run-index")
    assert count == 4, dry.stdout
    env = {**cluster_env, "GAZEATTN": str(Path(sys.executable).with_name("gazeattn"))}
    done = subprocess.run(["sbatch", "--parsable", f"--array=0-{count - 1}", "--gpus-per-node=0", "--cpus-per-task=1",
                           "--mem=1G", f"--output={tmp_path}/%A_%a.out", str(script), str(spec),
                           str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 240
    while subprocess.run(["squeue", "--noheader", f"--jobs={job}"], env=env, capture_output=True,
                         text=True).stdout.strip():
        assert time.monotonic() < deadline, f"array job {job} still queued or running after 240 s"
        time.sleep(0.5)
    logs = sorted(tmp_path.glob(f"{job}_*.out"))
    assert len(logs) == 4 and all("mean class accuracy" in log.read_text() for log in logs), \
        "\n".join(log.read_text() for log in logs)
    report = subprocess.run([sys.executable, "-m", "gazeattn", "study", str(spec), "--out", str(tmp_path / "out"),
                             "--report-only", "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and "4 of 4 runs finished" in report.stdout, report.stdout + report.stderr
    assert len(_metrics(tmp_path / "out")) == 4
