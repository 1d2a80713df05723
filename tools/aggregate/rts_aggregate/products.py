"""All aggregated products from Level-1 features and scene extents (no file I/O).

Inputs arrive in the work CRS (EPSG:6931); products are returned in EPSG:4326, split at
the antimeridian, with every area computed before that in the equal-area work CRS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rts_core import contract
from rts_core.crs import to_geographic
from rts_core.sceneid import sensor_of

from . import darts, hexagons
from .coverage import coverage
from .geometry import repaired
from .level2 import level2
from .tracks import tracks

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class AggregateOptions:
    """``years``: the years kept and the range over which ``coverage_intersect`` is
    taken (None: the years present); ``h3_resolution``: H3 grid resolution; ``schema``:
    the columns of level1 and level2, rtsmap's (CONTRACT.md section 5) or the published
    DARTS records' (``darts``, with ``dataset_version``)."""

    years: tuple[int, ...] | None = None
    h3_resolution: int = 4
    schema: str = "rtsmap"
    dataset_version: str = "unreleased"


def aggregate(level1, extents, options: AggregateOptions = AggregateOptions()) -> dict[str, object]:
    """Every product of CONTRACT.md section 5 (contract.PRODUCTS), keyed by name, in EPSG:4326."""
    if options.years is not None:
        level1 = level1[level1["year"].isin(options.years)]
        extents = extents[extents["year"].isin(options.years)]
    # in scene order whatever order the files came in (a pipe, a workflow engine): the
    # dissolves then add areas in one order, and Level 2 is the same to the last digit
    level1 = repaired(level1.sort_values("scene_id", kind="stable").reset_index(drop=True), "Level-1")
    extents = repaired(extents.sort_values("scene_id", kind="stable").reset_index(drop=True), "extent")
    log.info("%d Level-1 features, %d scene extents, years %s", len(level1), len(extents),
             ",".join(map(str, sorted(set(extents["year"]) | set(level1["year"])))) or "none")
    level2_frame = level2(level1, extents, repair=False)  # repaired just above
    track_id, tracks_frame = tracks(level2_frame)
    level2_frame["track_id"] = track_id
    per_cell = hexagons.rts_per_cell(level2_frame.geometry.values, level2_frame["year"].to_numpy(),
                                     options.h3_resolution, extents.crs)
    areas = area_products(extents, [per_cell], options)
    log.info("%d Level-2 features in %d tracks, %d H3 rows (cell x year)", len(level2_frame), len(tracks_frame),
             len(areas["h3"]))
    if options.schema == "darts":
        level2_product = darts.level2_records(level2_frame, level1, options.dataset_version)
    else:
        level2_product = level2_frame[[*contract.LEVEL2_COLUMNS]]
    products = {"level1": level1_product(level1, options), "level2": level2_product,
                "tracks": tracks_frame[[*contract.TRACK_COLUMNS]], **areas}
    return {name: to_geographic(frame.reset_index(drop=True)) for name, frame in products.items()}


def level1_product(level1, options: AggregateOptions):
    """The level1 product's rows: rtsmap's columns, or the DARTS records'."""
    if options.schema == "darts":
        return darts.level1_records(level1, options.dataset_version)
    return level1[[*contract.L1_COLUMNS]]


def area_products(extents, per_cell: list, options: AggregateOptions) -> dict[str, object]:
    """The products made from the scene extents (work CRS): coverage_level1 (with
    ``area_km2`` and ``sensor``), coverage_level2, coverage_union, coverage_intersect,
    and h3 from the Level-2 areas per cell (hexagons.rts_per_cell tables)."""
    annual, union, intersect = coverage(extents, list(options.years) if options.years else None)
    if options.years:
        missing = sorted(set(options.years) - set(annual["year"]))
        if missing:
            log.warning("no scene covers year(s) %s: coverage_intersect is empty", ",".join(map(str, missing)))
    h3_frame = hexagons.density_table(per_cell, annual, options.h3_resolution, extents.crs)
    coverage_level1 = extents.copy()
    coverage_level1["area_km2"] = coverage_level1.geometry.area / 1e6
    coverage_level1["sensor"] = coverage_level1["scene_id"].map(sensor_of).astype(str)
    return {"coverage_level1": coverage_level1, "coverage_level2": annual, "coverage_union": union,
            "coverage_intersect": intersect, "h3": h3_frame[[*contract.H3_COLUMNS]]}
