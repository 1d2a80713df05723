"""Coverage: where scenes looked, per year, in any year and in every year."""

from __future__ import annotations

import numpy as np
import shapely


def coverage(extents, years: list[int] | None = None):
    """Annual coverage (union of the year's extents, with ``area_km2``), the union of all
    years, and the area covered in every year of ``years`` (default: the years present)."""
    import geopandas

    crs = extents.crs
    annual = []
    for year, group in extents.groupby("year", sort=True):
        union = shapely.union_all(group.geometry.values)
        annual.append({"year": int(year), "area_km2": shapely.area(union) / 1e6, "geometry": union})
    level2_cover = geopandas.GeoDataFrame(
        annual or {"year": np.array([], np.int64), "area_km2": np.array([], float)},  # no year: empty, full schema
        geometry="geometry" if annual else [], crs=crs)
    union = shapely.union_all(level2_cover.geometry.values) if len(level2_cover) else shapely.Polygon()
    wanted = sorted(years) if years else list(level2_cover["year"])
    by_year = dict(zip(level2_cover["year"], level2_cover.geometry, strict=True))
    if wanted and all(y in by_year for y in wanted):
        intersect = shapely.intersection_all([by_year[y] for y in wanted])
    else:
        intersect = shapely.Polygon()
    def single(geometry):
        return geopandas.GeoDataFrame({"area_km2": [shapely.area(geometry) / 1e6]}, geometry=[geometry], crs=crs)

    union_frame, intersect_frame = single(union), single(intersect)
    intersect_frame["years"] = ",".join(map(str, wanted))
    return level2_cover, union_frame, intersect_frame
