"""Every relative link and image in README.md and docs/**/*.md points to a file or folder of the repository, and
every ``#anchor`` to a heading of its page (GitHub's heading ids), so moving a page or renaming a heading cannot
leave a dead link behind. Links inside code (fenced blocks, inline code) are not links and are skipped."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")


def prose_lines(text: str, *, blank_code: bool = True) -> list[tuple[int, str]]:
    """(1-based line number, line) outside fenced code blocks, with inline code blanked out unless not asked."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line) if blank_code else line))
    return out


def github_slug(heading: str) -> str:
    """The id GitHub gives a heading: lower case, markup and punctuation dropped, spaces become hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    ids = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8"), blank_code=False):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = github_slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            ids.add(slug if n == 0 else f"{slug}-{n}")
    return ids


def links(page: Path) -> list[tuple[int, str]]:
    return [(number, m.group(1)) for number, line in prose_lines(page.read_text(encoding="utf-8"))
            for m in LINK.finditer(line)]


def test_the_pages_exist_and_have_links():
    assert (ROOT / "README.md").is_file() and len(PAGES) > 5
    assert sum(len(links(p)) for p in PAGES) > 20  # the parser finds the links at all


def test_github_slug():
    assert github_slug("Same seed, another machine") == "same-seed-another-machine"
    assert github_slug("The demo on two kernel sets (`make demo`)") == "the-demo-on-two-kernel-sets-make-demo"
    assert github_slug("…the gaze is missing or short") == "the-gaze-is-missing-or-short"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
    bad = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        dest = page if not path_part else (page.parent / unquote(path_part)).resolve()
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if not dest.exists():
            bad.append(f"{where}: no such file or folder")
        elif not dest.resolve().is_relative_to(ROOT):
            bad.append(f"{where}: points outside the repository")
        elif fragment and dest.suffix == ".md" and unquote(fragment) not in anchors(dest):
            bad.append(f"{where}: no heading with id #{fragment} in {dest.relative_to(ROOT)}")
    assert not bad, "dead links:\n" + "\n".join(bad)
