"""Shared test helpers: per-test seeding from the test's name; the one-node Slurm of the tests marked ``slurm``.
(Paths to the real data files: realdata.py.)"""

from __future__ import annotations

import hashlib
import zlib
import random

import numpy as np
import pytest
import torch

from slurm_cluster import NoCluster, SlurmCluster, find_cluster


def seed_from_name(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


@pytest.fixture(autouse=True)
def _seed_from_test_name(request):
    """Every test is seeded from its own name: reproducible, and independent of test order."""
    seed = seed_from_name(request.node.nodeid)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    yield


@pytest.fixture
def rng(request) -> np.random.Generator:
    return np.random.default_rng(seed_from_name(request.node.nodeid))


@pytest.fixture
def gen(request) -> torch.Generator:
    """A torch.Generator seeded from the test's own name (common random numbers within a test)."""
    return torch.Generator().manual_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """The one-node Slurm of `.ci/slurm-cluster start` (tests/slurm_cluster.py); skips, saying why, without one."""
    try:
        return find_cluster()
    except NoCluster as why:
        pytest.skip(str(why))


@pytest.fixture
def cuda_device() -> torch.device:
    """The first CUDA GPU, for the tests marked ``gpu``; skips, saying why, where this torch has none."""
    if not torch.cuda.is_available():
        pytest.skip(f"no CUDA GPU here (torch {torch.__version__}, torch.cuda.is_available() is False)")
    return torch.device("cuda", 0)
