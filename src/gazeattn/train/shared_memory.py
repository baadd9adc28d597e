"""Will the batches in flight fit in shared memory? A warning before training, not a bus error during it.

DataLoader workers hand batches over in POSIX shared memory (``/dev/shm`` on Linux). Containers often mount
only 64 MB there (Docker's default), and a two-stream reference batch (4 clips) alone is ~92 MB, so a worker
dies with "Bus error" mid-training. :func:`shared_memory_warning` estimates the bytes in flight — each worker's
``prefetch_factor`` batches, the batches the prefetch thread holds, and the one being trained on — and
compares them with the free space.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from gazeattn.data.dataset import ClipConfig

SHM_PATH = Path("/dev/shm")
LOADER_PREFETCH_FACTOR = 2  # torch's DataLoader default, which training uses


def batch_bytes(clip: ClipConfig, batch: int) -> int:
    """Bytes of the video tensors of one batch: float32 RGB (3 channels) and flow (2) of T×crop² each."""
    channels = 3 + (2 if clip.flow else 0)
    return 4 * channels * clip.frames * clip.crop * clip.crop * batch


def batches_in_flight(workers: int, prefetch: int) -> int:
    """Batches that can sit in shared memory at once (0 without workers: nothing is shared)."""
    if workers <= 0:
        return 0
    return workers * LOADER_PREFETCH_FACTOR + prefetch + 1


def shared_memory_warning(clip: ClipConfig, batch: int, workers: int, prefetch: int, *, processes: int = 1,
                          path: Path = SHM_PATH) -> str | None:
    """A warning when the estimated batches in flight of ``processes`` training processes on this machine
    (torchrun's local world size) exceed the free shared memory; None when they fit, when there are no
    workers, or where ``path`` does not exist (not Linux)."""
    n = batches_in_flight(workers, prefetch) * max(processes, 1)
    if n == 0 or not sys.platform.startswith("linux") or not path.is_dir():
        return None
    one = batch_bytes(clip, batch)
    free = shutil.disk_usage(path).free
    if n * one <= free:
        return None
    mb = 1024 * 1024
    who = f"{processes} processes × " if processes > 1 else ""
    return (f"{path} has {free / mb:.0f} MB free, but {who}{workers} DataLoader worker(s) with "
            f"data.prefetch={prefetch} can hold {n} batches of about {one / mb:.0f} MB there ({n * one / mb:.0f} MB): "
            "workers may die with 'Bus error'. Give the container more shared memory (docker run --shm-size=2g) "
            "or lower data.workers, data.prefetch or the batch size")
