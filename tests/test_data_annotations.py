
import pytest

from gazeattn.data.annotations import read_label_index, read_split
from gazeattn.data.clipnames import parse_clip_name
from gazeattn.utils.errors import DataError
from realdata import EGTEA


def test_clip_name_round_trip():
    clip = parse_clip_name("P21-R04-ContinentalBreakfast-291175-294945-F006979-F007088")
    assert clip.session == "P21-R04-ContinentalBreakfast"
    assert (clip.start_ms, clip.end_ms, clip.start_frame, clip.end_frame) == (291175, 294945, 6979, 7088)
    assert clip.n_frames == 109
    assert clip.prefix == "P21-R04-ContinentalBreakfast-291175-294945"
    assert clip.name == "P21-R04-ContinentalBreakfast-291175-294945-F006979-F007088"


@pytest.mark.parametrize("bad", ["OP01-R02-TurkeySandwich", "S-1-2-F3", "S-10-5-F000001-F000009", "S-1-9-F9-F3", ""])
def test_clip_name_errors(bad):
    with pytest.raises(DataError):
        parse_clip_name(bad, path="x.txt", line=3)


@pytest.mark.parametrize("flavour", ["official", "min2021"])
def test_real_split_counts(flavour):
    train = read_split(EGTEA / "splits" / flavour / "train_split1.txt", n_actions=106)
    test = read_split(EGTEA / "splits" / flavour / "test_split1.txt", n_actions=106)
    assert (len(train), len(test)) == (8299, 2022)
    assert len({e.action for e in train}) == 106 and len({e.action for e in test}) == 106
    assert min(e.action for e in train) == 0 and max(e.action for e in train) == 105
    lengths = [e.clip.n_frames for e in train + test]
    if flavour == "official":
        assert min(lengths) == 15 and max(lengths) == 2801
        assert sum(n < 24 for n in lengths) == 658
        assert max(len(e.nouns) for e in train) == 3
    else:
        assert min(lengths) >= 24
        assert all(len(e.nouns) == 1 for e in train + test)


def test_min2021_widened_names_share_prefix():
    official = read_split(EGTEA / "splits" / "official" / "train_split1.txt")
    widened = read_split(EGTEA / "splits" / "min2021" / "train_split1.txt")
    changed = [(a, b) for a, b in zip(official, widened) if a.clip != b.clip]
    assert changed, "the min2021 split should rename the short clips"
    for a, b in changed:
        assert a.clip.prefix == b.clip.prefix and a.action == b.action
        assert a.clip.n_frames < 24 <= b.clip.n_frames


def test_quoted_crlf_bom_variants(tmp_path):
    path = tmp_path / "train_split1.txt"
    path.write_bytes(b'\xef\xbb\xbf"OP01-R02-TurkeySandwich-1-2-F000010-F000040" 3 2 1\r\n\r\n'
                     b"'OP01-R02-TurkeySandwich-5-9-F000050-F000090 1 1 2 4'\r\n"
                     b"OP01-R02-TurkeySandwich-9-12-F000100-F000140,2,1,1\r\n")
    entries = read_split(path, n_actions=3, n_verbs=2, n_nouns=4)
    assert [e.action for e in entries] == [2, 0, 1]
    assert entries[1].nouns == (1, 3)
    assert [e.line for e in entries] == [1, 3, 4]


@pytest.mark.parametrize(
    "content, line, words",
    [
        ("S-1-2-F000001-F000030 1 1 1\nS-1-3-F000001-F000030 1 1\n", 2, "expected"),
        ("S-1-2-F000001-F000030 1 1 1\nS-1-3-F000001-F000030 7 1 1\n", 2, "action label 7 out of range"),
        ("S-1-2-F000001-F000030 1 1 1\nS-1-3-F000001-F000030 0 1 1\n", 2, "out of range"),
        ("S-1-2-F000001-F000030 1 1 1\nS-1-3-F000001-F000030 1 x 1\n", 2, "not a positive integer"),
        ("S-1-2-F000001-F000030 1 1 1\n\nS-1-2-F000001-F000030 2 1 1\n", 3, "duplicate clip"),
        ("S-1-2-F000001-F000030 1 1 1\nnot-a-clip 1 1 1\n", 2, "malformed clip name"),
        ("S-1-2-F000001-F000030 1 1 9\n", 1, "noun label 9 out of range"),
    ],
)
def test_split_errors_name_file_and_line(tmp_path, content, line, words):
    path = tmp_path / "test_split1.txt"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_split(path, n_actions=3, n_verbs=3, n_nouns=3)
    assert info.value.line == line and info.value.path == str(path)
    assert words in str(info.value) and f"{path}:{line}" in str(info.value)


def test_split_not_utf8(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b"S-1-2-F000001-F000030 1 1 1\n\xff\xfe 1 1 1\n")
    with pytest.raises(DataError, match="not UTF-8") as info:
        read_split(path)
    assert info.value.line == 2


def test_label_index(tmp_path):
    path = tmp_path / "action_idx.txt"
    path.write_text("Take bowl 2\r\nOpen fridge/drawer 1\r\nCut\tbell pepper 3\n")
    idx = read_label_index(path)
    assert idx.names == ("Open fridge/drawer", "Take bowl", "Cut\tbell pepper") and len(idx) == 3


@pytest.mark.parametrize("content, words", [("Take 1\nPut 1\n", "given twice"), ("Take 1\nPut 3\n", "not contiguous"),
                                             ("Take bowl\n", "expected"), ("", "no entries"), ("Take 0\n", "1-based")])
def test_label_index_errors(tmp_path, content, words):
    path = tmp_path / "verb_idx.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=words):
        read_label_index(path)
