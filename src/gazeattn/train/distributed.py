"""torchrun support: process group from the environment torchrun sets; gloo on CPU, NCCL on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_gather_objects(info: DistInfo, obj):
    """Every rank's ``obj`` in rank order (a list of one on a single process)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(info: DistInfo, obj):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


DEVICE_TYPES = ("cpu", "cuda", "mps")  # besides "auto": the best of them this torch can use


def parse_device(name: str) -> torch.device | None:
    """The device ``name`` spells (None for "auto"), or ValueError when torch cannot parse it or it is not of
    DEVICE_TYPES. Whether this machine has it is :func:`check_device`'s question (a config may be written on a
    machine without the GPU it runs on)."""
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ValueError(f"{name!r} is not a device gazeattn runs on: want auto, {', '.join(DEVICE_TYPES)} or cuda:N")
    return device


def available_devices() -> list[str]:
    """The device names this torch can use here: auto, cpu, then cuda and cuda:N per GPU, then mps."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(name: str, local_rank: int = 0) -> str:
    """``name`` when this torch can use it here ("cuda" means GPU ``local_rank``), else ValueError naming what is
    available."""
    device = parse_device(name)
    if device is None or device.type == "cpu":
        return name
    wanted = device if device.index is not None or device.type != "cuda" else torch.device("cuda", local_rank)
    usable = available_devices()
    if str(wanted) not in usable:
        raise ValueError(f"{name!r} is not available here (torch {torch.__version__}): use one of "
                         f"{', '.join(usable)}")
    return name


def pick_device(name: str, info_local_rank: int = 0) -> torch.device:
    """The device to run on (``auto``: CUDA GPU ``info_local_rank`` when there is one, else the CPU); ValueError
    for a device this torch cannot use here (:func:`check_device`)."""
    check_device(name, info_local_rank)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        torch.cuda.set_device(info_local_rank)
        return torch.device("cuda", info_local_rank)
    return torch.device(name)
