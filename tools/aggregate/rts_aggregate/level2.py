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

from rts_core.vector import repair_geometries

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
    if shapely.is_valid(frame.geometry.values).all():
        return frame
    return frame.set_geometry(repair_geometries(frame.geometry.values, what), crs=frame.crs)


def _components(geometries) -> tuple[int, np.ndarray]:
    """Connected components of geometries that intersect (touching at a corner counts)."""
    n = len(geometries)
    i, j = _pairs(geometries, geometries, "intersects")
    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)


def dissolve(geometries) -> np.ndarray:
    """The union of the geometries split into 8-connected objects: parts that touch only
    at a corner stay one (Multi)Polygon, as Level-1 objects do (CONTRACT.md section 5)."""
    merged = shapely.union_all(geometries)
    parts = np.asarray(shapely.get_parts(merged))
    parts = parts[shapely.area(parts) > 0]
    if parts.size == 0:
        return parts
    count, label = _components(parts)
    if count == parts.size:
        return parts
    order = np.argsort(label, kind="stable")
    split = np.flatnonzero(np.diff(label[order])) + 1
    return np.asarray([p[0] if len(p) == 1 else shapely.multipolygons(p)
                       for p in np.split(parts[order], split)], dtype=object)


def level2(level1, extents, *, repair: bool = True):
    """One row per 8-connected part of each year's dissolved Level-1 polygons, with
    ``n_observations`` (Level-1 features merged into it), ``n_scenes`` (distinct scenes
    that detected it), ``n_acquisitions`` (distinct scenes of that year whose valid
    extent covers it, the detecting ones included), ``detection_ratio``,
    ``first_observed`` and ``last_observed`` (dates). ``repair=False`` skips the
    validity pass for callers that have already run :func:`repaired`."""
    import geopandas

    if repair:
        level1, extents = repaired(level1, "Level-1"), repaired(extents, "extent")
    frames = []
    for year, group in level1.groupby("year", sort=True):
        parts = dissolve(group.geometry.values)
        if parts.size == 0:
            continue
        # parts are 8-connected components, so each Level-1 feature meets exactly one
        part_index, member = _pairs(parts, group.geometry.values, "intersects")
        members = group.iloc[member]
        table = pandas.DataFrame({"part": part_index, "scene_id": members["scene_id"].to_numpy(),
                                  "acquired": members["acquired"].to_numpy()})
        grouped = table.groupby("part")
        every = range(parts.size)
        n_observations = grouped.size().reindex(every, fill_value=0).to_numpy()
        n_scenes = grouped["scene_id"].nunique().reindex(every, fill_value=0).to_numpy()
        first = grouped["acquired"].min().reindex(every)
        last = grouped["acquired"].max().reindex(every)
        year_extents = extents[extents["year"] == year]
        cover_part, cover_extent = _pairs(parts, year_extents.geometry.values, "covered_by")
        covering = pandas.DataFrame({"part": cover_part,
                                     "scene_id": year_extents["scene_id"].to_numpy()[cover_extent]})
        acquisitions = pandas.concat([covering, table[["part", "scene_id"]]]).drop_duplicates()
        n_acquisitions = acquisitions.groupby("part").size().reindex(every, fill_value=0).to_numpy()
        area = shapely.area(parts)
        frames.append(geopandas.GeoDataFrame({
            "year": np.full(parts.size, int(year), np.int32), "area_m2": area, "area_ha": area / 1e4,
            "n_observations": n_observations.astype(np.int64), "n_scenes": n_scenes.astype(np.int64),
            "n_acquisitions": n_acquisitions.astype(np.int64),
            "detection_ratio": n_scenes / np.maximum(n_acquisitions, 1),
            "first_observed": pandas.to_datetime(first.to_numpy(), utc=True).date,
            "last_observed": pandas.to_datetime(last.to_numpy(), utc=True).date,
        }, geometry=parts, crs=level1.crs))
    if not frames:
        return geopandas.GeoDataFrame({"year": np.empty(0, np.int32), "area_m2": [], "area_ha": [],
                                       "n_observations": np.empty(0, np.int64), "n_scenes": np.empty(0, np.int64),
                                       "n_acquisitions": np.empty(0, np.int64), "detection_ratio": [],
                                       "first_observed": np.empty(0, object), "last_observed": np.empty(0, object)},
                                      geometry=[], crs=level1.crs)
    return pandas.concat(frames, ignore_index=True)


def tracks(level2_frame):
    """Link Level-2 features of different years that overlap (chained across years) into
    tracks; returns (track_id per Level-2 row, the tracks table). Track ids number the
    tracks by first appearance (year, then west to east), so they are stable for the
    same input."""
    import geopandas

    geometries = np.asarray(level2_frame.geometry.values)
    n = len(geometries)
    years = level2_frame["year"].to_numpy()
    i, j = _pairs(geometries, geometries, "intersects")
    candidate = years[i] != years[j]
    i, j = i[candidate], j[candidate]
    keep = shapely.area(shapely.intersection(geometries[i], geometries[j])) > 0
    graph = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    order = np.lexsort((shapely.get_x(shapely.centroid(geometries)), years))
    components_in_order, first_position = np.unique(component[order], return_index=True)
    rank = np.empty(components_in_order.size, np.int64)
    rank[np.argsort(first_position, kind="stable")] = np.arange(1, components_in_order.size + 1)
    track_id = rank[np.searchsorted(components_in_order, component)] if n else np.empty(0, np.int64)
    table = pandas.DataFrame({"track_id": track_id, "year": years})
    summary = table.groupby("track_id")["year"].agg(first_year="min", last_year="max", n_years="nunique")
    # one member: its own geometry; several: their union (few, so a loop is cheap)
    by_track = np.argsort(track_id, kind="stable")
    split = np.flatnonzero(np.diff(track_id[by_track])) + 1
    unions = [members[0] if len(members) == 1 else shapely.union_all(members)
              for members in np.split(geometries[by_track], split)] if n else []
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
