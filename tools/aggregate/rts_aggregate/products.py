"""The aggregated products' rows from Level-1 features and scene extents (no file I/O):
the level1 product's columns, and the products made from the extents (coverage, H3).
rts_aggregate.partitioned puts them together square by square.

Inputs arrive in the work CRS (EPSG:6931); products are returned in EPSG:4326, split at
the antimeridian, with every area computed before that in the equal-area work CRS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rts_core import contract
from rts_core.sceneid import sensor_of

from . import darts, hexagons
from .coverage import coverage

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
