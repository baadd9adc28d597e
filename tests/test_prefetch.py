import gc
import threading
import weakref

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from gazeattn.data.prefetch import Prefetcher


class _Box:
    """A weak-referenceable item."""

    def __init__(self, i: int):
        self.i = i


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gazeattn-prefetch"]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_items_come_out_in_order_and_complete(depth):
    with Prefetcher(range(50), depth=depth) as items:
        assert list(items) == list(range(50))
    assert not _prefetch_threads()


def test_depth_zero_runs_on_the_callers_thread():
    seen = []

    def source():
        for i in range(3):
            seen.append(threading.current_thread())
            yield i

    with Prefetcher(source(), depth=0) as items:
        assert list(items) == [0, 1, 2]
    assert seen == [threading.main_thread()] * 3


def test_the_sources_exception_reaches_the_consumer_after_the_items_before_it():
    class Broken(RuntimeError):
        pass

    def source():
        yield 1
        yield 2
        raise Broken("clip 7 is corrupt")

    got = []
    with Prefetcher(source(), depth=2) as items:
        with pytest.raises(Broken, match="clip 7 is corrupt"):
            for x in items:
                got.append(x)
    assert got == [1, 2]


def test_stopping_early_stops_the_thread_and_releases_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    with Prefetcher(endless(), depth=2) as items:
        for x in items:
            if x == 3:
                break
    assert not _prefetch_threads()
    gc.collect()
    assert closed.wait(5), "the source generator was never closed"


def test_no_reference_is_kept_to_an_item_the_consumer_moved_past():
    refs = []
    with Prefetcher((_Box(i) for i in range(6)), depth=1) as items:
        it = iter(items)
        first = next(it)
        refs.append(weakref.ref(first))
        del first
        second = next(it)
        gc.collect()
        assert refs[0]() is None, "the prefetcher still holds the previous item"
        assert second.i == 1


def test_a_prefetcher_is_iterated_once_and_rejects_a_negative_depth():
    p = Prefetcher(range(3), depth=1)
    assert list(p) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="once"):
        list(p)
    p.close()
    with pytest.raises(ValueError, match="depth"):
        Prefetcher(range(3), depth=-1)


class _Squares(Dataset):
    def __len__(self) -> int:
        return 20

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": torch.full((3, 4), float(i * i)), "i": torch.tensor(i)}


def test_dataloader_workers_through_the_prefetcher_give_the_same_batches():
    plain = list(DataLoader(_Squares(), batch_size=3, num_workers=0))
    loader = DataLoader(_Squares(), batch_size=3, num_workers=2)
    with Prefetcher(loader, depth=2) as batches:
        got = list(batches)
    assert len(got) == len(plain)
    for a, b in zip(got, plain):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["i"], b["i"])
