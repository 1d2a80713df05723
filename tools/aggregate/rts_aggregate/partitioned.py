"""rts-aggregate by spatial partitions: memory that follows the busiest square of the map,
not the number of Level-1 features, and every core at work.

1. **Scan** (in parallel, chunks of input files): each Level-1 file is read, checked,
   reprojected to the work CRS (EPSG:6931, EASE-Grid 2.0 North), kept to ``--years``
   and repaired. Its rows go out twice: as rows of the level1 product (EPSG:4326) and
   into a spill file sorted by *square*, the square of the EASE-Grid plane (side
   ``square_m``) that holds the lower-left corner of the feature's bounding box. The
   scene extents come back whole: they grow with scenes, not features.
2. **Squares** (in parallel): the features of a square whose bounding boxes lie strictly
   inside it make Level 2, tracks and H3 areas there. A feature from outside can reach
   into the square by at most ``reach`` (the widest Level-1 bounding box of the run),
   so the Level-2 features within ``reach`` of the square's edge, and every track
   holding one, are left *open*: their Level-1 features go on to step 3 with the
   features that cross a square's edge. The rest is final.
3. **Open**: the open features of all squares are aggregated together, in memory, as
   one region. Level-2 features are unions of connected groups of Level-1 features
   taken in scene order (rts_aggregate.geometry.dissolve), so every feature comes out
   exactly as from one pass over all features.
4. **Merge**: tracks are numbered over all regions by first appearance (year, then
   west to east), H3 areas are summed per cell, and the products are streamed into
   GeoParquet region by region (rows are grouped by square, not sorted by year).
"""

from __future__ import annotations

import gc
import logging
import math
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas
import shapely

from rts_core import contract, geoparquet
from rts_core.crs import to_geographic
from rts_core.errors import InputError
from rts_core.log import progress, setup_logging

from . import darts, hexagons, spill
from .geometry import WORK_CRS, repaired
from .inputs import extent_beside, extent_parts, frame_of, level1_parts
from .level2 import level2_with_members
from .products import AggregateOptions, area_products, level1_product
from .tracks import rank_keys, track_components, track_keys, track_table

log = logging.getLogger(__name__)
TOOL = "rts-aggregate"
ORDER = "_order"  # a Level-1 row's place in the run: chunk << 32 | row
COMPONENT = "_component"  # a track within its region, until tracks are numbered
SQUARE_X, SQUARE_Y = "_square_x", "_square_y"
BOUNDS = ("_minx", "_miny", "_maxx", "_maxy")
#: the default square side: a few percent of Level-1 features lie near an edge, and a
#: square of the densest RTS regions holds a few hundred thousand observations
SQUARE_M = 100_000.0


@dataclass(frozen=True)
class Partitioning:
    """How a run is split: squares of ``square_m`` metres, ``workers`` processes
    (1: all in this process), ``chunk_files`` Level-1 files per scan task at most."""

    square_m: float = SQUARE_M
    workers: int = 1
    chunk_files: int = 256


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -- 1. scan -----------------------------------------------------------------------------

@dataclass
class ScanTask:
    index: int
    files: list[str]  # Level-1 paths
    extents_beside: bool  # read each file's extent beside it (else extents come separately)
    folder: Path
    options: AggregateOptions
    square_m: float


@dataclass
class ScanResult:
    index: int
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    extents: object = None  # GeoDataFrame in the work CRS, or None
    squares: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # -> (start, length)
    reach_m: float = 0.0
    features: int = 0
    level1_template: object = None  # the level1 product's columns, no rows


def scan(task: ScanTask) -> ScanResult:
    """Read one chunk of inputs; write its level1 product rows and its spill by square."""
    result = ScanResult(task.index)
    frames, extent_frames = [], []
    for level1_path in map(Path, task.files):
        try:
            if level1_path.name.endswith(contract.EXTENT_SUFFIX):
                raise InputError("an extent file among the Level-1 inputs: pass extents with --extents")
            frame = level1_parts(level1_path)
            extent_path = extent_beside(level1_path) if task.extents_beside else None
            extent = extent_parts(extent_path) if extent_path else None
        except Exception as exc:  # noqa: BLE001 - one line per bad input, reported by the caller
            result.failures.append((str(level1_path), exc))
            continue
        frames.append(frame)
        result.read.append(str(level1_path))
        if extent is not None:
            extent_frames.append(extent)
            result.read.append(str(extent_path))
    years = task.options.years
    if extent_frames:
        extents = frame_of(extent_frames)
        result.extents = extents[extents["year"].isin(years)] if years else extents
    if not frames:
        return result
    level1 = frame_of(frames)
    if years:
        level1 = level1[level1["year"].isin(years)]
    level1 = repaired(level1.sort_values("scene_id", kind="stable").reset_index(drop=True), "Level-1")
    level1[ORDER] = (np.int64(task.index) << 32) + np.arange(len(level1), dtype=np.int64)
    product = to_geographic(level1_product(level1, task.options))
    result.level1_template = product.iloc[:0]
    spill.write_table(geoparquet.table_of(product), task.folder / f"level1-{task.index:06d}.arrow")
    bounds = shapely.bounds(np.asarray(level1.geometry.values))
    for name, column in zip(BOUNDS, bounds.T, strict=True):
        level1[name] = column
    level1[SQUARE_X] = np.floor(bounds[:, 0] / task.square_m).astype(np.int64)
    level1[SQUARE_Y] = np.floor(bounds[:, 1] / task.square_m).astype(np.int64)
    level1 = level1.sort_values([SQUARE_X, SQUARE_Y], kind="stable").reset_index(drop=True)
    spill.write_frame(level1, task.folder / f"scan-{task.index:06d}.arrow")
    keys, starts, counts = np.unique(level1[[SQUARE_X, SQUARE_Y]].to_numpy(), axis=0, return_index=True,
                                     return_counts=True)
    result.squares = {(int(x), int(y)): (int(s), int(n)) for (x, y), s, n in zip(keys, starts, counts, strict=True)}
    sizes = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    result.reach_m = float(np.nanmax(sizes)) if sizes.size else 0.0
    result.features = len(level1)
    return result


# -- 2./3. regions ----------------------------------------------------------------------

@dataclass
class Region:
    """What a region contributes: final Level-2 rows and tracks (EPSG:4326, tracks by
    ``COMPONENT``), the tracks' ordering keys, H3 areas per cell, and the Level-1
    features left open (work CRS)."""

    level2: object
    tracks: object
    keys: pandas.DataFrame
    per_cell: pandas.DataFrame
    open_level1: object


def aggregate_region(level1, extents, options: AggregateOptions, box=None, reach_m: float = 0.0) -> Region:
    """Level 2, tracks and H3 areas of the Level-1 features (work CRS, repaired). With
    ``box`` (xmin, ymin, xmax, ymax), only features strictly inside it are aggregated,
    and what lies within ``reach_m`` of its edge is left open (module docstring)."""
    level1 = level1.reset_index(drop=True)
    if box is not None:
        minx, miny, maxx, maxy = (level1[name].to_numpy() for name in BOUNDS)
        inside = (minx > box[0]) & (miny > box[1]) & (maxx < box[2]) & (maxy < box[3])
        crossing, level1 = level1[~inside], level1[inside]
    else:
        crossing = level1.iloc[:0]
    level1 = level1.sort_values(["scene_id", ORDER], kind="stable").reset_index(drop=True)
    level2_frame, member_row = level2_with_members(level1, extents, repair=False)
    geometries = np.asarray(level2_frame.geometry.values)
    years = level2_frame["year"].to_numpy()
    component = track_components(geometries, years)
    open_part = np.zeros(len(level2_frame), bool)
    if box is not None and len(level2_frame):
        bounds = shapely.bounds(geometries)
        margin = reach_m + 1.0  # a metre more, against rounding
        near_edge = ((bounds[:, 0] - box[0] <= margin) | (bounds[:, 1] - box[1] <= margin)
                     | (box[2] - bounds[:, 2] <= margin) | (box[3] - bounds[:, 3] <= margin))
        open_part = np.isin(component, component[near_edge])
    closed = np.flatnonzero(~open_part)
    open_rows = np.flatnonzero(open_part)
    opened = level1[np.isin(member_row, open_rows)] if open_rows.size else level1.iloc[:0]
    final = level2_frame.iloc[closed].reset_index(drop=True)
    _, local = np.unique(component[closed], return_inverse=True)
    local = local.astype(np.int64)
    final_geometries, final_years = geometries[closed], years[closed]
    if options.schema == "darts":
        level2_product = darts.level2_records(final, level1, options.dataset_version)
    else:
        level2_product = final
    level2_product[COMPONENT] = local
    tracks = track_table(final_geometries, final_years, local, WORK_CRS).rename(columns={"track_id": COMPONENT})
    return Region(
        level2=to_geographic(level2_product),
        tracks=to_geographic(tracks),
        keys=track_keys(final_geometries, final_years, local) if closed.size else
        pandas.DataFrame({"year": [], "x": [], "y": []}),
        per_cell=hexagons.rts_per_cell(final_geometries, final_years, options.h3_resolution, WORK_CRS),
        open_level1=pandas.concat([crossing, opened], ignore_index=True))


@dataclass
class SquareTask:
    square: tuple[int, int] | None  # None: the open features of all squares
    slices: list[tuple[Path, int, int | None]]  # (scan spill, start row, rows; None: to the end)
    extents: Path
    folder: Path
    options: AggregateOptions
    square_m: float
    reach_m: float


@dataclass
class SquareResult:
    square: tuple[int, int] | None
    level2: Path
    tracks: Path
    open_level1: Path
    open_features: int
    keys: pandas.DataFrame
    per_cell: pandas.DataFrame


def aggregate_square(task: SquareTask) -> SquareResult:
    """One square: its features and the extents near it from the spill, its region
    aggregated, and its final rows and open features written back to the spill."""
    import pyarrow

    read = spill.read_table if task.square is None else spill.read_shared  # open spills are read once
    tables = [read(path).slice(start, length) for path, start, length in task.slices]
    level1 = spill.to_frame(pyarrow.concat_tables(tables, promote_options="permissive"), WORK_CRS)
    extents = spill.read_shared(task.extents)
    if task.square is None:  # the open features of all squares, with all extents
        box, name = None, "open"
    else:
        x0, y0 = task.square[0] * task.square_m, task.square[1] * task.square_m
        box, name = (x0, y0, x0 + task.square_m, y0 + task.square_m), f"{task.square[0]}_{task.square[1]}"
        near = ((extents.column(BOUNDS[0]).to_numpy() <= box[2]) & (extents.column(BOUNDS[2]).to_numpy() >= box[0])
                & (extents.column(BOUNDS[1]).to_numpy() <= box[3])
                & (extents.column(BOUNDS[3]).to_numpy() >= box[1]))
        extents = extents.filter(pyarrow.array(near))
    region = aggregate_region(level1, spill.to_frame(extents, WORK_CRS), task.options, box, task.reach_m)
    return SquareResult(
        task.square,
        level2=spill.write_table(geoparquet.table_of(region.level2), task.folder / f"level2-{name}.arrow"),
        tracks=spill.write_table(geoparquet.table_of(region.tracks), task.folder / f"tracks-{name}.arrow"),
        open_level1=spill.write_frame(region.open_level1, task.folder / f"open-{name}.arrow"),
        open_features=len(region.open_level1), keys=region.keys, per_cell=region.per_cell)


# -- running -------------------------------------------------------------------------------

def pool_context():
    """Fork while this process has a single thread (workers start at once, with the
    libraries already imported); else spawn, since a fork copies other threads' locks
    (pyarrow's pools, a progress bar's monitor) in whatever state they are."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Workers:
    """Worker processes for the tasks of a run, started once on first use; with one
    worker, tasks run here."""

    def __init__(self, count: int, logging_options: tuple[bool, bool] = (False, False)):
        self.count, self.logging_options = count, logging_options
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, function: Callable, task) -> Future:
        """``function(task)`` in a worker (here, done at once, with one worker)."""
        if self.count <= 1:
            future: Future = Future()
            future.set_result(function(task))
            return future
        return self._pool().submit(function, task)

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.count, mp_context=pool_context(),
                                            initializer=worker_logging, initargs=self.logging_options)
        return self.pool

    def run(self, function: Callable, tasks: list, label: str) -> Iterable:
        """Results of ``function`` over ``tasks``, as they complete."""
        if self.count <= 1 or len(tasks) <= 1:
            yield from progress(map(function, tasks), total=len(tasks), label=label)
            return
        futures = [self._pool().submit(function, task) for task in tasks]
        for future in progress(as_completed(futures), total=len(futures), label=label):
            yield future.result()


def worker_logging(quiet: bool, debug: bool) -> None:
    """A worker's start: what a fork inherited is never garbage-collected here (a
    library object whose destructor joins threads that did not come along would wait
    for them forever; seen with ONNX Runtime sessions left by earlier in-process runs)."""
    gc.freeze()
    setup_logging(TOOL, quiet=quiet, debug=debug)


@dataclass
class Scanned:
    """The scan of a run: per chunk its result, in input order."""

    results: list[ScanResult]
    folder: Path

    @property
    def failures(self) -> list[tuple[str, BaseException]]:
        return [f for r in self.results for f in r.failures]

    @property
    def read(self) -> list[Path]:
        return [Path(p) for r in self.results for p in r.read]

    @property
    def any_level1(self) -> bool:
        return any(r.read for r in self.results)


def scan_inputs(level1_paths: list[str], extents_beside: bool, folder: Path, options: AggregateOptions,
                partitioning: Partitioning, workers: Workers) -> Scanned:
    """Step 1 over all inputs, in chunks of files sorted by name (scene order, whatever
    order they came in), each with the extent beside it when ``extents_beside``."""
    files = [str(p) for p in sorted(map(Path, level1_paths), key=lambda p: (p.name, str(p)))]
    size = max(1, min(partitioning.chunk_files, math.ceil(len(files) / (4 * max(workers.count, 1)))))
    tasks = [ScanTask(i, files[start:start + size], extents_beside, folder, options, partitioning.square_m)
             for i, start in enumerate(range(0, len(files), size))]
    results = sorted(workers.run(scan, tasks, "reading"), key=lambda r: r.index)
    return Scanned(results, folder)


def aggregate_scanned(scanned: Scanned, extents, out: Path, options: AggregateOptions,
                      partitioning: Partitioning, workers: Workers) -> dict[str, Path]:
    """Steps 2 to 4: every product of CONTRACT.md section 5 written under ``out`` as
    GeoParquet; returns their paths by name. ``extents``: all scene extents of the
    run (work CRS)."""
    folder = scanned.folder
    extents = repaired(extents.sort_values("scene_id", kind="stable").reset_index(drop=True), "extent")
    features = sum(r.features for r in scanned.results)
    reach_m = max((r.reach_m for r in scanned.results), default=0.0)
    log.info("%d Level-1 features, %d scene extents, years %s", features, len(extents),
             ",".join(map(str, sorted(set(extents["year"])))) or "none")
    extents_spill = extents.copy()
    for name, column in zip(BOUNDS, shapely.bounds(np.asarray(extents.geometry.values)).T, strict=True):
        extents_spill[name] = column
    spill.write_frame(extents_spill, folder / "extents.arrow")
    slices: dict[tuple[int, int], list] = {}
    for result in scanned.results:
        for square, (start, length) in result.squares.items():
            slices.setdefault(square, []).append((folder / f"scan-{result.index:06d}.arrow", start, length))
    if reach_m > partitioning.square_m / 4:
        log.warning("a Level-1 feature %.0f m wide against squares of %.0f m: many features are aggregated "
                    "outside the squares (--square-km larger, or check that feature)", reach_m, partitioning.square_m)
    # the busiest squares first, so that no worker is left with a large one at the end
    by_size = sorted(slices, key=lambda square: (-sum(length for *_, length in slices[square]), square))
    tasks = [SquareTask(square, slices[square], folder / "extents.arrow", folder, options, partitioning.square_m,
                        reach_m) for square in by_size]
    squares = sorted(workers.run(aggregate_square, tasks, "squares"), key=lambda r: r.square)
    log.info("%d square(s) of %.0f km; %d Level-1 feature(s) near their edges aggregated together",
             len(squares), partitioning.square_m / 1000, sum(s.open_features for s in squares))
    # the open features in a worker while the level1 product is written here; an empty
    # slice of a scan spill gives the columns when no feature is open
    first_scan = next(folder / f"scan-{r.index:06d}.arrow" for r in scanned.results if r.level1_template is not None)
    open_future = workers.submit(aggregate_square, SquareTask(
        None, [(s.open_level1, 0, None) for s in squares] + [(first_scan, 0, 0)], folder / "extents.arrow", folder,
        options, partitioning.square_m, reach_m))
    paths = {name: out / f"{name}.parquet" for name in contract.PRODUCTS}
    level1_template = next(r.level1_template for r in scanned.results if r.level1_template is not None)
    write_streamed(paths["level1"], level1_template, (spill.read_table(folder / f"level1-{r.index:06d}.arrow")
                                                      for r in scanned.results if r.level1_template is not None))
    regions = [*squares, open_future.result()]
    track_ids = track_numbers([r.keys for r in regions])
    level2_columns = level2_columns_of(options)
    level2_template, tracks_template = (spill.read_table(getattr(regions[-1], what)).slice(0, 0)
                                        for what in ("level2", "tracks"))
    write_streamed(paths["level2"], template(level2_template, level2_columns),
                   (numbered(table, track_ids[index], level2_columns)
                    for index, table in stream_regions(regions, "level2")))
    write_streamed(paths["tracks"], template(tracks_template, contract.TRACK_COLUMNS),
                   (numbered(table, track_ids[index], contract.TRACK_COLUMNS)
                    for index, table in stream_regions(regions, "tracks")))
    for name, frame in area_products(extents, [r.per_cell for r in regions], options).items():
        geoparquet.write(to_geographic(frame.reset_index(drop=True)), paths[name])
    spill.read_shared.cache_clear()  # the spill goes with the run
    return paths


def write_streamed(path: Path, empty, tables: Iterable) -> None:
    """A GeoParquet product from tables of :func:`rts_core.geoparquet.table_of`, one at a time;
    ``empty`` (a frame or table without rows) makes the file when there is none."""
    writer = geoparquet.Writer(path, empty)
    try:
        for table in tables:
            writer.write_table(table)
        writer.close()
    except BaseException:
        writer.abort()
        raise


def track_numbers(region_keys: list[pandas.DataFrame]) -> list[pandas.Series]:
    """Per region, its tracks' ids (by local component), numbered over all regions."""
    ranks = rank_keys(pandas.concat(region_keys, ignore_index=True)) if any(len(k) for k in region_keys) else []
    bounds = np.cumsum([0] + [len(k) for k in region_keys])
    return [pandas.Series(ranks[bounds[i]:bounds[i + 1]], index=keys.index, dtype=np.int64)
            for i, keys in enumerate(region_keys)]


def stream_regions(regions: list[SquareResult], what: str):
    """(region index, GeoParquet table) of one product, region by region."""
    for index, region in enumerate(regions):
        table = spill.read_table(getattr(region, what))
        if len(table):
            yield index, table


def numbered(table, track_ids: pandas.Series, columns: tuple[str, ...] | None):
    """A region's table with its tracks' ids in ``track_id`` in place of ``COMPONENT``,
    and the product's ``columns`` (None: all but ``COMPONENT``) before the bbox."""
    import pyarrow

    if columns is None:
        return table.drop_columns([COMPONENT])
    component = table.column(COMPONENT).to_numpy()
    ids = track_ids.reindex(component).to_numpy(dtype=np.int64) if len(component) else np.empty(0, np.int64)
    table = table.drop_columns([c for c in (COMPONENT, "track_id") if c in table.column_names])
    table = table.append_column("track_id", pyarrow.array(ids, pyarrow.int64()))
    return table.select([*columns, "bbox"])


def level2_columns_of(options: AggregateOptions) -> tuple[str, ...] | None:
    return contract.LEVEL2_COLUMNS if options.schema == "rtsmap" else None


def template(table, columns: tuple[str, ...] | None):
    """A product frame without rows, from a region's table without rows: the file
    written when no region has a row."""
    empty = geoparquet.frame_of(table).drop(columns=[COMPONENT])
    if columns is None:
        return empty
    empty["track_id"] = np.empty(0, np.int64)
    return empty[[*columns]]
