"""How many torch threads and DataLoader workers a training process uses: chosen from the cores it may use.

torch's intra-op threads and the DataLoader's worker processes share the cores. When their sum exceeds the
cores, OpenMP threads wait on each other's barriers while a worker or another process holds a core, and a
step can take ten times as long (measured on 2 cores beside one other job; see ``gazeattn bench speed
--contention``). So by default (``run.threads = 0``, ``data.workers = -1``) they are chosen so that
threads + workers = the usable cores:

    workers = 0 on 1 core, else min(4, max(1, cores // 4))      threads = max(1, cores − workers)

On 2 cores that is 1 torch thread and 1 worker. Measured for 60 steps of the cpu preset on a 2-core Xeon:
alone, as fast as 2 threads and no worker (11.8–14.5 s against 12.0–12.1 s of training loop); beside other
jobs (load average ~8), 41 s against 210 s (and 265 s for the old 2 threads + 2 workers). A value set explicitly is kept. The
chosen threads depend on the cores only, never on ``data.workers`` (a run's floats can differ in the last bits
with torch's thread count, and batches must not depend on the workers: ``--workers 0`` trains the same weights
as the default, on one thread less than the cores then); chosen workers with ``run.threads`` set take at most
the cores the threads leave. The usable cores are ``len(os.sched_getaffinity(0))`` (what a
container's cpuset or ``taskset`` allows), else ``os.cpu_count()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gazeattn.utils.cores import usable_cores

__all__ = ["Parallelism", "choose_parallelism", "jobs_threads", "parallelism_of", "usable_cores", "CHOSEN_WORKERS",
           "CHOSEN_THREADS"]

CHOSEN_THREADS = 0  # run.threads = 0: chosen
CHOSEN_WORKERS = -1  # data.workers = -1: chosen
MAX_CHOSEN_WORKERS = 4


@dataclass(frozen=True)
class Parallelism:
    """torch intra-op threads and DataLoader workers of one training process, and the cores they were chosen for."""

    threads: int
    workers: int
    cores: int
    threads_chosen: bool
    workers_chosen: bool

    def describe(self) -> str:
        """The line the training start prints."""
        def how(chosen: bool) -> str:
            return "chosen" if chosen else "set"

        return (f"parallelism: {self.threads} torch thread(s) ({how(self.threads_chosen)}) + {self.workers} "
                f"DataLoader worker(s) ({how(self.workers_chosen)}) on {self.cores} usable core(s)")


def choose_parallelism(cores: int, *, threads: int = CHOSEN_THREADS, workers: int = CHOSEN_WORKERS) -> Parallelism:
    """``threads`` (0: chosen) and ``workers`` (-1: chosen) for a process that may use ``cores`` cores: a pure
    function of its arguments (see the module docstring for the rule)."""
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    if threads < 0 or workers < CHOSEN_WORKERS:
        raise ValueError(f"threads must be >= 0 and workers >= -1, got {threads} and {workers}")
    workers_chosen, threads_chosen = workers == CHOSEN_WORKERS, threads == CHOSEN_THREADS
    default = 0 if cores <= 1 else min(MAX_CHOSEN_WORKERS, max(1, cores // 4))
    if threads_chosen:  # never from data.workers: the weights may depend on the threads, never on the workers
        threads = max(1, cores - default)
    if workers_chosen:
        workers = default if threads_chosen else max(0, min(default, cores - threads))
    return Parallelism(threads=threads, workers=workers, cores=cores, threads_chosen=threads_chosen,
                       workers_chosen=workers_chosen)


def parallelism_of(config, cores: int | None = None) -> Parallelism:
    """The choice for a :class:`~gazeattn.train.config.TrainConfig` (``run.threads``, ``data.workers``) on
    ``cores`` (default: the usable cores shared by the ``LOCAL_WORLD_SIZE`` processes torchrun starts here)."""
    if cores is None:
        cores = max(1, usable_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    return choose_parallelism(cores, threads=config.run.threads, workers=config.data.workers)


def jobs_threads(cores: int, jobs: int) -> int:
    """torch threads of each of ``jobs`` training processes run at once on ``cores`` (``gazeattn study --jobs``):
    cores // jobs, at least 1 (on 2 cores with 2 jobs: 1 thread each, beside the 1 DataLoader worker the study
    gives every job)."""
    return max(1, cores // max(1, jobs))
