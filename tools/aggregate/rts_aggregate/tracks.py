"""Tracks: Level-2 features of different years that overlap, chained into one physical
feature followed across years."""

from __future__ import annotations

import numpy as np
import pandas
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .geometry import pairs


def track_components(geometries, years) -> np.ndarray:
    """A component label (0, 1, ...) per Level-2 feature: features of different years
    whose interiors overlap (an intersection of positive area) are chained into one."""
    geometries = np.asarray(geometries, dtype=object)
    n = len(geometries)
    years = np.asarray(years)
    i, j = pairs(geometries, geometries, "intersects")
    candidate = years[i] != years[j]
    i, j = i[candidate], j[candidate]
    # polygons' interiors meet exactly where they intersect without only touching
    keep = ~shapely.touches(geometries[i], geometries[j])
    graph = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def track_keys(geometries, years, component) -> pandas.DataFrame:
    """Per component: the smallest (year, centroid x, centroid y) of its features in the
    work CRS: the order in which tracks are numbered (first year, then west to east)."""
    centroids = shapely.centroid(np.asarray(geometries, dtype=object))
    table = pandas.DataFrame({"component": component, "year": np.asarray(years, np.int64),
                              "x": shapely.get_x(centroids), "y": shapely.get_y(centroids)})
    return table.sort_values(["year", "x", "y"], kind="stable").groupby("component", sort=True).first()


def rank_keys(keys: pandas.DataFrame) -> np.ndarray:
    """Track ids 1..n for rows of (year, x, y) keys, in the order of the keys."""
    order = np.lexsort((keys["y"].to_numpy(), keys["x"].to_numpy(), keys["year"].to_numpy()))
    rank = np.empty(len(keys), np.int64)
    rank[order] = np.arange(1, len(keys) + 1)
    return rank


def track_table(geometries, years, track_id, crs):
    """The tracks product: per track its first and last year, the number of years and
    the union of its features."""
    import geopandas

    geometries = np.asarray(geometries, dtype=object)
    track_id = np.asarray(track_id, np.int64)
    table = pandas.DataFrame({"track_id": track_id, "year": np.asarray(years)})
    summary = table.groupby("track_id")["year"].agg(first_year="min", last_year="max", n_years="nunique")
    # one member: its own geometry; several: their union (few, so a loop is cheap), the
    # members in year and west-east order, whatever the order of the rows
    centroids = shapely.centroid(geometries)
    by_track = np.lexsort((shapely.get_y(centroids), shapely.get_x(centroids), np.asarray(years), track_id))
    split = np.flatnonzero(np.diff(track_id[by_track])) + 1
    unions = [members[0] if len(members) == 1 else shapely.union_all(members)
              for members in np.split(geometries[by_track], split)] if len(geometries) else []
    return geopandas.GeoDataFrame(summary.reset_index(), geometry=unions, crs=crs)


def tracks(level2_frame):
    """Link Level-2 features of different years that overlap (chained across years) into
    tracks; returns (track_id per Level-2 row, the tracks table). Track ids number the
    tracks by first appearance (year, then west to east), so they are stable for the
    same input, however it is ordered or partitioned."""
    geometries = np.asarray(level2_frame.geometry.values)
    years = level2_frame["year"].to_numpy()
    component = track_components(geometries, years)
    if len(geometries) == 0:
        return np.empty(0, np.int64), track_table(geometries, years, np.empty(0, np.int64), level2_frame.crs)
    keys = track_keys(geometries, years, component)
    track_id = rank_keys(keys)[component]
    return track_id, track_table(geometries, years, track_id, level2_frame.crs)
