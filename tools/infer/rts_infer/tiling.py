"""Tile layout, blending weights and mirrored indexes (pure numpy).

Tiles start every ``tile - overlap`` pixels, rounded down to a multiple of the model's
stride, and the last one is aligned to the (padded) scene's end, so every tile lies
inside it (smaller scenes are one tile). A network with stride s sees the same pixels
at the same phase only when they sit at the same offset modulo s in its input: with
every tile origin a multiple of s, tiled inference matches whole-scene inference
wherever the tiles' own borders are out of reach. Each
tile's weight ramps up across the overlap on the sides that have a neighbour (from 0 at
the tile's border) and stays 1 on sides at the scene's edge, so every valid pixel, the
outermost included, gets a weight-normalised value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Tile origins along one axis: multiples of ``multiple`` when ``length`` and
    ``tile`` are."""
    if length <= tile:
        return [0]
    step = max((tile - overlap) // multiple * multiple, multiple)
    origins = list(range(0, length - tile, step))
    origins.append(length - tile)
    return sorted(set(origins))


def ramp(overlap: int, kind: str = "linear") -> np.ndarray:
    """Weights rising over ``overlap`` pixels from 0 at a tile's inner border (where a
    network sees padding instead of context) to just below 1. Consecutive tiles overlap
    by at least ``overlap``, so the two ramps always sum to more than 0."""
    if overlap <= 0:
        return np.ones(0, np.float32)
    position = np.arange(overlap) / overlap
    if kind == "cosine":
        return (0.5 - 0.5 * np.cos(np.pi * position)).astype(np.float32)
    if kind != "linear":
        raise ValueError(f"unknown blending {kind!r} (linear or cosine)")
    return position.astype(np.float32)


def axis_weights(size: int, overlap: int, ramp_start: bool, ramp_end: bool, kind: str) -> np.ndarray:
    weights = np.ones(size, np.float32)
    rising = ramp(min(overlap, size // 2), kind)
    if ramp_start and rising.size:
        weights[: rising.size] = rising
    if ramp_end and rising.size:
        weights[size - rising.size:] = np.minimum(weights[size - rising.size:], rising[::-1])
    return weights


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    height: int  # the part inside the scene
    width: int
    weights: np.ndarray  # (height, width)


def layout(height: int, width: int, tile: int, overlap: int, kind: str = "linear",
           multiple: int = 1) -> list[list[Tile]]:
    """Tiles row by row, with their blending weights. Tiles of the same size and ramped
    sides share one read-only weight array: a large scene has thousands of tiles but
    only a handful of distinct weights, and a full array per tile costs hundreds of MiB."""
    row_starts, col_starts = starts(height, tile, overlap, multiple), starts(width, tile, overlap, multiple)
    shared: dict[tuple[int, int, bool, bool, bool, bool], np.ndarray] = {}

    def tile_weights(h: int, w: int, top: bool, bottom: bool, left: bool, right: bool) -> np.ndarray:
        key = (h, w, top, bottom, left, right)
        if key not in shared:
            weights = np.outer(axis_weights(h, overlap, top, bottom, kind),
                               axis_weights(w, overlap, left, right, kind))
            weights.flags.writeable = False
            shared[key] = weights
        return shared[key]

    rows = []
    for i, row in enumerate(row_starts):
        h = min(tile, height - row)
        top, bottom = i > 0, i < len(row_starts) - 1
        line = []
        for j, col in enumerate(col_starts):
            w = min(tile, width - col)
            line.append(Tile(row, col, h, w, tile_weights(h, w, top, bottom, j > 0, j < len(col_starts) - 1)))
        rows.append(line)
    return rows


def reflect_index(index: np.ndarray, length: int) -> np.ndarray:
    """Indexes into an axis of ``length`` for positions before, inside and after it,
    mirrored about the first and last pixel (numpy's ``reflect``: ... 2 1 | 0 1 2 ... n-1 | n-2 ...),
    repeating for positions further out than the axis is long."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    folded = np.abs(index) % period
    return np.where(folded >= length, period - folded, folded)
