"""Which clips each step trains on: a pure function of (seed, step, rank), so resuming is exact.

Step s of a run with N clips, global batch G = batch × world, belongs to epoch e = s // (N // G) and takes
positions [(s mod N//G)·G, +G) of a permutation of the clips drawn from (seed, e); rank r takes its slice of
that global batch. Items are ``(index, epoch)`` pairs so the dataset's augmentation randomness follows the
same epoch in every DataLoader worker.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    def __init__(self, n_items: int, batch: int, *, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world: int = 1):
        if n_items < batch * world:
            raise ValueError(f"{n_items} training clips cannot fill one global batch of {batch}×{world}")
        self.n, self.batch, self.seed = n_items, batch, seed
        self.start, self.total, self.rank, self.world = start_step, total_steps, rank, world
        self.steps_per_epoch = n_items // (batch * world)

    def batch_for(self, step: int) -> list[tuple[int, int]]:
        epoch, pos = divmod(step, self.steps_per_epoch)
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        g = self.batch * self.world
        chunk = perm[pos * g:(pos + 1) * g]
        mine = chunk[self.rank * self.batch:(self.rank + 1) * self.batch]
        return [(int(i), epoch) for i in mine]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.total):
            yield self.batch_for(step)

    def __len__(self) -> int:
        return max(0, self.total - self.start)
