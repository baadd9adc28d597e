"""Shared test helpers: per-test seeding from the test's name. (Paths to the real data files: realdata.py.)"""

from __future__ import annotations

import hashlib
import zlib
import random

import numpy as np
import pytest
import torch


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
