"""EGTEA Gaze+ annotation files: the label indices and the train/test split lists.

- ``action_idx.txt`` / ``verb_idx.txt`` / ``noun_idx.txt``: ``<name with spaces> <1-based id>`` per line,
  split from the right.
- ``train_splitN.txt`` / ``test_splitN.txt``: ``<clip> <action> <verb> <noun> [<noun> ...]`` with 1-based ids
  (up to three nouns in the official release; the WACV 2021 reference's copy drops secondary nouns).

Variants seen in the wild are accepted: CRLF line endings, a UTF-8 byte-order mark, blank lines, tokens
wrapped in single or double quotes, and comma or tab separators. Labels are returned 0-based. Everything
else that is off raises :class:`~gazeattn.utils.errors.DataError` naming the file and the 1-based line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gazeattn.data.clipnames import ClipName, parse_clip_name
from gazeattn.utils.errors import DataError

_SEPARATORS = re.compile(r"[\s,]+")
_INDEX_LINE = re.compile(r"^(.*\S)\s+(\S+)$")
_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only; 18 digits can never overflow or blow up memory


@dataclass(frozen=True)
class SplitEntry:
    """One line of a split file. Labels are 0-based."""

    clip: ClipName
    action: int
    verb: int
    nouns: tuple[int, ...]
    line: int

    @property
    def noun(self) -> int:
        """The first (primary) noun."""
        return self.nouns[0]


@dataclass(frozen=True)
class LabelIndex:
    """An id → name table read from one ``*_idx.txt`` file (ids 0-based here)."""

    names: tuple[str, ...]
    path: str | None = None

    def __len__(self) -> int:
        return len(self.names)

    def name(self, label: int) -> str:
        return self.names[label]


def _read_lines(path: Path) -> list[str]:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise DataError(path, f"cannot read: {err.strerror or err}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(path, f"not UTF-8 text (byte {err.start})", line) from err
    # Split at LF only (CRLF's CR stripped): line numbers match `grep -n`, unlike str.splitlines(), which
    # also breaks at \v, \f, U+2028 and friends.
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _strip_quotes(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def _strip_line_quotes(line: str) -> str:
    """Remove a quote pair wrapping the whole line ('a 1 2 3'), not the quotes of a first and a last token."""
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'" and line[0] not in line[1:-1]:
        return line[1:-1]
    return line


def _tokens(line: str) -> list[str]:
    line = line.strip()
    # A quoted line: "<clip>" 1 2 3 or '<clip> 1 2 3'
    return [t for t in (_strip_quotes(tok) for tok in _SEPARATORS.split(_strip_line_quotes(line))) if t]


def read_label_index(path: str | Path) -> LabelIndex:
    """Read ``<name with spaces> <1-based id>`` lines. Ids must be exactly 1..N (in any order)."""
    path = Path(path)
    by_id: dict[int, str] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        line = _strip_line_quotes(line.strip())
        if not line:
            continue
        m = _INDEX_LINE.match(line)
        name, id_text = (_strip_quotes(m[1].strip()), _strip_quotes(m[2])) if m else ("", "")
        if not name or not _ID.fullmatch(id_text):
            raise DataError(path, f"expected '<name> <1-based id>', got {line!r}", lineno)
        label = int(id_text)
        if label < 1:
            raise DataError(path, f"ids are 1-based, got {label}", lineno)
        if label in by_id:
            raise DataError(path, f"id {label} given twice ({by_id[label]!r} and {name!r})", lineno)
        by_id[label] = name
    if not by_id:
        raise DataError(path, "no entries")
    if max(by_id) != len(by_id):  # ids are unique and >= 1: contiguous exactly when max == count
        missing = [i for i in range(1, len(by_id) + 1) if i not in by_id]
        raise DataError(path, f"ids are not contiguous: missing {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    return LabelIndex(tuple(by_id[i] for i in range(1, len(by_id) + 1)), str(path))


def read_split(
    path: str | Path,
    *,
    n_actions: int | None = None,
    n_verbs: int | None = None,
    n_nouns: int | None = None,
) -> list[SplitEntry]:
    """Read a split file into typed rows (0-based labels).

    When the index sizes are given, every id is checked against them ("label out of range" names the line).
    Duplicate clip names are an error: they would silently weight a clip twice.
    """
    path = Path(path)
    entries: list[SplitEntry] = []
    seen: dict[str, int] = {}
    limits = {"action": n_actions, "verb": n_verbs, "noun": n_nouns}
    for lineno, line in enumerate(_read_lines(path), start=1):
        toks = _tokens(line)
        if not toks:
            continue
        if len(toks) < 4:
            raise DataError(path, f"expected '<clip> <action> <verb> <noun> [<noun>...]', got {line.strip()!r}", lineno)
        clip = parse_clip_name(toks[0], path=str(path), line=lineno)
        ids = []
        for tok in toks[1:]:
            if not _ID.fullmatch(tok):
                raise DataError(path, f"label {tok!r} is not a positive integer", lineno)
            ids.append(int(tok))
        for kind, value in zip(("action", "verb") + ("noun",) * (len(ids) - 2), ids):
            limit = limits[kind]
            if value < 1 or (limit is not None and value > limit):
                bound = f"1..{limit}" if limit is not None else ">= 1"
                raise DataError(path, f"{kind} label {value} out of range ({bound})", lineno)
        if clip.name in seen:
            raise DataError(path, f"duplicate clip {clip.name} (first on line {seen[clip.name]})", lineno)
        seen[clip.name] = lineno
        entries.append(SplitEntry(clip, ids[0] - 1, ids[1] - 1, tuple(i - 1 for i in ids[2:]), lineno))
    if not entries:
        raise DataError(path, "no clips in split file")
    return entries
