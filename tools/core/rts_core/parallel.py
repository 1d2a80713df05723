"""Bounded, order-preserving parallel map over threads.

numpy, scipy's FFT and GDAL release the GIL for their heavy work, so threads put both
cores to use on block-wise raster work; results come back in input order (the writer
consumes them in order) and at most ``ahead`` items are in flight, so memory stays
bounded whatever the number of blocks."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import rasterio

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int = 2,
                ahead: int | None = None) -> Iterator[R]:
    """Like ``map(function, items)``, run on ``workers`` threads with at most ``ahead``
    (default 2 x workers) results pending. With ``workers=0`` it runs inline; one
    worker still runs beside the caller (prefetching while the caller consumes)."""
    if workers <= 0:
        yield from map(function, items)
        return
    ahead = ahead or 2 * workers
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class PerThreadDataset:
    """A raster opened once per thread (rasterio datasets must not be shared between
    threads), closed together. ``opener`` replaces ``rasterio.open(path)`` (for a
    warped view, say); ``closer`` closes what it opened (by default ``.close()``)."""

    def __init__(self, path, opener: Callable | None = None, closer: Callable | None = None):
        self.path = str(path)
        self._opener = opener or (lambda: rasterio.open(self.path))
        self._closer = closer or (lambda dataset: dataset.close())
        self._local = threading.local()
        self._opened: list = []
        self._lock = threading.Lock()

    def get(self):
        dataset = getattr(self._local, "dataset", None)
        if dataset is None:
            dataset = self._opener()
            self._local.dataset = dataset
            with self._lock:
                self._opened.append(dataset)
        return dataset

    def close(self) -> None:
        with self._lock:
            for dataset in self._opened:
                self._closer(dataset)
            self._opened.clear()
        self._local = threading.local()
