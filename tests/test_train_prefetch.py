import gc
import threading
import time
import weakref

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from gazeattn.train.prefetch import Prefetcher


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
    """Not by the queue, the generator or the thread, even while the thread waits for a slow next item."""
    gate = threading.Event()

    def slow():
        yield _Box(0)
        gate.wait(10)
        yield _Box(1)

    with Prefetcher(slow(), depth=2) as items:
        it = iter(items)
        first = next(it)
        ref = weakref.ref(first)
        del first
        time.sleep(0.2)  # the thread is now inside next(), waiting at the gate
        gc.collect()
        assert ref() is None, "the prefetcher still holds an item the consumer dropped"
        gate.set()
        assert next(it).i == 1


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_depth_bounds_the_items_received_ahead(depth):
    produced = []

    def counting():
        for i in range(100):
            produced.append(i)
            yield i

    with Prefetcher(counting(), depth=depth) as items:
        it = iter(items)
        assert next(it) == 0
        deadline = time.time() + 5
        while len(produced) < 1 + depth and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert len(produced) == 1 + depth  # the one taken, and exactly `depth` ahead
        assert next(it) == 1
        deadline = time.time() + 5
        while len(produced) < 2 + depth and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert len(produced) == 2 + depth


def test_dropping_the_loop_without_close_still_stops_the_thread():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    it = iter(Prefetcher(endless(), depth=2))
    assert next(it) == 0
    assert _prefetch_threads()
    del it
    gc.collect()
    deadline = time.time() + 5
    while _prefetch_threads() and time.time() < deadline:
        time.sleep(0.01)
    assert not _prefetch_threads()


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
