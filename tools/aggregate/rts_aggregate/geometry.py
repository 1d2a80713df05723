"""Geometry shared by the aggregated products (pure geometry; no file I/O).

Geometry work happens in EPSG:6931 (EASE-Grid 2.0 North, Lambert azimuthal equal-area
on the pole): areas are true and the antimeridian is an ordinary line there. Functions
take and return GeoDataFrames or geometry arrays in that CRS; conversion to EPSG:4326
happens at the edges. Hot paths are vectorised (STRtree pair queries, numpy group-bys).
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rts_core.vector import repair_geometries

WORK_CRS = "EPSG:6931"


def pairs(left, right, predicate: str) -> tuple[np.ndarray, np.ndarray]:
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


def components(geometries) -> tuple[int, np.ndarray]:
    """Connected components of geometries that intersect (touching at a corner counts)."""
    n = len(geometries)
    i, j = pairs(geometries, geometries, "intersects")
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
    count, label = components(parts)
    if count == parts.size:
        return parts
    order = np.argsort(label, kind="stable")
    split = np.flatnonzero(np.diff(label[order])) + 1
    return np.asarray([p[0] if len(p) == 1 else shapely.multipolygons(p)
                       for p in np.split(parts[order], split)], dtype=object)
