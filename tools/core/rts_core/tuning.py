"""Allocator tuning for tools that work block by block on threads: the one place it lives.

rts-prep frees and allocates arrays of tens of MB per block on two threads; by default
glibc hands each back to the kernel and gets fresh pages the kernel must zero (a fifth
of rts-prep's time went to the kernel). One arena, little trimming and arrays of up to
64 MB kept for reuse keep them in the process; as the same sizes recur, peak memory
does not grow. Not for tools holding whole-scene arrays (it raised rts-ensemble's peak
by 0.2 GB).

rts-infer's threads (reader, model, writer) allocate strips, batches and row bands of
the same few sizes over and over: with one arena (each thread's own arena returns its
heaps to the kernel), freed memory kept up to 1 GB and the heap grown 256 MB at a time,
its system time fell from 3.1 to 0.6 s for a 4000 px stack with two models (bench/infer.py,
host floor), at the same peak memory.

These are glibc's ``MALLOC_ARENA_MAX``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` and
``MALLOC_MMAP_THRESHOLD_``, set through ``mallopt`` by the rts-prep and rts-infer console
entry points before their commands run (glibc reads the variables only when a process
starts). Variables set in the environment win; nothing happens off glibc. Importing a
tool's modules changes nothing.
"""

from __future__ import annotations

import ctypes
import os

BLOCK_WORK = {"MALLOC_TRIM_THRESHOLD_": (-1, 1 << 28), "MALLOC_MMAP_THRESHOLD_": (-3, 1 << 26),
              "MALLOC_ARENA_MAX": (-8, 1)}  # glibc's mallopt parameter numbers and our values
PIPELINE_WORK = {"MALLOC_TRIM_THRESHOLD_": (-1, 1 << 30), "MALLOC_TOP_PAD_": (-2, 1 << 28),
                 "MALLOC_MMAP_THRESHOLD_": (-3, 1 << 25), "MALLOC_ARENA_MAX": (-8, 1)}


def tune_allocator_for_blocks() -> None:
    _tune(BLOCK_WORK)


def tune_allocator_for_pipeline() -> None:
    _tune(PIPELINE_WORK)


def _tune(settings: dict) -> None:
    if any(name in os.environ for name in settings):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    for parameter, value in settings.values():
        mallopt(parameter, value)
