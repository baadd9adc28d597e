"""Property / fuzz tests for the annotation parsers (``read_split``, ``read_label_index``, ``parse_clip_name``).

The contract: any input either parses to values that satisfy the documented invariants (0-based labels within
the given ranges, clip names that re-parse to themselves and round-trip through ``ClipName.name`` when written
in the canonical zero-padded form, entries numbered by their physical line) or raises
:class:`gazeattn.utils.errors.DataError` whose message names the file, and ``path:line`` when it is about a line.
Never any other exception type.

Hypothesis runs derandomized (the same examples every run). The examples at the bottom pin the edge cases
fuzzing brought up: digits that are not ASCII, overlong digit runs, line breaks other than LF, huge ids, and
fully quoted lines.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazeattn.data.annotations import LabelIndex, SplitEntry, read_label_index, read_split
from gazeattn.data.clipnames import ClipName, parse_clip_name
from gazeattn.utils.errors import DataError

_QUIET = [HealthCheck.too_slow, HealthCheck.large_base_example]
FUZZ = settings(derandomize=True, deadline=None, max_examples=100, suppress_health_check=_QUIET)
ROUND_TRIP = settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=_QUIET)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_parsers")


# ------------------------------------------------------------------------------------------------- checkers


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _physical_lines(text: str) -> list[str]:
    """Lines as an editor or ``grep -n`` numbers them: split at LF (a CRLF's CR is stripped by the parsers)."""
    return text.split("\n")


def _check_error(err: DataError, path: Path, n_lines: int) -> None:
    """The message starts ``path:line: `` (a line that exists) or ``path: `` (about the whole file)."""
    msg = str(err)
    assert err.path == str(path), msg
    if err.line is None:
        assert msg.startswith(f"{path}: "), msg
    else:
        assert msg.startswith(f"{path}:{err.line}: "), msg
        assert 1 <= err.line <= n_lines, (err.line, n_lines)


# -------------------------------------------------------------------------------------------------- strategies

_SESSION_PART = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=8)
_SESSIONS = st.lists(_SESSION_PART, min_size=1, max_size=4).map("-".join)


@st.composite
def canonical_clips(draw) -> ClipName:
    start_ms = draw(st.integers(0, 10**7))
    start = draw(st.integers(0, 999_999))
    return ClipName(
        draw(_SESSIONS),
        start_ms,
        start_ms + draw(st.integers(0, 10**6)),
        start,
        start + draw(st.integers(0, 3000)),
    )


_NASTY = [
    "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "1e3", "1.5", "-1", "0", "00", "+3", "0x1F", "9" * 25,
    "18446744073709551617", "²", "１", "٣", "", '"', "'", '""', "''", "F000001", "é", "\u200b", "\x00", "名前",
    "P01-R01-X-1-2-F000001-F000002", "S-1-2-F000009-F000001", "S-9-1-F000001-F000009", "S--1-2-F000001-F000002",
    "S-1-2-F-1-F000002", "-1-2-F000001-F000002", "S-1-2-F000001-F000002-", "OP01-R02-TurkeySandwich",
]
_TOKENS = st.one_of(
    st.sampled_from(_NASTY),
    st.integers(-3, 300).map(str),
    canonical_clips().map(lambda c: c.name),
    st.text(max_size=6),
)
_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le"])


@st.composite
def token_files(draw) -> bytes:
    """Line-structured junk: nasty tokens, mixed separators, quotes, line endings and encodings."""
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        toks = draw(st.lists(_TOKENS, max_size=7))
        sep = draw(st.sampled_from([" ", "\t", ",", ", ", "  "]))
        line = sep.join(toks)
        if draw(st.booleans()):
            q = draw(st.sampled_from(['"', "'"]))
            line = q + line + q
        lines.append(line)
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return text.encode(draw(_ENCODINGS), errors="replace")


def _quote(tok: str, q: str) -> str:
    return f"{q}{tok}{q}" if q else tok


@st.composite
def valid_split_files(draw) -> tuple[bytes, list[SplitEntry], dict[str, int]]:
    """A valid split file in one of the accepted variants, and the entries it must parse to."""
    limits = {"n_actions": draw(st.integers(1, 120)), "n_verbs": draw(st.integers(1, 20)),
              "n_nouns": draw(st.integers(1, 60))}
    clips = draw(st.lists(canonical_clips(), min_size=1, max_size=6, unique_by=lambda c: c.name))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = "\ufeff" if draw(st.booleans()) else ""
    lineno, expected = 0, []
    for clip in clips:
        while draw(st.integers(0, 4)) == 0:  # blank or whitespace-only lines
            text += draw(st.sampled_from(["", " ", "\t"])) + newline
            lineno += 1
        action = draw(st.integers(1, limits["n_actions"]))
        verb = draw(st.integers(1, limits["n_verbs"]))
        nouns = draw(st.lists(st.integers(1, limits["n_nouns"]), min_size=1, max_size=3))
        toks = [clip.name] + [str(i) for i in (action, verb, *nouns)]
        style = draw(st.sampled_from(["plain", "tokens", "line"]))
        if style == "tokens":
            quotes = [draw(st.sampled_from(["", '"', "'"])) for _ in toks]
            if quotes[0] and quotes[0] == quotes[-1]:
                quotes[-1] = ""  # first and last token quoted alike: pinned separately below
            toks = [_quote(t, q) for t, q in zip(toks, quotes)]
        sep = draw(st.sampled_from([" ", "\t", ",", ", ", " , "]))
        line = sep.join(toks)
        if style == "line":
            line = _quote(line, draw(st.sampled_from(['"', "'"])))
        text += draw(st.sampled_from(["", " "])) + line + draw(st.sampled_from(["", " "])) + newline
        lineno += 1
        expected.append(SplitEntry(clip, action - 1, verb - 1, tuple(n - 1 for n in nouns), lineno))
    if draw(st.booleans()):
        text = text[: -len(newline)]  # no final newline
    return text.encode("utf-8"), expected, limits


_INDEX_NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))


def _is_clean_name(name: str) -> bool:
    quoted = len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'"
    return bool(name) and name == name.strip() and not quoted


_INDEX_NAMES = st.text(_INDEX_NAME_CHARS, min_size=1, max_size=12).filter(_is_clean_name)


_NASTY_CHARS = ["\x0c", "\x0b", "\x85", "\u2028", "\x1e", "\r", "\n", "\t", "\x00", "²", "①", "１", "٣", '"', "'",
                ",", "-", "F", " ", "é", "\ufeff", "\ud7ff", "0", "9"]


@st.composite
def mutated(draw, text: str) -> str:
    """``text`` with 1-3 edits: a nasty character inserted, a character deleted, or a token replaced."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "token"]))
        i = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:i] + draw(st.sampled_from(_NASTY_CHARS) | st.characters()) + text[i:]
        elif op == "delete" and text:
            text = text[: max(i - 1, 0)] + text[i:]
        else:
            toks = re.split(r"(\s+)", text)
            j = draw(st.integers(0, len(toks) - 1))
            toks[j] = draw(_TOKENS)
            text = "".join(toks)
    return text


# --------------------------------------------------------------------------------------------------- checkers


def _check_split(path: Path, raw: bytes, limits: dict[str, int | None]) -> list[SplitEntry] | None:
    """Run read_split on ``raw`` written to ``path``; assert the contract; return the entries (None on error)."""
    path.write_bytes(raw)
    text = _decode(raw)
    n_lines = raw.count(b"\n") + 1
    try:
        entries = read_split(path, **limits)
    except DataError as err:
        _check_error(err, path, n_lines)
        return None
    assert text is not None and entries
    assert len({e.clip.name for e in entries}) == len(entries)
    bounds = {"action": limits.get("n_actions"), "verb": limits.get("n_verbs"), "noun": limits.get("n_nouns")}
    previous = 0
    for e in entries:
        assert isinstance(e, SplitEntry) and isinstance(e.clip, ClipName)
        assert len(e.nouns) >= 1 and e.noun == e.nouns[0]
        for kind, values in (("action", [e.action]), ("verb", [e.verb]), ("noun", list(e.nouns))):
            for v in values:
                assert isinstance(v, int) and v >= 0
                assert bounds[kind] is None or v < bounds[kind]
        assert parse_clip_name(e.clip.name) == e.clip
        assert previous < e.line <= n_lines
        previous = e.line
        # The numbered line, read on its own, is this very entry.
        one = path.with_name(path.name + ".line")
        one.write_text(_physical_lines(text)[e.line - 1], encoding="utf-8")
        alone = read_split(one, **limits)
        assert [(a.clip, a.action, a.verb, a.nouns) for a in alone] == [(e.clip, e.action, e.verb, e.nouns)]
    return entries


def _check_index(path: Path, raw: bytes) -> LabelIndex | None:
    """Run read_label_index on ``raw`` written to ``path``; assert the contract; return the index (None on error)."""
    path.write_bytes(raw)
    try:
        index = read_label_index(path)
    except DataError as err:
        _check_error(err, path, raw.count(b"\n") + 1)
        return None
    assert _decode(raw) is not None
    assert isinstance(index, LabelIndex) and len(index) >= 1 and index.path == str(path)
    assert all(isinstance(n, str) and n and n == n.strip() for n in index.names)
    return index


# ------------------------------------------------------------------------------------------------ split files

_LIMITS = st.fixed_dictionaries({
    "n_actions": st.none() | st.integers(1, 200),
    "n_verbs": st.none() | st.integers(1, 30),
    "n_nouns": st.none() | st.integers(1, 60),
})


@FUZZ
@given(raw=st.binary(max_size=300), limits=_LIMITS)
def test_split_arbitrary_bytes(workdir, raw, limits):
    _check_split(workdir / "train_split1.txt", raw, limits)


@FUZZ
@given(raw=token_files(), limits=_LIMITS)
def test_split_nasty_tokens_and_encodings(workdir, raw, limits):
    _check_split(workdir / "test_split1.txt", raw, limits)


@FUZZ
@given(case=valid_split_files(), data=st.data())
def test_split_mutated(workdir, case, data):
    raw, _, limits = case
    text = data.draw(mutated(raw.decode("utf-8")))
    _check_split(workdir / "test_split2.txt", text.encode("utf-8", errors="surrogatepass"), limits)


@FUZZ
@given(case=valid_split_files(), data=st.data())
def test_split_truncated(workdir, case, data):
    raw, expected, limits = case
    cut = data.draw(st.integers(0, len(raw)))
    got = _check_split(workdir / "train_split2.txt", raw[:cut], limits)
    if got:  # every entry but the last (possibly cut short) is intact
        assert got[:-1] == expected[: len(got) - 1]


@FUZZ
@given(case=valid_split_files(), data=st.data())
def test_split_wrong_columns_and_bad_labels_name_the_line(workdir, case, data):
    raw, expected, limits = case
    lines = raw.decode("utf-8").split("\n")
    victim = data.draw(st.sampled_from(expected))
    clip = victim.clip.name
    bad = data.draw(st.one_of(
        st.just(clip),
        st.just(f"{clip} 1"),
        st.just(f"{clip} 1 1"),  # fewer than 4 columns
        st.sampled_from(["nan", "inf", "-inf", "1e3", "-1", "0", "1.5", "x", "9" * 25,
                         str(limits["n_actions"] + 1)]).map(lambda t: f"{clip} {t} 1 1"),
        st.sampled_from(["NaN", "-2", "0", str(limits["n_nouns"] + 1), "9" * 30]).map(lambda t: f"{clip} 1 1 1 {t}"),
    ))
    lines[victim.line - 1] = bad
    path = workdir / "train_split3.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_split(path, **limits)
    assert info.value.line == victim.line
    assert f"{path}:{victim.line}: " in str(info.value)


@ROUND_TRIP
@given(case=valid_split_files())
def test_split_round_trip(workdir, case):
    raw, expected, limits = case
    path = workdir / "round_trip_split.txt"
    path.write_bytes(raw)
    assert read_split(path, **limits) == expected
    assert read_split(path) == expected  # no limits: the same values


def test_split_missing_file_names_the_path(workdir):
    path = workdir / "does" / "not" / "exist.txt"
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_split(path)
    with pytest.raises(DataError, match=re.escape(str(workdir))):
        read_split(workdir)  # a folder


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-16-le", "utf-16-be"])
def test_split_wrong_encoding_names_file_and_line(workdir, encoding):
    path = workdir / f"split_{encoding}.txt"
    path.write_bytes("P01-R01-Crêpe-1-2-F000001-F000002 1 1 1\n".encode(encoding))
    with pytest.raises(DataError, match="not UTF-8") as info:
        read_split(path)
    assert info.value.line == 1 and f"{path}:1: " in str(info.value)


# ------------------------------------------------------------------------------------------------ label index


@FUZZ
@given(raw=st.binary(max_size=200))
def test_label_index_arbitrary_bytes(workdir, raw):
    _check_index(workdir / "action_idx.txt", raw)


@FUZZ
@given(raw=token_files())
def test_label_index_nasty_tokens_and_encodings(workdir, raw):
    _check_index(workdir / "verb_idx.txt", raw)


def _index_text(names: list[str], data) -> str:
    ids = data.draw(st.permutations(range(1, len(names) + 1)))
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    for label in ids:
        name = names[label - 1]
        if data.draw(st.booleans()) and '"' not in name:
            name = f'"{name}"'
        lines.append(f"{name}{data.draw(st.sampled_from([' ', '  ', chr(9)]))}{label}")
    return newline.join(lines)


@FUZZ
@given(names=st.lists(_INDEX_NAMES, min_size=1, max_size=5), data=st.data())
def test_label_index_mutated(workdir, names, data):
    text = data.draw(mutated(_index_text(names, data)))
    _check_index(workdir / "noun_idx_mutated.txt", text.encode("utf-8", errors="surrogatepass"))


@ROUND_TRIP
@given(names=st.lists(_INDEX_NAMES, min_size=1, max_size=8), data=st.data())
def test_label_index_round_trip(workdir, names, data):
    path = workdir / "noun_idx.txt"
    path.write_bytes(_index_text(names, data).encode("utf-8"))
    index = read_label_index(path)
    assert index.names == tuple(names)
    assert [index.name(i) for i in range(len(names))] == names


@pytest.mark.parametrize(
    "content, line, match",
    [
        ("cut 1\nopen 0\n", 2, "1-based"),
        ("cut 1\nopen -1\n", 2, "expected"),
        ("cut 1\nopen nan\n", 2, "expected"),
        ("cut 1\n\nopen 1\n", 3, "twice"),
        ("cut\n", 1, "expected"),
        ("cut 1\nopen 3\n", None, "not contiguous"),
        ("\n \n", None, "no entries"),
    ],
)
def test_label_index_errors(workdir, content, line, match):
    path = workdir / "bad_idx.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match) as info:
        read_label_index(path)
    assert info.value.line == line
    assert (f"{path}:{line}: " if line else f"{path}: ") in str(info.value)


# ------------------------------------------------------------------------------------------------ clip names

_FRAME = r"F([0-9]{6}|[1-9][0-9]{6,})"
_CANONICAL = re.compile(rf"^.+-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-{_FRAME}-{_FRAME}$")
_NEAR_MISS = st.lists(
    st.one_of(st.sampled_from(_NASTY), st.integers(-5, 10**7).map(str), st.integers(0, 999).map(lambda i: f"F{i:06d}"),
              _SESSION_PART, st.text(max_size=3)),
    min_size=1, max_size=7,
).map("-".join)


def _check_clip(text: str) -> None:
    try:
        clip = parse_clip_name(text, path="splits/train_split1.txt", line=7)
    except DataError as err:
        assert err.line == 7 and str(err) == f"splits/train_split1.txt:7: {err.reason}"
        assert err.reason.startswith("malformed clip name ") or err.reason.endswith(" ends before it starts")
        with pytest.raises(DataError) as bare:
            parse_clip_name(text)
        assert bare.value.path is None and bare.value.line is None and str(bare.value) == err.reason
        return
    assert clip.session and "\n" not in clip.session
    assert 0 <= clip.start_ms <= clip.end_ms and 0 <= clip.start_frame <= clip.end_frame
    assert clip.n_frames == clip.end_frame - clip.start_frame >= 0
    assert parse_clip_name(clip.name) == clip  # re-parses to itself
    if _CANONICAL.match(text.strip()):  # canonical ASCII form: zero-padded frames, no leading zeros elsewhere
        assert clip.name == text.strip()


@FUZZ
@given(text=st.text(max_size=60) | _NEAR_MISS | canonical_clips().flatmap(lambda c: mutated(c.name)))
def test_clip_name_fuzz(text):
    _check_clip(text)


@ROUND_TRIP
@given(clip=canonical_clips(), pad=st.sampled_from(["", " ", "\t", "\n"]))
def test_clip_name_round_trip(clip, pad):
    text = pad + clip.name + pad
    parsed = parse_clip_name(text)
    assert parsed == clip and parsed.name == clip.name


def test_clip_name_with_seven_digit_frames_round_trips():
    clip = parse_clip_name("S-1-2-F1000000-F1000001")
    assert clip.name == "S-1-2-F1000000-F1000001" and clip.n_frames == 1


# --------------------------------------------------------------------- edge cases the fuzzing brought up


def _split_line(label: str) -> str:
    return f"S-1-2-F000001-F000002 {label} 1 1\n"


@pytest.mark.parametrize("reader, content, reason", [
    ("split", _split_line("²"), "label '²' is not a positive integer"),
    ("index", "cut ²\n", "expected '<name> <1-based id>', got 'cut ²'"),
])
def test_a_superscript_digit_is_a_data_error_on_its_line(workdir, reader, content, reason):
    """'²' is a digit to str.isdigit() but not to int(): the parsers take ASCII digits only."""
    path = workdir / f"superscript_{reader}.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        (read_split if reader == "split" else read_label_index)(path)
    assert str(info.value) == f"{path}:1: {reason}" and info.value.line == 1


@pytest.mark.parametrize("where, reason", [("split_label", "label '1111"), ("clip_name", "malformed clip name 'S-1111")])
def test_an_overlong_digit_run_is_a_data_error_on_its_line(workdir, where, reason):
    """5,000 digits (int() refuses more than 4,300): refused by the pattern, before any int()."""
    path = workdir / f"overlong_{where}.txt"
    digits = "1" * 5000
    line = _split_line(digits) if where == "split_label" else f"S-{digits}-{digits}-F000001-F000002 1 1 1\n"
    path.write_text(line, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_split(path, n_actions=106)
    assert str(info.value).startswith(f"{path}:1: {reason}") and info.value.line == 1


@pytest.mark.parametrize("kind, text", [
    ("clip", "S-１-２-F000001-F000002"),
    ("clip", "S-1-2-F００００01-F000002"),
    ("split", _split_line("٣")),
])
def test_non_ascii_digits_are_refused(workdir, kind, text):
    path = workdir / "non_ascii_digits.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        parse_clip_name(text) if kind == "clip" else read_split(path)
    if kind == "clip":
        assert str(info.value) == f"malformed clip name {text!r} (want <session>-<start_ms>-<end_ms>-F<start>-F<end>)"
    else:
        assert str(info.value) == f"{path}:1: label '٣' is not a positive integer"


@pytest.mark.parametrize("char", ["\x0c", "\x85", "\u2028"])
def test_lines_are_numbered_at_line_feeds_only(workdir, char):
    """Form feed, NEL and U+2028 (line breaks to str.splitlines()) do not shift the line numbers of `grep -n`."""
    path = workdir / "odd_line_breaks.txt"
    path.write_text(f"S-1-2-F000001-F000002 1 1 1{char}\nS-1-3-F000001-F000002 1 1 1\nbad line\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_split(path)
    assert info.value.line == 3, f"reported line {info.value.line}, the bad line is 3"
    assert str(info.value).startswith(f"{path}:3: expected '<clip> <action> <verb> <noun> [<noun>...]'")
    path.write_text(f"S-1-2-F000001-F000002 1 1 1{char}\nS-1-3-F000001-F000002 1 1 1\n", encoding="utf-8")
    assert [e.line for e in read_split(path)] == [1, 2]


def test_a_huge_label_id_is_refused_without_allocating_for_it(workdir):
    """Id 10^11 alone: 'not contiguous' in a process limited to 256 MB of address space (no range(1, id))."""
    path = workdir / "huge_id_idx.txt"
    path.write_text("cut 100000000000\n", encoding="utf-8")
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))
        from gazeattn.data.annotations import read_label_index
        try:
            read_label_index({str(path)!r})
        except BaseException as err:
            print(type(err).__name__, err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == f"DataError {path}: ids are not contiguous: missing [1]\n", out.stdout + out.stderr


@pytest.mark.parametrize("content, reader", [
    ('"S-1-2-F000001-F000002","3","2","1"\n', "split"),
    ('"S-1-2-F000001-F000002" 3 2 "1"\n', "split"),
    ('"cut" "1"\n', "index"),
])
def test_lines_whose_first_and_last_tokens_are_quoted_are_read(workdir, content, reader):
    """Quotes around the first and the last token are two quoted tokens, not one quoted line."""
    path = workdir / "quoted_tokens.txt"
    path.write_text(content, encoding="utf-8")
    if reader == "split":
        [entry] = read_split(path)
        assert (entry.clip.name, entry.action, entry.verb, entry.nouns) == ("S-1-2-F000001-F000002", 2, 1, (0,))
    else:
        assert read_label_index(path).names == ("cut",)
