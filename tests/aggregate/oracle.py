"""The one-pass aggregation: every product from all Level-1 features and extents at
once, in memory. rts-aggregate works square by square (rts_aggregate.partitioned); its
products must equal these, which is what the partitioned tests check against."""

from __future__ import annotations

from rts_aggregate import darts, hexagons
from rts_aggregate.geometry import repaired
from rts_aggregate.level2 import level2
from rts_aggregate.products import AggregateOptions, area_products, level1_product
from rts_aggregate.tracks import tracks
from rts_core import contract
from rts_core.crs import to_geographic


def aggregate(level1, extents, options: AggregateOptions = AggregateOptions()) -> dict[str, object]:
    """Every product of CONTRACT.md section 5 (contract.PRODUCTS), keyed by name, in EPSG:4326."""
    if options.years is not None:
        level1 = level1[level1["year"].isin(options.years)]
        extents = extents[extents["year"].isin(options.years)]
    # in scene order whatever order the files came in (a pipe, a workflow engine): the
    # dissolves then add areas in one order, and Level 2 is the same to the last digit
    level1 = repaired(level1.sort_values("scene_id", kind="stable").reset_index(drop=True), "Level-1")
    extents = repaired(extents.sort_values("scene_id", kind="stable").reset_index(drop=True), "extent")
    level2_frame = level2(level1, extents, repair=False)  # repaired just above
    track_id, tracks_frame = tracks(level2_frame)
    level2_frame["track_id"] = track_id
    per_cell = hexagons.rts_per_cell(level2_frame.geometry.values, level2_frame["year"].to_numpy(),
                                     options.h3_resolution, extents.crs)
    areas = area_products(extents, [per_cell], options)
    if options.schema == "darts":
        level2_product = darts.level2_records(level2_frame, level1, options.dataset_version)
    else:
        level2_product = level2_frame[[*contract.LEVEL2_COLUMNS]]
    products = {"level1": level1_product(level1, options), "level2": level2_product,
                "tracks": tracks_frame[[*contract.TRACK_COLUMNS]], **areas}
    return {name: to_geographic(frame.reset_index(drop=True)) for name, frame in products.items()}
