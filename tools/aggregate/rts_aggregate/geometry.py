"""Geometry shared by the aggregated products (pure geometry; no file I/O).

Geometry work happens in EPSG:6931 (EASE-Grid 2.0 North, Lambert azimuthal equal-area
on the pole): areas are true and the antimeridian is an ordinary line there. Functions
take and return GeoDataFrames or geometry arrays in that CRS; conversion to EPSG:4326
happens at the edges. Hot paths are vectorised (STRtree pair queries, numpy group-bys).
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rts_core.vector import repair_geometries

#: parsed once: geopandas would parse a text CRS again on every frame (milliseconds each)
WORK_CRS = CRS.from_epsg(6931)


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


def dissolve(geometries) -> tuple[np.ndarray, np.ndarray]:
    """The union of the geometries split into 8-connected objects, and for each geometry
    the index of the object it belongs to. Parts that touch only at a corner stay one
    (Multi)Polygon, as Level-1 objects do (CONTRACT.md section 5).

    Each connected group of geometries (intersecting, a shared corner included) is
    unioned on its own, members in the given order: a group's union depends only on
    its members, so any split of the input into regions that keeps groups whole gives
    the same objects bit for bit (rts_aggregate.partitioned relies on it), and many
    small unions are faster than one large one."""
    geometries = np.asarray(geometries, dtype=object)
    if geometries.size == 0:
        return np.empty(0, dtype=object), np.empty(0, np.int64)
    _, label = components(geometries)
    order = np.argsort(label, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(label[order]) != 0])
    groups = np.split(geometries[order], starts[1:])
    unions = np.asarray([shapely.union_all(group) for group in groups] + [None], dtype=object)[:-1]
    # number objects by their first member, so the order follows the input's
    first_member = order[starts]
    rank = np.empty(len(groups), np.int64)
    rank[np.argsort(first_member, kind="stable")] = np.arange(len(groups))
    group_of_label = np.empty(label.max() + 1, np.int64)
    group_of_label[label[first_member]] = np.arange(len(groups))
    objects = np.empty(len(groups), dtype=object)
    objects[rank] = unions
    member_object = rank[group_of_label[label]]
    empty = shapely.area(objects) <= 0
    if empty.any():  # a group of degenerate inputs: no object, and its members belong to none
        keep = np.flatnonzero(~empty)
        renumber = np.full(objects.size, -1, np.int64)
        renumber[keep] = np.arange(keep.size)
        objects, member_object = objects[keep], renumber[member_object]
    return objects, member_object
