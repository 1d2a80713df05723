"""A stack read once for every model: rows decoded block row by block row, validity found
once per strip, and each strip normalised once per band and normalisation, kept only as
long as tiles still need it; tiles for each model are cut from the strips.

Every tile of a run's tiling (:class:`Grid`) reads the scene rows and columns of its
mirrored window (tiling.py): with the scene padded by ``context`` px of reflection, a
tile at padded (row, col) shows scene rows ``reflect(row - context ...)``, extended by
reflection to the network's input size where the padded scene is smaller. Strips are
the stack's block rows (512 rows in a COG), so each compressed block is decoded once,
whatever the overlap of the tiles.

Validity is the stack's mask (CONTRACT.md section 3). Where the mask comes from the
bands' nodata value it is computed from the decoded rows (valid where any band differs
from nodata), which is what rasterio's ``dataset_mask`` returns, without GDAL reading
every band again; an internal mask is read as such.

A model that normalises its own input (graph.py) gets the stored integers, the stack's
nodata value (the sentinel) in every band of an invalid pixel. Otherwise each band is
normalised on this thread (rts_core.model_input), once for all models that take it with
the same factor, term and clip, and zeroed where invalid. Float stacks, and integer
stacks whose scaling could overflow float32, are normalised per model with
``model_input`` itself, since NaN makes validity depend on each model's bands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from rts_core.model_input import Normalisation, StackBands, affine, model_input, normalise_band

from .tiling import Tile, layout, reflect_index, round_up

STRIP_MIN_ROWS = 256  # strips of at least this many rows where a stack's blocks are thinner


@dataclass(frozen=True)
class Grid:
    """How one group of models tiles a scene: the network's input size, overlap, stride,
    the mirrored margin around the scene and the tiles row by row."""

    height: int
    width: int
    tile: int
    overlap: int
    context: int
    size: int  # the tiles' (square) input size: the tile, or less for a smaller scene
    padded_height: int
    padded_width: int
    rows: list[list[Tile]] = field(repr=False)

    @classmethod
    def of(cls, height: int, width: int, tile: int, overlap: int, stride: int, blending: str) -> Grid:
        """``tile`` a multiple of ``stride``; the mirrored margin is half the overlap rounded
        up to the stride, so that scene pixels sit at the same phase as in whole-scene
        inference, and the bottom and right get what makes the padded scene a multiple of
        the stride (so every tile origin is)."""
        context = round_up((overlap + 1) // 2, stride)
        padded_height, padded_width = round_up(height + 2 * context, stride), round_up(width + 2 * context, stride)
        size = min(tile, max(padded_height, padded_width))
        rows = layout(padded_height, padded_width, tile, overlap, blending, stride)
        return cls(height, width, tile, overlap, context, size, padded_height, padded_width, rows)

    @property
    def tiles(self) -> int:
        return sum(len(row) for row in self.rows)

    def scene_index(self, start: int, extent: int, length: int) -> np.ndarray:
        """Scene positions (rows or columns) shown by a tile whose padded origin is
        ``start`` and whose part inside the padded scene is ``extent`` long, extended by
        reflection to the input size."""
        index = reflect_index(np.arange(start - self.context, start - self.context + extent), length)
        if extent < self.size:
            index = np.pad(index, (0, self.size - extent), mode="reflect")
        return index


def runs(target: np.ndarray, source: np.ndarray) -> list[tuple[slice, slice]]:
    """Pairs of slices copying ``source`` positions to ``target`` positions: one per run
    where the target steps by 1 and the source by 1 or -1 (a mirrored edge is a run
    backwards), so that a tile is copied by views, never gathered element by element."""
    if target.size == 0:
        return []
    target_step, source_step = np.diff(target), np.diff(source)
    breaks = np.flatnonzero((target_step != 1) | (np.abs(source_step) != 1) |
                            np.r_[False, source_step[1:] != source_step[:-1]])
    pairs, start = [], 0
    for end in [*(breaks + 1).tolist(), target.size]:
        first, length = int(source[start]), end - start
        step = int(source_step[start]) if length > 1 else 1
        stop = first + step * length
        pairs.append((slice(int(target[start]), int(target[start]) + length),
                      slice(first, None if stop < 0 else stop, step)))
        start = end
    return pairs


@dataclass
class Feed:
    """What one model takes from a stack: its bands (1-based, in the model's order) and
    how they reach it, stored (``in_graph``, as ``input_dtype``) or normalised (float32)
    with ``factor``, ``term`` and ``clip``."""

    bands: StackBands
    in_graph: bool
    factor: np.ndarray
    term: np.ndarray
    normalisation: Normalisation
    input_dtype: np.dtype

    @property
    def clip(self) -> tuple[float, float] | None:
        return self.normalisation.clip


def make_feed(bands: StackBands, normalisation: Normalisation, stored_dtype, in_graph: bool) -> Feed:
    factor, term = affine(bands, normalisation)
    return Feed(bands, in_graph, factor, term, normalisation,
                np.dtype(stored_dtype) if in_graph else np.dtype(np.float32))


@dataclass
class Strip:
    """Scene rows [first, first + rows) as every feed needs them."""

    first: int
    rows: int
    valid: np.ndarray  # (rows, width) bool: the stack's mask
    planes: np.ndarray | None  # (planes, rows, width) float32: normalised bands, zero where invalid
    stored: np.ndarray | None  # (bands read, rows, width): stored values, the sentinel where invalid (graph
    # feeds only; its array is reused once the strip is dropped)
    output_valid: list[np.ndarray]  # per feed: where its probabilities are written (mask, and finite bands)


class StackStrips:
    """Strips of one open stack for the feeds of one group of models (see the module
    docstring): :meth:`tile` fills one model's input for a tile from the strips it
    needs, reading them on first use and dropping those no later tile row needs."""

    def __init__(self, dataset, grid: Grid, feeds: list[Feed], sentinel: int | None):
        self.dataset, self.grid, self.feeds, self.sentinel = dataset, grid, feeds, sentinel
        block_rows = dataset.block_shapes[0][0] if dataset.block_shapes else 1
        self.strip_rows = block_rows * -(-STRIP_MIN_ROWS // block_rows) if block_rows < STRIP_MIN_ROWS else block_rows
        self.read = sorted({i for feed in feeds for i in feed.bands.indexes})  # bands decoded, 1-based
        self.position = {index: n for n, index in enumerate(self.read)}
        dtype = np.dtype(dataset.dtypes[self.read[0] - 1]) if self.read else np.dtype(np.float32)
        self.floating = any(np.issubdtype(np.dtype(dataset.dtypes[i - 1]), np.floating) for i in self.read)
        self.mask_from_nodata = self._mask_from_nodata()
        if self.mask_from_nodata:  # every band decides validity: decode them all (blocks hold them all anyway)
            self.read = list(range(1, dataset.count + 1))
            self.position = {index: n for n, index in enumerate(self.read)}
        self.shared = not self.floating and all(_bounded(feed, dtype) for feed in feeds if not feed.in_graph)
        self.plane_of, self.plane_keys = self._planes()
        self.cols = {}  # padded column -> scene columns of a tile starting there
        self.needed = [self._strips_of(line) for line in grid.rows]
        self.strips: dict[int, Strip] = {}
        self.fresh: list[Strip] = []  # read since the caller last took them (for the writer's validity)
        self.spare: list[tuple[np.ndarray | None, np.ndarray | None]] = []  # (stored, planes) of dropped strips
        self.decoded: np.ndarray | None = None  # the decoding buffer when strips keep only normalised planes

    def _mask_from_nodata(self) -> bool:
        flags = self.dataset.mask_flag_enums
        return bool(flags) and all(f == [MaskFlags.nodata] for f in flags) and self.dataset.nodata is not None

    def _planes(self) -> tuple[list[list[int]], list[tuple]]:
        """Normalised planes: one per (band, factor, term, clip) shared by the host feeds
        (``shared``), else one per feed and band; per feed the planes of its bands."""
        keys: list[tuple] = []
        plane_of = []
        for number, feed in enumerate(self.feeds):
            if feed.in_graph:
                plane_of.append([])
                continue
            planes = []
            for band, index in enumerate(feed.bands.indexes):
                key = (index, float(feed.factor[band]), float(feed.term[band]), feed.clip) if self.shared else \
                    (number, band)
                if key not in keys:
                    keys.append(key)
                planes.append(keys.index(key))
            plane_of.append(planes)
        return plane_of, keys

    def _strips_of(self, line: list[Tile]) -> set[int]:
        rows = self.grid.scene_index(line[0].row, line[0].height, self.grid.height)
        return set((np.unique(rows) // self.strip_rows).tolist())

    def start_row(self, number: int) -> None:
        """Make the strips of tile row ``number`` ready, dropping those neither it nor a
        later row needs (so no strip is ever read twice)."""
        keep = set().union(*self.needed[number:])
        for key in [k for k in self.strips if k not in keep]:
            dropped = self.strips.pop(key)
            self.spare.append((dropped.stored, dropped.planes))  # reused: no fresh pages for the next strip
        for key in sorted(self.needed[number] - set(self.strips)):
            self.strips[key] = self._read(key)
            self.fresh.append(self.strips[key])

    def take_fresh(self) -> list[Strip]:
        fresh, self.fresh = self.fresh, []
        return fresh

    def _read(self, key: int) -> Strip:
        first = key * self.strip_rows
        rows = min(self.strip_rows, self.grid.height - first)
        window = Window(0, first, self.grid.width, rows)
        buffer, planes = self.spare.pop() if self.spare else (None, None)
        if buffer is None:  # host feeds only: one buffer serves every strip, normalised right away
            buffer, self.decoded = self.decoded, None
        shape = (len(self.read), rows, self.grid.width)
        if buffer is None or buffer.shape != shape:
            buffer = np.empty(shape, np.result_type(*(self.dataset.dtypes[i - 1] for i in self.read)))
            planes = None if planes is None or planes.shape[1:] != shape[1:] else planes
        stored = self.dataset.read(self.read, window=window, out=buffer)
        if self.mask_from_nodata:
            nodata = self.dataset.nodata
            valid = (~np.isnan(stored) if np.isnan(nodata) else stored != stored.dtype.type(nodata)).any(axis=0)
        else:
            valid = self.dataset.dataset_mask(window=window) > 0
        all_valid = bool(valid.all())
        output_valid = []
        for feed in self.feeds:
            if self.floating:
                finite = np.isfinite(stored[[self.position[i] for i in feed.bands.indexes]]).all(axis=0)
                output_valid.append(valid & finite)
            else:
                output_valid.append(valid)
        if not self.plane_keys:
            planes = None
        elif planes is None:
            planes = np.empty((len(self.plane_keys), rows, self.grid.width), np.float32)
        if planes is not None:
            if self.shared:
                for plane, (index, factor, term, clip) in enumerate(self.plane_keys):
                    normalise_band(stored[self.position[index]], np.float32(factor), np.float32(term), planes[plane])
                    if clip is not None:
                        np.clip(planes[plane], clip[0], clip[1], out=planes[plane])
                    if not all_valid:
                        planes[plane][~valid] = 0.0
            else:
                for number, feed in enumerate(self.feeds):
                    if feed.in_graph:
                        continue
                    selected = [self.position[i] for i in feed.bands.indexes]
                    x = model_input(stored[selected], valid, feed.bands, feed.normalisation)
                    for band, plane in enumerate(self.plane_of[number]):
                        planes[plane] = x[band]
        kept = None
        if any(feed.in_graph for feed in self.feeds):
            if not all_valid:
                stored[:, ~valid] = self.sentinel
            kept = stored
        else:
            self.decoded = buffer
        return Strip(first, rows, valid, planes, kept, output_valid)

    def tile(self, number: int, tile: Tile, out: np.ndarray) -> None:
        """Fill ``out`` (bands, size, size) with feed ``number``'s input for ``tile``."""
        feed, grid = self.feeds[number], self.grid
        rows = grid.scene_index(tile.row, tile.height, grid.height)
        if tile.col not in self.cols:
            cols = grid.scene_index(tile.col, tile.width, grid.width)
            self.cols[tile.col] = runs(np.arange(cols.size), cols)
        sources = [self.position[i] for i in feed.bands.indexes] if feed.in_graph else self.plane_of[number]
        for key in sorted(set((rows // self.strip_rows).tolist())):
            strip = self.strips[key]
            data = strip.stored if feed.in_graph else strip.planes
            positions = np.flatnonzero((rows >= strip.first) & (rows < strip.first + strip.rows))
            for target_rows, source_rows in runs(positions, rows[positions] - strip.first):
                for target_cols, source_cols in self.cols[tile.col]:
                    for band, source in enumerate(sources):
                        out[band, target_rows, target_cols] = data[source, source_rows, source_cols]


def _bounded(feed: Feed, dtype: np.dtype) -> bool:
    """Whether an integer stack's values stay finite in float32 after the feed's
    multiply-add (any finite factor and term of sane size): then validity is the mask
    alone, the same for every model, and normalised bands can be shared."""
    if not np.issubdtype(dtype, np.integer):
        return False
    info = np.iinfo(dtype)
    largest = max(abs(int(info.min)), abs(int(info.max)))
    factor, term = feed.factor.astype(np.float64), feed.term.astype(np.float64)
    if not (np.isfinite(factor).all() and np.isfinite(term).all()):
        return False
    return bool((largest * np.abs(factor) + np.abs(term) < 1e37).all())


def window_input(dataset, feed: Feed, row: int, col: int, size: int, sentinel: int | None = None) -> np.ndarray:
    """The input (bands, size, size) that ``feed``'s model gets for the square of the
    scene at (``row``, ``col``), cut from strips as rts-infer cuts its tiles (reflected
    past the scene's edges): what a model sees, for tests and notebooks."""
    tile = Tile(row, col, size, size, None)
    grid = Grid(dataset.height, dataset.width, size, 0, 0, size, dataset.height, dataset.width, [[tile]])
    strips = StackStrips(dataset, grid, [feed], sentinel)
    strips.start_row(0)
    out = np.empty((len(feed.bands.indexes), size, size), feed.input_dtype)
    strips.tile(0, tile, out)
    return out
