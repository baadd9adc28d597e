"""Paths to the small real files kept in ``tests/data`` (see its README): EGTEA Gaze+ gaze exports with the
official reader's tables, the real split files, and the key tables of reference checkpoints."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
EGTEA = DATA / "egtea"
REFERENCE_KEYS = DATA / "reference" / "keys"

# The four real gaze exports in EGTEA / "gaze_data" (three BeGaze 3.1, one BeGaze 3.4: the P10 one).
GAZE_NAMES = ["OP01-R02-TurkeySandwich", "OP01-R06-GreekSalad", "OP04-R06-GreekSalad", "P10-R02-TurkeySandwich"]


def gaze_file(name: str) -> Path:
    """The real BeGaze export of session ``name``."""
    return EGTEA / "gaze_data" / f"{name}.txt"


def official_table_file(name: str) -> Path:
    """The official EGTEA reader's table for :func:`gaze_file` (``name``), as ``.npy``."""
    return EGTEA / "gaze_official" / f"{name}.npy"
