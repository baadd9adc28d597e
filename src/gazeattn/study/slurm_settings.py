"""Where and how a study's cells run on Slurm: the ``[executor]`` table of a study spec, overridden by
``gazeattn study --executor slurm`` options.

::

    [executor]
    partition = "gpu"          # sbatch --partition (default: the cluster's default partition)
    account = "my-lab"         # sbatch --account
    time = 240                 # minutes per cell before Slurm stops it (the cell is requeued and resumes)
    mem_gb = 32                # memory per cell (default: the cluster's default)
    gpus_per_cell = 1          # GPUs per cell (0 on CPU-only partitions)
    cpus_per_cell = 8          # CPUs per cell: torch threads and DataLoader workers are chosen from them
    array_parallelism = 64     # cells of one submission running at once
    max_requeues = 3           # how often a timed-out or preempted cell is requeued
    poll_seconds = 30          # how often the waiting study command looks at the queue
    setup = ["module load cuda"]   # shell lines run before each cell (environment modules, conda activate)
    sbatch = { qos = "high" }  # any other sbatch option, as --KEY=VALUE

Nothing here imports submitit; :mod:`gazeattn.study.slurm_executor` does, when a study is sent to Slurm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["SlurmSettings", "EXECUTORS", "EXECUTOR_KEYS"]

EXECUTORS = ("local", "slurm")
_INTS = {"time": 1, "gpus_per_cell": 0, "cpus_per_cell": 1, "array_parallelism": 1, "max_requeues": 0}


@dataclass(frozen=True)
class SlurmSettings:
    """What each cell's Slurm job asks for (see the module's docstring for each field)."""

    partition: str = ""
    account: str = ""
    time: int = 240
    mem_gb: float = 0.0  # 0: the cluster's default
    gpus_per_cell: int = 1
    cpus_per_cell: int = 8
    array_parallelism: int = 64
    max_requeues: int = 3
    poll_seconds: float = 30.0
    setup: tuple[str, ...] = ()
    sbatch: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in _INTS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"[executor] {name}: want an integer >= {low}, got {value!r}")
        for name in ("mem_gb", "poll_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"[executor] {name}: want a number >= 0, got {value!r}")
        if self.poll_seconds <= 0:
            raise ValueError(f"[executor] poll_seconds: want a number > 0, got {self.poll_seconds!r}")
        for name in ("partition", "account"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"[executor] {name}: want a string, got {getattr(self, name)!r}")
        setup = self.setup
        if isinstance(setup, str) or not all(isinstance(line, str) for line in setup):
            raise ValueError(f"[executor] setup: want a list of shell lines, got {setup!r}")
        object.__setattr__(self, "setup", tuple(setup))
        if not isinstance(self.sbatch, Mapping) or not all(isinstance(k, str) for k in self.sbatch):
            raise ValueError(f"[executor] sbatch: want a table of sbatch options, got {self.sbatch!r}")
        object.__setattr__(self, "sbatch", MappingProxyType(dict(self.sbatch)))

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | None, **overrides: Any) -> "SlurmSettings":
        """The settings of a spec's ``[executor]`` table, then ``overrides`` (command-line options; None values
        are ignored). ValueError names an unknown key or a bad value."""
        table = dict(table or {})
        unknown = sorted(set(table) - set(EXECUTOR_KEYS))
        if unknown:
            raise ValueError(f"[executor]: unknown key(s) {', '.join(unknown)}; known: {', '.join(EXECUTOR_KEYS)}")
        table.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**table)

    def submitit_parameters(self, job_name: str) -> dict[str, Any]:
        """The keyword arguments of ``submitit.SlurmExecutor.update_parameters`` (``max_requeues`` is the
        executor's ``max_num_timeout``)."""
        params: dict[str, Any] = {"job_name": job_name, "time": self.time, "cpus_per_task": self.cpus_per_cell,
                                  "ntasks_per_node": 1, "nodes": 1, "array_parallelism": self.array_parallelism}
        if self.gpus_per_cell:
            params["gpus_per_node"] = self.gpus_per_cell
        if self.partition:
            params["partition"] = self.partition
        if self.account:
            params["account"] = self.account
        if self.mem_gb:
            params["mem"] = f"{int(round(self.mem_gb * 1024))}M"
        if self.setup:
            params["setup"] = list(self.setup)
        if self.sbatch:
            params["additional_parameters"] = {k.replace("-", "_"): v for k, v in self.sbatch.items()}
        return params

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["setup"], out["sbatch"] = list(self.setup), dict(self.sbatch)
        return out


EXECUTOR_KEYS = tuple(f.name for f in dataclasses.fields(SlurmSettings))
