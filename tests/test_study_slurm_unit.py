"""`gazeattn study --executor slurm` without a cluster: the [executor] table and options, the job ledger and its
recovery, the queue reading, what a rerun does with each run (re-attach, report a job that ended without a
result, retry after failed.json is deleted), and `--status`. The real-Slurm tests are in test_study_slurm.py."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gazeattn.cli import main
from gazeattn.study import slurm_executor, slurm_queue
from gazeattn.study.plan import FAILED_FILE, plan_study
from gazeattn.study.slurm_queue import Ledger, log_paths, queue_states
from gazeattn.study.slurm_settings import SlurmSettings
from gazeattn.study.spec import load_spec
from gazeattn.study.status import format_status, study_status
from gazeattn.train.parallelism import usable_cores
from gazeattn.utils.errors import DataError

SPEC = """
[study]
seeds = [0, 1]
[study.set]
"run.steps" = 2
[worlds.tiny]
sessions = 2
clips_per_session = 4
[cells.a]
model = "i3d"
[cells.b]
model = "gaze-direct"
"""


def _spec(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(SPEC + extra)
    return path


def test_the_executor_table_and_the_options_make_the_settings(tmp_path):
    spec = load_spec(_spec(tmp_path, '[executor]\npartition = "gpu"\ngpus_per_cell = 2\nsetup = ["module load x"]\n'
                                     'sbatch = { qos = "high" }\nmem_gb = 1.5\n'))
    settings = SlurmSettings.from_table(spec.executor, gpus_per_cell=0, time=None)
    assert (settings.partition, settings.gpus_per_cell, settings.time, settings.setup) == ("gpu", 0, 240,
                                                                                          ("module load x",))
    params = settings.submitit_parameters("gazeattn-x")
    assert "gpus_per_node" not in params and params["partition"] == "gpu" and params["mem"] == "1536M"
    assert params["additional_parameters"] == {"qos": "high"} and params["setup"] == ["module load x"]
    assert params["cpus_per_task"] == 8 and params["job_name"] == "gazeattn-x"
    assert SlurmSettings().submitit_parameters("n")["gpus_per_node"] == 1  # by default one GPU per run


@pytest.mark.parametrize("table, expected", [
    ("partiton = \"gpu\"", "[executor]: unknown key(s) partiton"),
    ("gpus_per_cell = -1", "[executor] gpus_per_cell: want an integer >= 0"),
    ("time = 0", "[executor] time: want an integer >= 1"),
    ("poll_seconds = 0", "[executor] poll_seconds: want a number > 0"),
    ("setup = \"module load x\"", "[executor] setup: want a list of shell lines"),
])
def test_a_bad_executor_table_names_the_file_and_key(tmp_path, table, expected):
    with pytest.raises(DataError) as err:
        load_spec(_spec(tmp_path, f"[executor]\n{table}\n"))
    assert str(err.value).startswith(str(tmp_path / "s.toml")) and expected in str(err.value)


def test_slurm_options_need_the_slurm_executor(tmp_path, capsys):
    spec = str(_spec(tmp_path))
    assert main(["study", spec, "--out", str(tmp_path / "o"), "--partition", "gpu", "--dry-run"]) == 2
    assert "--partition only apply with --executor slurm" in capsys.readouterr().err
    assert main(["study", spec, "--out", str(tmp_path / "o"), "--executor", "slurm", "--jobs", "2"]) == 2
    assert "--jobs is for the local executor" in capsys.readouterr().err
    assert main(["study", spec, "--out", str(tmp_path / "o"), "--executor", "slurm", "--time", "0",
                 "--dry-run"]) == 2
    assert "[executor] time: want an integer >= 1" in capsys.readouterr().err


def _fake_squeue(tmp_path: Path, monkeypatch, rows: str, code: int = 0) -> Path:
    """A `squeue` on PATH that records its arguments and prints ``rows``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "squeue"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\ncat <<'EOF'\n{rows}EOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "args"


def test_the_queue_is_read_by_job_name_one_row_per_array_task(tmp_path, monkeypatch):
    args = _fake_squeue(tmp_path, monkeypatch, "12_0|RUNNING|None|gazeattn-a\n12_1|PENDING|Priority|gazeattn-a\n"
                                               "13|COMPLETED|None|gazeattn-b\n")
    rows = queue_states(["gazeattn-b", "gazeattn-a"])
    assert rows == {"12_0": ("RUNNING", "None", "gazeattn-a"), "12_1": ("PENDING", "Priority", "gazeattn-a"),
                    "13": ("COMPLETED", "None", "gazeattn-b")}
    used = args.read_text()
    assert "--array" in used and "--states=all" in used and "--name=gazeattn-a,gazeattn-b" in used
    assert queue_states([]) == {}


def test_a_queue_that_cannot_be_read_is_one_error(tmp_path, monkeypatch):
    _fake_squeue(tmp_path, monkeypatch, "slurm_load_jobs error: Unable to contact slurm controller\n", code=1)
    with pytest.raises(DataError, match="squeue: failed: slurm_load_jobs error: Unable to contact"):
        queue_states(["gazeattn-a"])
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="squeue: not found"):
        queue_states(["gazeattn-a"])


def test_the_ledger_finds_the_jobs_of_a_submission_cut_short(tmp_path):
    ledger = Ledger(tmp_path)
    done = ledger.new_submission(["w/a/s0"])
    done.job_ids = ["7"]
    cut = ledger.new_submission(["w/a/s1", "w/b/s1", "w/b/s0"])  # killed before sbatch answered
    lost = ledger.new_submission(["w/a/s2"])  # killed before sbatch ran: nothing in the queue
    ledger.save()
    rows = {"9_1": ("PENDING", "", cut.name), "9_2": ("RUNNING", "", cut.name), "7": ("RUNNING", "", done.name)}
    again = Ledger(tmp_path)
    assert [s.name for s in again.recover(rows)] == [cut.name]
    assert again.latest_jobs() == {"w/a/s0": "7", "w/a/s1": "9_0", "w/b/s1": "9_1", "w/b/s0": "9_2"}
    assert lost.name not in Ledger(tmp_path).names()  # saved


def test_a_damaged_ledger_is_an_error_naming_it(tmp_path):
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / "jobs.json").write_text("{\"submissions\": [{\"nam")
    with pytest.raises(DataError) as err:
        Ledger(tmp_path)
    assert str(tmp_path / "slurm" / "jobs.json") in str(err.value)


class _FakeSlurm:
    """queue_states and _submit replaced: ``states`` is the queue; submissions are recorded, never run."""

    def __init__(self, monkeypatch, states):
        self.states, self.submitted = states, []
        monkeypatch.setattr(slurm_executor, "queue_states", lambda names: dict(self.states))

        def submit(runs, out, settings, ledger, emit):
            sub = ledger.new_submission([r.key for r in runs])
            sub.job_ids = [f"{50 + len(self.submitted)}_{i}" for i in range(len(runs))]
            ledger.save()
            self.submitted.append([r.key for r in runs])
            for run in runs:  # the job "runs" at once: a failure, so the wait ends
                self.states[sub.job_ids[runs.index(run)]] = ("FAILED", "", sub.name)
            return {run.key: (run, job_id) for run, job_id in zip(runs, sub.job_ids)}

        monkeypatch.setattr(slurm_executor, "_submit", submit)


def test_a_rerun_reattaches_reports_ended_jobs_and_retries_after_failed_json_is_deleted(tmp_path, monkeypatch):
    spec = load_spec(_spec(tmp_path))
    out = tmp_path / "out"
    plan = plan_study(spec, out)
    keys = [r.key for r in plan]  # tiny/a/s0, tiny/b/s0, tiny/a/s1, tiny/b/s1
    ledger = Ledger(out)
    sub = ledger.new_submission(keys[:3])
    sub.job_ids = ["40_0", "40_1", "40_2"]
    ledger.save()
    fake = _FakeSlurm(monkeypatch, {"40_0": ("RUNNING", "", sub.name), "40_1": ("PENDING", "", sub.name)})
    seen = []

    def finished(run, did, evaluation):  # after the first report the live jobs end: one failed, one gone
        seen.append((run.key, did))
        fake.states["40_0"] = ("FAILED", "", sub.name)
        fake.states.pop("40_1", None)

    settings = SlurmSettings(poll_seconds=0.01)
    slurm_executor.run_on_slurm(plan, out, settings, finished=finished, emit=lambda _: None, sleep=lambda _: None)
    assert fake.submitted == [[keys[3]]]  # only the run that never had a job; the live ones were re-attached
    assert dict(seen) == {keys[2]: "failed", keys[3]: "failed", keys[0]: "failed", keys[1]: "failed"}
    why = json.loads((plan[2].run_dir / FAILED_FILE).read_text())  # ended while no one watched: reported, not rerun
    assert why["slurm"]["job_id"] == "40_2" and why["error"].startswith("Slurm job 40_2 is no longer in the queue")
    assert why["slurm"]["log"] == str(log_paths(out, "40_2")[1]) == str(out / "slurm/logs/40_2/40_2_0_log.err")
    assert "ended (FAILED)" in json.loads((plan[0].run_dir / FAILED_FILE).read_text())["error"]
    # a rerun skips the failed runs; deleting failed.json retries that run alone
    (plan[0].run_dir / FAILED_FILE).unlink()
    fake.submitted.clear()
    again = [r for r in plan_study(spec, out) if r.status != "failed"]
    assert [r.key for r in again] == [keys[0]]
    slurm_executor.run_on_slurm(again, out, settings, finished=lambda *a: None, emit=lambda _: None,
                                sleep=lambda _: None)
    assert fake.submitted == [[keys[0]]]


def test_status_lists_each_run_with_its_job_and_log(tmp_path, monkeypatch):
    spec = load_spec(_spec(tmp_path))
    out = tmp_path / "out"
    keys = [r.key for r in plan_study(spec, out)]
    ledger = Ledger(out)
    sub = ledger.new_submission(keys[:2])
    sub.job_ids = ["8_0", "8_1"]
    ledger.save()
    _fake_squeue(tmp_path, monkeypatch, f"8_0|RUNNING|None|{sub.name}\n8_1|PENDING|Resources|{sub.name}\n")
    states, note = study_status(spec, out)
    assert [(s.key, s.state, s.job_id) for s in states] == [(keys[0], "running", "8_0"), (keys[1], "queued", "8_1"),
                                                            (keys[2], "to train", ""), (keys[3], "to train", "")]
    text = format_status(states, note)
    assert "log " + str(out / "slurm/logs/8_0/8_0_0_log.err") in text and "Resources" in text
    assert text.splitlines()[-1] == "4 runs: 1 running, 1 queued, 2 to train"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no squeue here: said, not a traceback
    states, note = study_status(spec, out)
    assert "could not be read" in note and states[0].state == "to train"


def test_a_slurm_job_uses_the_cpus_it_was_given(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert usable_cores() == 16  # not in a job: the variable is ignored
    monkeypatch.setenv("SLURM_JOB_ID", "3")
    assert usable_cores() == 4
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "64")
    assert usable_cores() == 16


def test_without_submitit_the_error_says_how_to_install_it(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_submitit(name, *args, **kwargs):
        if name == "submitit":
            raise ImportError("No module named 'submitit'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_submitit)
    with pytest.raises(DataError, match=r"pip install 'gazeattn\[slurm\]'"):
        slurm_executor.import_submitit()


def test_run_index_runs_one_run_without_the_study_lock_and_report_only_trains_nothing(tmp_path, capsys):
    from gazeattn.runs.lock import run_folder_lock

    spec = _spec(tmp_path)
    text = spec.read_text().replace('"run.steps" = 2', '"run.steps" = 2\n"run.batch" = 4\n"data.workers" = 0\n'
                                    '"clip.crop" = 48\n"clip.short_side" = 56\n"clip.train_short_side" = [56, 64]\n'
                                    '"model.tiny_widths" = [4, 8, 8, 12, 16]\n"model.head_channels" = [4, 4]\n'
                                    '"run.diagnostics" = false').replace(
        "clips_per_session = 4", "clips_per_session = 4\nwidth = 64\nheight = 48\nmin_frames = 24\nmax_frames = 30")
    spec.write_text(text)
    out = tmp_path / "out"
    with run_folder_lock(out):  # a study command holds the study folder: a run-index task still runs
        assert main(["study", str(spec), "--out", str(out), "--run-index", "1"]) == 0
    assert "tiny/b/s0: trained; mean class accuracy" in capsys.readouterr().out
    assert [p.parent.name for p in sorted(out.glob("runs/*/*/s*/eval.json"))] == ["s0"]
    assert main(["study", str(spec), "--out", str(out), "--run-index", "1"]) == 0
    assert "tiny/b/s0: finished earlier; nothing to do" in capsys.readouterr().out
    assert main(["study", str(spec), "--out", str(out), "--run-index", "4"]) == 2
    assert "--run-index 4: the study has 4 run(s), indices 0 to 3" in capsys.readouterr().err
    assert main(["study", str(spec), "--out", str(out), "--run-index", "0", "--executor", "slurm"]) == 2
    assert main(["study", str(spec), "--out", str(out), "--report-only", "--no-progress"]) == 0
    assert "1 of 4 runs finished" in capsys.readouterr().out
    assert len(json.loads((out / "study.json").read_text())["runs"]) == 1
    assert [p.parent.name for p in sorted(out.glob("runs/*/*/s*/eval.json"))] == ["s0"]  # nothing more trained
