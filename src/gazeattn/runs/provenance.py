"""``RUN/provenance.json``: where a run folder's weights were computed, one entry per start or resume.

Each entry is :func:`gazeattn.utils.provenance.provenance` (time, host, code version, the facts that decide the
floats and their one-line fingerprint) with the step it started from. A run resumed on another machine, or with
other code, has entries that differ: :func:`run_fingerprints` and :func:`run_code_versions` say so, and the study
report flags it. The file is rewritten atomically by the run folder's one writer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gazeattn.utils.atomic import write_text_atomic
from gazeattn.utils.provenance import code_text

PROVENANCE_FILE = "provenance.json"
FORMAT = "gazeattn-provenance-1"


def read_provenance(run_dir: str | Path) -> list[dict[str, Any]]:
    """The entries of ``RUN/provenance.json`` (empty when it is missing or unreadable: runs written before it)."""
    try:
        data = json.loads((Path(run_dir) / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("entries") if isinstance(data, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def append_provenance(run_dir: str | Path, entry: dict[str, Any], *, start_step: int) -> Path:
    """Add ``entry`` (started at ``start_step``) to ``RUN/provenance.json``; entries of steps at or after
    ``start_step`` are dropped first (their weights were discarded by the resume)."""
    kept = [e for e in read_provenance(run_dir) if int(e.get("start_step", 0)) < start_step]
    data = {"format": FORMAT, "entries": [*kept, {**entry, "start_step": int(start_step)}]}
    return write_text_atomic(Path(run_dir) / PROVENANCE_FILE, json.dumps(data, indent=2) + "\n")


def run_fingerprints(entries: list[dict[str, Any]]) -> list[str]:
    """The distinct float fingerprints of a run's entries, in order."""
    return list(dict.fromkeys(str(e.get("fingerprint")) for e in entries if e.get("fingerprint")))


def run_code_versions(entries: list[dict[str, Any]]) -> list[str]:
    """The distinct code versions (``abc1234``, ``abc1234 (dirty)``) of a run's entries, in order."""
    return list(dict.fromkeys(code_text(e["code"]) for e in entries if isinstance(e.get("code"), dict)))
