"""Which clips each step trains on: a pure function of (seed, step, rank), so resuming is exact.

Step s of a run with N clips, global batch G = batch × world, belongs to epoch e = s // (N // G) and takes
positions [(s mod N//G)·G, +G) of a permutation of the clips drawn from (seed, e); rank r takes its slice of
that global batch. Items are ``(index, epoch)`` pairs so the dataset's augmentation randomness follows the
same epoch in every DataLoader worker.

Gaze-rich batches (:class:`GazeRichBatchSampler`, ``data.gaze_batch_share``): where measured gaze is scarce, a
plain permutation leaves many batches without a single KL target (at 10 % of clips and batch 8, 43 % of them).
The stratified sampler fills k = round(share · batch) places of every batch from the clips with gaze and the other
batch − k from the rest, each from its own stream of permutations, as semi-supervised training fixes the ratio
of labelled to unlabelled examples in a batch. The clips with gaze are seen more often, each time in another
random crop.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

GAZED_STREAM_SALT = 0x6A2E  # the stream of permutations of the clips with gaze, beside the others'


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    def __init__(self, n_items: int, batch: int, *, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world: int = 1):
        if n_items < batch * world:
            raise ValueError(f"{n_items} training clips cannot fill one global batch of {batch}×{world}")
        self.n, self.batch, self.seed = n_items, batch, seed
        self.start, self.total, self.rank, self.world = start_step, total_steps, rank, world

    def batch_for(self, step: int) -> list[tuple[int, int]]:
        return stream_places(range(self.n), self.seed, step, self.batch, self.rank, self.world)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.total):
            yield self.batch_for(step)

    def __len__(self) -> int:
        return max(0, self.total - self.start)


def stream_places(items: Sequence[int], seed: int, step: int, places: int, rank: int = 0,
                  world: int = 1) -> list[tuple[int, int]]:
    """Rank ``rank``'s ``places`` of step ``step`` in a stream of permutations of ``items`` (``(item, epoch)`` pairs),
    as :class:`StepBatchSampler` takes its batches: each step takes the next ``places · world`` positions of the
    epoch's permutation, drawn from (seed, epoch), and an epoch's tail that cannot fill a step is left out, so a
    step never holds one item twice. Only when ``items`` cannot fill one step does the stream run on across epochs
    (an item may then come twice, in two epochs' crops)."""
    n, per_step = len(items), places * world
    if n >= per_step:
        epoch, pos = divmod(step, n // per_step)
        positions = [(epoch, pos * per_step + rank * places + j) for j in range(places)]
    else:
        positions = [divmod(step * per_step + rank * places + j, n) for j in range(places)]
    perms = {e: torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + e))
             for e in {e for e, _ in positions}}
    return [(int(items[int(perms[e][p])]), e) for e, p in positions]


def gazed_places(share: float, batch: int) -> int:
    """k: the places of a batch of ``batch`` given to clips with gaze, round(share · batch) (half up), at least 1
    for a share > 0 and at most batch − 1."""
    if share <= 0.0:
        return 0
    return min(batch - 1, max(1, int(share * batch + 0.5)))


class GazeRichBatchSampler(StepBatchSampler):
    """Each step's batch: k = :func:`gazed_places` places from a stream over the clips with gaze (``gazed``), the
    rest from a stream over the clips without, both pure functions of (seed, step, rank). A rank's places are
    its slice of the step's global places, so the clips of a step are distinct, across ranks too, while each stream
    has enough clips to fill its places of a step (:func:`stream_places`)."""

    def __init__(self, gazed: Sequence[bool], batch: int, *, share: float, seed: int, start_step: int,
                 total_steps: int, rank: int = 0, world: int = 1):
        super().__init__(len(gazed), batch, seed=seed, start_step=start_step, total_steps=total_steps,
                         rank=rank, world=world)
        self.with_gaze = [i for i, g in enumerate(gazed) if g]
        self.without = [i for i, g in enumerate(gazed) if not g]
        if not self.with_gaze or not self.without:
            raise ValueError("gaze-rich batches need clips both with and without measured gaze "
                             f"({len(self.with_gaze)} with, {len(self.without)} without)")
        self.k = gazed_places(share, batch)

    def batch_for(self, step: int) -> list[tuple[int, int]]:
        k, rest = self.k, self.batch - self.k
        gazed = stream_places(self.with_gaze, self.seed ^ GAZED_STREAM_SALT, step, k, self.rank, self.world)
        return gazed + stream_places(self.without, self.seed, step, rest, self.rank, self.world)


def train_sampler(gazed: Sequence[bool], batch: int, *, share: float, seed: int, start_step: int,
                  total_steps: int, rank: int = 0, world: int = 1) -> StepBatchSampler:
    """The plain sampler, or the gaze-rich one where ``share`` > 0 and the clips with gaze are fewer than that
    share of the training clips (so a run with plenty of gaze samples as it always did)."""
    n_gazed = sum(bool(g) for g in gazed)
    if share > 0.0 and 0 < n_gazed < share * len(gazed):
        return GazeRichBatchSampler(gazed, batch, share=share, seed=seed, start_step=start_step,
                                    total_steps=total_steps, rank=rank, world=world)
    return StepBatchSampler(len(gazed), batch, seed=seed, start_step=start_step, total_steps=total_steps,
                            rank=rank, world=world)
