"""The CPU speed-ups of issue 16 change no weight, and the threads/workers choice is a pure function of the cores:
every variant trained with the diagnostics on every step and glibc's default allocator (the old path) reaches
the same weights, bit for bit, as with the diagnostics on the logged steps only and freed memory kept."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gazeattn.cli import main
from gazeattn.train import parallelism
from gazeattn.train.bookkeeping import MetricsWindow
from gazeattn.train.config import MODELS, DataConfig, RunConfig
from gazeattn.train.malloc import reuse_freed_memory
from gazeattn.train.parallelism import choose_parallelism, jobs_threads, usable_cores
from tinyworld import SMALL, tiny_world

OLD_PATH = ["--set", "run.diagnose_every_step=true", "--set", "run.reuse_memory=false"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("speed") / "egtea", seed=3)


def _train(world: Path, out: Path, variant: str, *flags: str) -> dict[str, torch.Tensor]:
    assert main(["train", "--data", str(world), "--model", variant, "--out", str(out), "--steps", "6",
                 "--set", "run.log_every=3", "--set", "run.threads=1", *SMALL, *flags]) == 0
    latest = (out / "checkpoints" / "latest").read_text().strip()
    return load_file(str(out / "checkpoints" / latest / "model.safetensors"))


@pytest.mark.parametrize("variant", MODELS)
def test_the_new_path_reaches_the_same_weights_bit_for_bit(world, tmp_path, variant):
    old = _train(world, tmp_path / "old", variant, *OLD_PATH)
    new = _train(world, tmp_path / "new", variant)
    assert old.keys() == new.keys()
    changed = [k for k in old if not torch.equal(old[k], new[k])]
    assert not changed, f"{variant}: {changed[:5]}"
    records = [json.loads(line) for line in (tmp_path / "new" / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [3, 6]
    if variant not in ("i3d", "gaze-aux", "gaze-oracle"):  # the diagnostics are still in every record
        assert all("attn_z_sensitivity" in r and r["grad_kl_norm"] > 0 for r in train)


def test_training_start_says_the_threads_and_workers(world, tmp_path, capsys):
    assert main(["train", "--data", str(world), "--out", str(tmp_path / "r"), "--steps", "1", *SMALL]) == 0
    out = capsys.readouterr().out
    cores = usable_cores()
    threads = choose_parallelism(cores).threads  # the cores' choice, whatever data.workers says
    assert f"parallelism: {threads} torch thread(s) (chosen) + 0 DataLoader worker(s) (set) on {cores}" in out


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 16, 64])
def test_chosen_threads_and_workers_fill_the_usable_cores_without_exceeding_them(cores):
    p = choose_parallelism(cores)
    assert p.threads >= 1 and p.workers >= 0 and p.threads_chosen and p.workers_chosen
    assert p.threads + p.workers == max(cores, 1 + p.workers)
    assert p.threads + p.workers <= max(cores, 1)
    assert (p.workers == 0) == (cores == 1)


def test_two_cores_give_one_thread_and_one_worker_and_set_values_are_kept():
    assert (choose_parallelism(2).threads, choose_parallelism(2).workers) == (1, 1)
    assert (choose_parallelism(16).threads, choose_parallelism(16).workers) == (12, 4)
    p = choose_parallelism(2, threads=2)  # chosen workers take what the threads leave
    assert (p.threads, p.workers, p.threads_chosen, p.workers_chosen) == (2, 0, False, True)
    for workers in (0, 1, 2, 5):  # chosen threads never depend on the workers (the weights would)
        p = choose_parallelism(2, workers=workers)
        assert (p.threads, p.workers, p.threads_chosen, p.workers_chosen) == (1, workers, True, False)
    p = choose_parallelism(8, threads=3, workers=0)
    assert (p.threads, p.workers) == (3, 0)
    assert "1 torch thread(s) (chosen) + 1 DataLoader worker(s) (chosen) on 2" in choose_parallelism(2).describe()
    for bad in ({"threads": -1}, {"workers": -2}):
        with pytest.raises(ValueError):
            choose_parallelism(2, **bad)
    with pytest.raises(ValueError):
        choose_parallelism(0)


def test_config_defaults_are_chosen_and_bad_values_refused():
    assert DataConfig().workers == -1 and RunConfig().threads == 0
    with pytest.raises(ValueError, match="data.workers"):
        DataConfig(workers=-2)
    with pytest.raises(ValueError, match="run.threads"):
        RunConfig(threads=-1)


def test_study_jobs_keep_one_thread_each_on_two_cores():
    assert jobs_threads(2, 2) == 1 and jobs_threads(2, 1) == 2 and jobs_threads(1, 2) == 1 and jobs_threads(16, 4) == 4


def test_usable_cores_follow_the_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cores() == 6
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun: the processes of one node share its cores
    config = type("C", (), {"run": RunConfig(), "data": DataConfig()})()
    assert parallelism.parallelism_of(config).cores == 1


def test_metrics_window_averages_a_statistic_over_the_steps_that_report_it():
    window = MetricsWindow()
    for i, stats in enumerate(({"eps": 1.0}, {"eps": 3.0, "grad_ratio": 0.5})):
        terms = {"loss": torch.tensor(float(i)), "ce": torch.tensor(1.0), "kl": torch.tensor(2.0),
                 "correct": torch.tensor(1), "stats": stats}
        window.add_step(terms, torch.tensor(1.0), clips=2, data_wait=0.0)
    record = window.record(step=2, lr=0.1, world=1)
    assert record["eps"] == 2.0 and record["grad_ratio"] == 0.5 and record["loss"] == 0.5 and record["acc"] == 0.5
    assert window.sums == {} and window.counts == {}


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_reuse_freed_memory_is_taken_by_glibc():
    assert reuse_freed_memory() is True


def test_a_study_job_keeps_one_thread_and_one_worker_on_two_cores(tmp_path, monkeypatch):
    """``gazeattn study --jobs 2`` (and the demo) on 2 cores: each run trains on 1 torch thread beside 1 worker."""
    import dataclasses

    from gazeattn.study import runner
    from gazeattn.train.config import preset

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(config, folder, **_):
        seen["config"] = config
        raise Stop

    monkeypatch.setattr(runner, "train", fake_train)
    base = preset("cpu")
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, workers=1))  # what --jobs > 1 sets
    before = torch.get_num_threads()
    try:
        with pytest.raises(Stop):
            runner._execute_run(tmp_path, "train", config, {"cell": "x"}, train_progress=False,
                                threads=jobs_threads(2, 2))
    finally:
        torch.set_num_threads(before)
    p = parallelism.parallelism_of(seen["config"], cores=2)
    assert (p.threads, p.workers, p.threads_chosen, p.workers_chosen) == (1, 1, False, False)
