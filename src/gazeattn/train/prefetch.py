"""Receive batches from DataLoader workers on a background thread, so the training loop does not pay for it.

With worker processes, every tensor of a batch travels as a shared-memory file descriptor, and receiving one
costs a socket connection and an authentication round trip to the worker (≈0.5 ms per tensor on the 2-core
CPU; a cpu-preset batch of 14 tensors took ≈7 ms to unpickle even when it was long ready). A
:class:`Prefetcher` receives up to ``depth`` batches ahead on a thread, in order, while the main thread
computes: most of that time is spent in system calls, which release the GIL. Batches come out in the order
the iterable yields them, so training stays a pure function of (seed, step, rank); exceptions raised by the
iterable (a bad clip with ``on_bad_clip=error``, a dead worker) are re-raised in the consumer, unchanged.

``depth`` counts every batch received but not yet taken by the consumer, whether queued or in the thread's
hands; it comes on top of what the DataLoader itself keeps in flight (``prefetch_factor`` × workers).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[T]):
    """Iterate ``source`` on a daemon thread, at most ``depth`` items ahead of the consumer.

    Use as a context manager (or call :meth:`close`) so a loop that stops early stops the thread and releases
    ``source``'s iterator at once; a loop that simply drops the iteration also closes it, when the generator
    is garbage-collected. ``depth=0`` iterates ``source`` directly on the caller's thread (no thread at all).
    Neither the thread nor the generator keeps a reference to an item once it has been handed over, so the
    consumer decides when a batch (and its shared memory) is released.
    """

    def __init__(self, source: Iterable[T], depth: int = 2):
        if depth < 0:
            raise ValueError(f"prefetch depth must be >= 0, got {depth}")
        self._source = source
        self._depth = depth
        self._queue: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(depth)  # one per item received and not yet taken
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False

    def __iter__(self) -> Iterator[T]:
        if self._started:
            raise RuntimeError("a Prefetcher can be iterated once")
        self._started = True
        if self._depth == 0:
            yield from self._source
            return
        # The iterator is made here, on the caller's thread: a DataLoader starts its workers (and installs its
        # SIGCHLD handler, which only the main thread may do) when iterated.
        iterator = iter(self._source)
        self._thread = threading.Thread(target=self._run, args=(iterator,), name="gazeattn-prefetch", daemon=True)
        self._thread.start()
        del iterator  # owned by the thread from now on
        try:
            while True:
                # Held in a list and popped on yield, so this frame keeps no reference to a handed-over item.
                box = [self._queue.get()]
                self._slots.release()
                if box[0] is _DONE:
                    return
                if isinstance(box[0], _Raised):
                    raise box.pop().error
                yield box.pop()
        finally:
            self.close()

    def _take_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=_POLL_S):
                return True
        return False

    def _run(self, iterator: Iterator[T]) -> None:
        try:
            while self._take_slot():
                try:
                    item = next(iterator)
                except StopIteration:
                    self._queue.put(_DONE)
                    return
                self._queue.put(item)
                del item  # the consumer alone decides when it is released
        except BaseException as err:  # handed to the consumer, which re-raises it
            self._queue.put(_Raised(err))
        finally:
            del iterator  # a DataLoader iterator shuts its workers down when released

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread (after the item it is fetching, if any) and drop what it fetched ahead. A thread
        still stuck in the source after ``timeout`` seconds is left behind (it is a daemon thread)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._source = ()  # an iterator source (a generator) is released too

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
