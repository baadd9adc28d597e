"""Shared test helpers: per-test seeding from the test's name, paths to the real EGTEA fixtures."""

from __future__ import annotations

import hashlib
import zlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = (REPO / ".." / "shared" / "fixtures" / "egtea").resolve()


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


@pytest.fixture(scope="session")
def egtea_fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"real EGTEA fixtures not found at {FIXTURES} (CI always has them)")
    return FIXTURES


@pytest.fixture
def gen(request) -> torch.Generator:
    """A torch.Generator seeded from the test's own name (common random numbers within a test)."""
    return torch.Generator().manual_seed(zlib.crc32(request.node.nodeid.encode()))
