"""LICENSE and CITATION.cff agree with pyproject.toml (license, version), and the README points to both."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def cff_value(key: str) -> str:
    m = re.search(rf"^{key}:\s*(.+)$", (ROOT / "CITATION.cff").read_text(encoding="utf-8"), re.M)
    assert m, f"CITATION.cff has no top-level {key}"
    return m.group(1).strip().strip('"')


def test_license_file_is_the_license_pyproject_declares():
    assert PROJECT["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the gazeattn authors\n")
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_citation_matches_pyproject_and_cites_the_reproduced_papers():
    assert cff_value("cff-version") == "1.2.0"
    assert cff_value("type") == "software"
    assert cff_value("version") == PROJECT["version"]
    assert cff_value("license") == PROJECT["license"]
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert "Integrating Human Gaze into Attention for Egocentric Activity Recognition" in text  # Min & Corso 2021
    assert "In the Eye of Beholder: Joint Learning of Gaze and Actions in First Person Video" in text  # Li et al.


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for needle in ("pip install -e .", "make demo", "make test", "load_predictor", "CITATION.cff", "LICENSE",
                   "## Dependencies, and why each is there"):
        assert needle in readme, needle
    for extra in PROJECT["optional-dependencies"]:  # every extra says why it exists
        assert f"| `{extra}` |" in readme, extra
