"""The one-node Slurm of `.ci/slurm-cluster start` runs jobs, two 1-CPU jobs side by side; without a cluster the
slurm tests skip and say why."""

from __future__ import annotations

import re
import socket

import pytest

from slurm_cluster import NOT_RUNNING, NoCluster, find_cluster


@pytest.mark.slurm
def test_a_batch_job_runs_on_the_node(slurm_cluster, tmp_path):
    job = slurm_cluster.submit("--wrap", "hostname", f"--output={tmp_path}/%j.out", cwd=tmp_path)
    assert slurm_cluster.wait(job, timeout=60) == "COMPLETED"
    assert (tmp_path / f"{job}.out").read_text().strip() == socket.gethostname().split(".")[0]


@pytest.mark.slurm
def test_two_one_cpu_jobs_with_memory_run_side_by_side(slurm_cluster, tmp_path):
    """Cores and memory are consumable: two jobs of 1 CPU and 100 MB each share the 2-CPU node at once."""
    # each job waits (at most 60 s) until the other one has started too: they finish only if both run at once
    wrap = "touch {me}.started; for i in $(seq 240); do [ -e {other}.started ] && exit 0; sleep 0.25; done; exit 1"
    jobs = [slurm_cluster.submit("--cpus-per-task=1", "--mem=100M", f"--output={tmp_path}/{me}.out",
                                 "--wrap", wrap.format(me=me, other=other), cwd=tmp_path)
            for me, other in (("a", "b"), ("b", "a"))]
    assert [slurm_cluster.wait(job, timeout=90) for job in jobs] == ["COMPLETED", "COMPLETED"]


def test_without_a_cluster_the_reason_is_the_skip_message(tmp_path, monkeypatch):
    monkeypatch.setenv("GAZEATTN_SLURM_DIR", str(tmp_path))
    with pytest.raises(NoCluster, match=f"^{re.escape(NOT_RUNNING)}$"):
        find_cluster()
    (tmp_path / "skip-reason").write_text("not root (uid 1000): installing Slurm and running slurmd need root\n")
    with pytest.raises(NoCluster, match=r"^no Slurm cluster here: not root \(uid 1000\).*need root$"):
        find_cluster()
