"""Tracks: Level-2 features of different years that overlap, chained into one physical
feature followed across years."""

from __future__ import annotations

import numpy as np
import pandas
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .geometry import pairs


def tracks(level2_frame):
    """Link Level-2 features of different years that overlap (chained across years) into
    tracks; returns (track_id per Level-2 row, the tracks table). Track ids number the
    tracks by first appearance (year, then west to east), so they are stable for the
    same input."""
    import geopandas

    geometries = np.asarray(level2_frame.geometry.values)
    n = len(geometries)
    years = level2_frame["year"].to_numpy()
    i, j = pairs(geometries, geometries, "intersects")
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
