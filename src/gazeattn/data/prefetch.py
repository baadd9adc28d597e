"""Receive batches from DataLoader workers on a background thread, so the training loop does not pay for it.

With worker processes, every tensor of a batch travels as a shared-memory file descriptor, and receiving one
costs a socket connection and an authentication round trip to the worker (≈0.5 ms per tensor on the 2-core
CPU; a cpu-preset batch of 14 tensors took ≈7 ms to unpickle even when it was long ready). A
:class:`Prefetcher` pulls ``depth`` batches ahead on a thread, in order, while the main thread computes:
most of that time is spent in system calls, which release the GIL. Batches come out in the order the
iterable yields them, so training stays a pure function of (seed, step, rank); exceptions raised by the
iterable (a bad clip with ``on_bad_clip=error``, a dead worker) are re-raised in the consumer, unchanged.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[T]):
    """Iterate ``source`` on a daemon thread, ``depth`` items ahead. Use as a context manager (or call
    :meth:`close`) so a loop that stops early also stops the thread and releases ``source``'s iterator.

    ``depth=0`` iterates ``source`` directly on the caller's thread (no thread at all).
    """

    def __init__(self, source: Iterable[T], depth: int = 2):
        if depth < 0:
            raise ValueError(f"prefetch depth must be >= 0, got {depth}")
        self._source = source
        self._depth = depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
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
        while True:
            # Held in a list and popped on yield, so this frame keeps no reference to a batch the consumer has
            # moved past: the consumer decides when a batch (and its shared memory) is released.
            box = [self._queue.get()]
            if box[0] is _DONE:
                return
            if isinstance(box[0], _Raised):
                raise box.pop().error
            yield box.pop()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterator: Iterator[T]) -> None:
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as err:  # handed to the consumer, which re-raises it
            self._put(_Raised(err))
        finally:
            del iterator  # a DataLoader iterator shuts its workers down when released

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread (after the item it is fetching, if any) and drop what it fetched ahead. A thread
        still stuck in the source after ``timeout`` seconds is left behind (it is a daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            deadline = time.monotonic() + timeout
            while self._thread.is_alive() and time.monotonic() < deadline:
                try:
                    self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    pass
            self._thread = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self._source = ()  # an iterator source (a generator) is released too

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
