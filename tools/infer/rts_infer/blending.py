"""Tiles' probabilities blended into row buffers that hold only the rows still receiving
tiles, and complete rows quantised for the probability rasters, on the writer's thread.

All models of a group share the tiling, so they share the sum of the blending weights;
each has its own sum of weighted probabilities. A tile row is complete once its last
tile is in; its rows down to where the next tile row starts are then final, come out as
stored values (uint8 0-100, CONTRACT.md section 3) with no-data where the stack is
invalid for that model, and leave the buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rts_core import contract

from .strips import Grid


@dataclass(frozen=True)
class Rows:
    """Final rows [first, first + count) of the scene, per model."""

    first: int
    values: list[np.ndarray]  # per model: (count, width) float32 probabilities x 100, unrounded
    unscored: list[np.ndarray | None]  # per model: where a tile's output was not finite (no-data), if anywhere


class Blender:
    """One scene's blending for the ``models`` models of a group over ``grid``."""

    def __init__(self, grid: Grid, models: int):
        self.grid = grid
        rows = grid.rows
        starts = [line[0].row for line in rows]
        capacity = max(t.height for line in rows for t in line) + max(
            [b - a for a, b in zip(starts, starts[1:], strict=False)] or [0])
        self.sums = np.zeros((models, capacity, grid.padded_width), np.float32)
        self.weight = np.zeros((capacity, grid.padded_width), np.float32)
        self.top, self.filled = 0, 0  # buffer row 0 is padded row ``top``; rows below ``filled`` hold sums
        self.flush_until = {start: (starts[i + 1] if i + 1 < len(starts) else grid.padded_height)
                            for i, start in enumerate(starts)}
        self.done_in_row: dict[int, int] = {}
        self.per_row = len(rows[0])
        self.unscored: list[np.ndarray | None] = [None] * models  # made on the first non-finite output
        self.non_finite = [0] * models  # values a model gave that were NaN or infinite

    def add(self, tile, probabilities: list[np.ndarray]) -> Rows | None:
        """One tile's probability (size, size) per model, overwritten in the blending; the
        rows it completes, if any."""
        top = self.top
        self.filled = max(self.filled, tile.row + tile.height - top)
        rs = slice(tile.row - top, tile.row - top + tile.height)
        cs = slice(tile.col, tile.col + tile.width)
        self.weight[rs, cs] += tile.weights
        for number, (sums, probability) in enumerate(zip(self.sums, probabilities, strict=True)):
            part = probability[: tile.height, : tile.width]
            if not np.isfinite(part).all():  # a model's NaN is no-data, never a value
                bad = ~np.isfinite(part)
                self.non_finite[number] += int(bad.sum())
                if self.unscored[number] is None:
                    self.unscored[number] = np.zeros(self.weight.shape, bool)
                self.unscored[number][rs, cs] |= bad
                part[bad] = 0.0
            np.multiply(part, tile.weights, out=part)
            sums[rs, cs] += part
        self.done_in_row[tile.row] = self.done_in_row.get(tile.row, 0) + 1
        if self.done_in_row[tile.row] < self.per_row:
            return None
        return self._flush(self.flush_until[tile.row] - top)

    def _flush(self, count: int) -> Rows | None:
        grid, top = self.grid, self.top
        rows = None
        first, last = max(top - grid.context, 0), min(top + count - grid.context, grid.height)
        if count > 0 and last > first:
            inside = slice(first + grid.context - top, last + grid.context - top)
            cols = slice(grid.context, grid.context + grid.width)
            # probability x 100 = sums / weight / PROB_SCALE: one reciprocal for all models
            inverse = np.maximum(self.weight[inside, cols], 1e-12)
            np.multiply(inverse, contract.PROB_SCALE, out=inverse)
            np.reciprocal(inverse, out=inverse)
            rows = Rows(first, [sums[inside, cols] * inverse for sums in self.sums],
                        [None if mask is None else mask[inside, cols].copy() for mask in self.unscored])
        if count > 0:
            keep = self.filled - count  # shift the unfinished rows up, in place
            self.sums[:, :keep] = self.sums[:, count:self.filled]
            self.weight[:keep] = self.weight[count:self.filled]
            self.sums[:, keep:self.filled] = 0
            self.weight[keep:self.filled] = 0
            for mask in self.unscored:
                if mask is not None:
                    mask[:keep] = mask[count:self.filled]
                    mask[keep:self.filled] = False
            self.top, self.filled = top + count, keep
        return rows


def quantised(hundredths: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Stored probability (uint8 0-100) from probability x 100, no-data where not ``valid``."""
    np.rint(hundredths, out=hundredths)
    stored = hundredths.astype(np.uint8)
    if not valid.all():
        stored[~valid] = contract.PROB_NODATA
    return stored
