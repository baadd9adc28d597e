"""Keep freed memory in the process for reuse (``run.reuse_memory``), so a CPU step does not fault its pages in anew.

A CPU training step allocates and frees the same activations every step (the cpu preset: blocks of 1–17 MB).
glibc's malloc serves a block above its mmap threshold with a fresh ``mmap`` and returns it with ``munmap``
when freed, and returns free memory at the top of the heap to the system beyond its trim threshold; the next
step then pays a page fault and a zero-fill for every 4 KiB page again (``aten::fill_`` and ``aten::copy_`` of
``F.pad``'s output were ~15 % of the cpu preset's step). :func:`reuse_freed_memory` raises the mmap threshold to
32 MiB (the largest glibc accepts) and the trim threshold to 1 GiB, so such blocks come from and go back to the
heap. Only where memory comes from changes, never a value: the weights after N steps are identical (pinned by
tests/test_train_speed.py). The resident set stays near the step's peak instead of shrinking between steps.

Applies to the whole process from the call on (and to DataLoader workers forked after it). Without glibc
(macOS, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["reuse_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2**30


@functools.lru_cache(maxsize=1)
def _mallopt():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def reuse_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True when glibc took both."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
