"""The cores this process may use: what training's threads and workers, the study's jobs and the provenance
record are chosen from or say."""

from __future__ import annotations

import os

__all__ = ["usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's logical CPUs, at least 1. Inside a
    Slurm job, at most the CPUs it was given (``SLURM_CPUS_PER_TASK``): clusters that do not pin a job's CPUs leave
    it the whole node's affinity, and a job that took them all would slow its neighbours."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = max(1, os.cpu_count() or 1)
    given = os.environ.get("SLURM_CPUS_PER_TASK", "") if os.environ.get("SLURM_JOB_ID") else ""
    return min(cores, int(given)) if given.isdigit() and int(given) > 0 else cores
