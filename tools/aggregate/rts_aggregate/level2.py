"""Level 2, tracks and coverage from Level-1 polygons (pure geometry; no file I/O).

Geometry work happens in EPSG:6931 (EASE-Grid 2.0 North, Lambert azimuthal equal-area
on the pole): areas are true and the antimeridian is an ordinary line there. All
functions take and return GeoDataFrames in that CRS; conversion to EPSG:4326 happens at
the edges. Hot paths are vectorised (STRtree pair queries, numpy group-bys), with no
per-feature Python loops.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

WORK_CRS = "EPSG:6931"
log = logging.getLogger(__name__)


def _pairs(left, right, predicate: str) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i into left, j into right) where ``predicate(left[i], right[j])``."""
    if len(left) == 0 or len(right) == 0:
        return np.empty(0, int), np.empty(0, int)
    tree = shapely.STRtree(np.asarray(right))
    i, j = tree.query(np.asarray(left), predicate=predicate)
    return i, j


def repaired(frame, what: str):
    """The frame with invalid geometries made valid (a warning says how many)."""
    invalid = ~shapely.is_valid(frame.geometry.values)
    if invalid.any():
        log.warning("%d invalid %s geometr%s repaired", int(invalid.sum()), what, "y" if invalid.sum() == 1 else "ies")
        frame = frame.copy()
        fixed = shapely.make_valid(frame.geometry.values[invalid])
        # keep only the areal part of what make_valid returns
        frame.loc[invalid, frame.geometry.name] = [shapely.union_all(
            [g for g in shapely.get_parts(f) if g.geom_type in ("Polygon", "MultiPolygon")]) for f in fixed]
    return frame


def level2(level1, extents):
    """One row per connected part of each year's dissolved Level-1 polygons, with
    ``n_observations`` (Level-1 features merged into it), ``n_scenes`` (distinct scenes
    that detected it), ``n_acquisitions`` (distinct scenes of that year whose valid
    extent covers it, the detecting ones included), ``detection_ratio``,
    ``first_observed`` and ``last_observed`` (dates)."""
    import geopandas

    level1, extents = repaired(level1, "Level-1"), repaired(extents, "extent")
    frames = []
    for year, group in level1.groupby("year", sort=True):
        merged = shapely.union_all(group.geometry.values)
        parts = np.asarray(shapely.get_parts(merged))
        parts = parts[shapely.area(parts) > 0]
        if parts.size == 0:
            continue
        part_index, member = _pairs(parts, group.geometry.values, "intersects")
        members = group.iloc[member]
        table = pandas.DataFrame({"part": part_index, "scene_id": members["scene_id"].to_numpy(),
                                  "acquired": members["acquired"].to_numpy()})
        grouped = table.groupby("part")
        n_observations = grouped.size().reindex(range(parts.size), fill_value=0).to_numpy()
        n_scenes = grouped["scene_id"].nunique().reindex(range(parts.size), fill_value=0).to_numpy()
        first = grouped["acquired"].min().reindex(range(parts.size))
        last = grouped["acquired"].max().reindex(range(parts.size))
        seen = table[["part", "scene_id"]]
        year_extents = extents[extents["year"] == year]
        cover_part, cover_extent = _pairs(parts, year_extents.geometry.values, "covered_by")
        covering = pandas.DataFrame({"part": cover_part,
                                     "scene_id": year_extents["scene_id"].to_numpy()[cover_extent]})
        acquisitions = pandas.concat([covering, seen]).drop_duplicates()
        n_acquisitions = acquisitions.groupby("part").size().reindex(range(parts.size), fill_value=0).to_numpy()
        area = shapely.area(parts)
        frames.append(geopandas.GeoDataFrame({
            "year": np.full(parts.size, int(year), np.int32), "area_m2": area, "area_ha": area / 1e4,
            "n_observations": n_observations.astype(np.int64), "n_scenes": n_scenes.astype(np.int64),
            "n_acquisitions": n_acquisitions.astype(np.int64),
            "detection_ratio": n_scenes / np.maximum(n_acquisitions, 1),
            "first_observed": pandas.to_datetime(first.to_numpy()).date,
            "last_observed": pandas.to_datetime(last.to_numpy()).date,
        }, geometry=parts, crs=level1.crs))
    if not frames:
        return geopandas.GeoDataFrame({"year": [], "area_m2": [], "area_ha": [], "n_observations": [],
                                       "n_scenes": [], "n_acquisitions": [], "detection_ratio": [],
                                       "first_observed": [], "last_observed": []}, geometry=[], crs=level1.crs)
    return pandas.concat(frames, ignore_index=True)


def tracks(level2_frame):
    """Link Level-2 features of different years that overlap (chained across years) into
    tracks; returns (track_id per Level-2 row, the tracks table)."""
    import geopandas

    geometries = level2_frame.geometry.values
    n = len(geometries)
    i, j = _pairs(geometries, geometries, "intersects")
    years = level2_frame["year"].to_numpy()
    keep = (years[i] != years[j]) & (shapely.area(shapely.intersection(geometries[i], geometries[j])) > 0)
    graph = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    # number tracks by their first appearance (sorted by year, then position) for stable ids
    order = np.lexsort((level2_frame.geometry.centroid.x.to_numpy(), years))
    first_seen = {}
    for row in order:
        first_seen.setdefault(component[row], len(first_seen) + 1)
    track_id = np.array([first_seen[c] for c in component], np.int64)
    table = pandas.DataFrame({"track_id": track_id, "year": years})
    summary = table.groupby("track_id")["year"].agg(first_year="min", last_year="max", n_years="nunique")
    unions = [shapely.union_all(geometries[track_id == t]) for t in summary.index]
    frame = geopandas.GeoDataFrame(summary.reset_index(), geometry=unions, crs=level2_frame.crs)
    return track_id, frame


def coverage(extents, years: list[int] | None = None):
    """Annual coverage (union of the year's extents, with ``area_km2``), the union of all
    years, and the area covered in every year of ``years`` (default: the years present)."""
    import geopandas

    crs = extents.crs
    annual = []
    for year, group in extents.groupby("year", sort=True):
        union = shapely.union_all(group.geometry.values)
        annual.append({"year": int(year), "area_km2": shapely.area(union) / 1e6, "geometry": union})
    level2_cover = geopandas.GeoDataFrame(annual, geometry="geometry", crs=crs)
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
