"""Coordinate systems for areas and distances, and the way back to longitude/latitude,
with the antimeridian (Chukotka, the Bering Strait) handled in both directions.

:func:`equal_area_m2` is the one area rule of every product: EASE-Grid 2.0 (Lambert
azimuthal equal-area) of the geometry's hemisphere, whatever CRS it comes in.

:func:`metric_crs` picks the CRS in metres that a tool measures in: the UTM zone of the
data when it spans at most 12° of longitude (measured across 180° when that is the
shorter way round), else the polar EASE-Grid 2.0 of its hemisphere.

:func:`to_geographic` goes from a polar CRS to EPSG:4326, with every geometry valid. In EPSG:6931 (polar Lambert
azimuthal equal-area, central meridian 0°) the antimeridian is the half-line x = 0,
y > 0. A polygon that crosses it would come out of a plain reprojection as a band
around the whole globe, so such polygons are first cut along that half-line; each side
is then reprojected with its longitudes pinned to its own side (-180 on the west, +180
on the east). The result is a MultiPolygon whose parts meet at ±180°, as GeoJSON
(RFC 7946) and QGIS expect.
"""

from __future__ import annotations

import functools

import numpy as np
import shapely
from pyproj import CRS, Transformer

from .vector import repair_geometries

GEOGRAPHIC_CRS = "EPSG:4326"
POLAR_NORTH, POLAR_SOUTH = "EPSG:6931", "EPSG:6932"  # EASE-Grid 2.0, equal-area
UTM_MAX_SPAN_DEG = 12.0
_GEOGRAPHIC = CRS.from_user_input(GEOGRAPHIC_CRS)  # parsed once: geopandas parses text on every frame
_FAR = 1e8  # metres: beyond any point of the northern hemisphere in EPSG:6931


def longitude_arc(intervals) -> tuple[float, float]:
    """(west, width) of the shortest arc of longitude covering the intervals (west,
    east), an interval with west > east crossing 180°: the complement of the widest
    gap between them."""
    pieces = []
    for west, east in intervals:
        if west > east:  # across 180°
            pieces += [(west, 180.0), (-180.0, east)]
        else:
            pieces.append((west, east))
    if not pieces:
        return -180.0, 360.0
    pieces.sort()
    merged = [list(pieces[0])]
    for west, east in pieces[1:]:
        if west <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], east)
        else:
            merged.append([west, east])
    # gaps between consecutive pieces, and the one across 180° from the last to the first
    gaps = [(merged[i + 1][0] - merged[i][1], merged[i + 1][0]) for i in range(len(merged) - 1)]
    gaps.append((merged[0][0] + 360.0 - merged[-1][1], merged[0][0]))
    widest, arc_west = max(gaps)
    return arc_west, 360.0 - widest


def _longitude_intervals(frame) -> list[tuple[float, float]]:
    """Longitude intervals of a frame: one per part of each geometry in a geographic
    CRS (a polygon split at 180° has a part on each side), else the frame's bounds as
    PROJ transforms them (west > east when they cross 180°)."""
    if frame.crs.is_geographic:
        bounds = shapely.bounds(shapely.get_parts(np.asarray(frame.geometry.values)))
        bounds = bounds[np.isfinite(bounds).all(axis=1)]
        return [(w, e) for w, e in bounds[:, [0, 2]]]
    west, _, east, _ = _transformer(frame.crs, _GEOGRAPHIC).transform_bounds(*frame.total_bounds, densify_pts=21)
    return [(west, east)]


def metric_crs(*frames) -> str:
    """A projected CRS in metres for buffers and areas (see the module docstring)."""
    frames = [f for f in frames if len(f) and f.crs is not None]
    if not frames:
        return POLAR_NORTH
    latitudes = []
    for frame in frames:
        _, south, _, north = _transformer(frame.crs, _GEOGRAPHIC).transform_bounds(*frame.total_bounds,
                                                                                  densify_pts=21)
        latitudes += [south, north]
    south, north = min(latitudes), max(latitudes)
    west, width = longitude_arc([i for f in frames for i in _longitude_intervals(f)])
    if width <= UTM_MAX_SPAN_DEG and north < 84 and south > -80:
        centre = (west + width / 2 + 180.0) % 360.0 - 180.0
        zone = int((centre + 180) // 6) % 60 + 1
        return f"EPSG:{326 if (south + north) / 2 >= 0 else 327}{zone:02d}"
    return POLAR_NORTH if (south + north) / 2 >= 0 else POLAR_SOUTH


@functools.lru_cache(maxsize=64)
def _transformer(source, target) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _projector(transformer: Transformer):
    """A shapely.transform function of ``transformer``."""
    return lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))


def project(geometries, source, target):
    """Geometries (one, or an array) from CRS ``source`` to ``target`` through pyproj,
    vertex by vertex (longitude, latitude order): the one reprojection of bare
    geometries, where a GeoDataFrame's ``to_crs`` would cost a frame per file. A
    transformer is made once per pair of CRSs."""
    return shapely.transform(geometries, _projector(_transformer(_as_crs(source), _as_crs(target))))


def _as_crs(crs) -> CRS:
    return _parsed_crs(crs) if isinstance(crs, str | int) else CRS.from_user_input(crs)


@functools.lru_cache(maxsize=64)
def _parsed_crs(text: str | int) -> CRS:
    return CRS.from_user_input(text)


def equal_area_m2(geometries, crs) -> np.ndarray:
    """Areas in m² by the one rule of every product (CONTRACT.md section 5): each
    geometry measured in the Lambert azimuthal equal-area EASE-Grid 2.0 of its
    hemisphere (EPSG:6931 north, EPSG:6932 south), whatever CRS it comes in. A UTM area
    is off by the zone's scale factor (0.08 % too small on its central meridian), a
    polar-stereographic one by per cents away from its latitude of true scale (4.4 % for
    one published inventory)."""
    geometries = np.asarray(geometries, dtype=object)
    areas = np.zeros(len(geometries))
    present = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    if not present.any():
        return areas
    source = CRS.from_user_input(crs)
    centroids = shapely.get_coordinates(shapely.centroid(geometries[present]))
    latitude = np.asarray(_transformer(source, _GEOGRAPHIC).transform(centroids[:, 0], centroids[:, 1])[1])
    for target, side in ((POLAR_NORTH, latitude >= 0), (POLAR_SOUTH, latitude < 0)):
        if not side.any():
            continue
        rows = np.flatnonzero(present)[side]
        if source == CRS.from_user_input(target):
            areas[rows] = shapely.area(geometries[rows])
            continue
        areas[rows] = shapely.area(project(geometries[rows], source, target))
    return areas


def _to_lonlat(geometries, crs, side: int):
    """Reproject to longitude/latitude; ``side`` -1 or +1 pins points on the cut
    (longitude ±180) to that side, 0 leaves them as pyproj returns them."""
    transformer = _transformer(crs, _GEOGRAPHIC)

    def project(coordinates):
        lon, lat = transformer.transform(coordinates[:, 0], coordinates[:, 1])
        lon = np.asarray(lon, dtype=float)
        if side < 0:
            lon = np.where(lon > 90, lon - 360, lon)
        elif side > 0:
            lon = np.where(lon < -90, lon + 360, lon)
        return np.column_stack([lon, np.asarray(lat, dtype=float)])

    return shapely.transform(geometries, project)


def to_geographic(frame):
    """The GeoDataFrame (in a polar CRS centred on the pole with central meridian 0°,
    such as EPSG:6931) in EPSG:4326, with geometries crossing the antimeridian split."""
    if len(frame) == 0:
        return frame.to_crs(_GEOGRAPHIC)
    geometries = np.asarray(frame.geometry.values)
    bounds = shapely.bounds(geometries)
    crossing = (bounds[:, 0] < 0) & (bounds[:, 2] > 0) & (bounds[:, 3] > 0) & ~shapely.is_empty(geometries)
    east_box = shapely.box(0, 0, _FAR, _FAR)
    antimeridian = shapely.LineString([(0, 0), (0, _FAR)])
    crossing[crossing] = shapely.intersects(geometries[crossing], antimeridian)
    result = np.empty(len(geometries), dtype=object)
    if not crossing.all():  # each geometry is projected once: whole, or as its two sides
        result[~crossing] = _to_lonlat(geometries[~crossing], frame.crs, 0)
    if crossing.any():
        cut = geometries[crossing]
        east = shapely.intersection(cut, east_box)
        west = shapely.difference(cut, east_box)
        east_lonlat = _to_lonlat(east, frame.crs, +1)
        west_lonlat = _to_lonlat(west, frame.crs, -1)
        result[crossing] = _join_polygonal(west_lonlat, east_lonlat)
    # a reprojection moves a vertex off the straight edge it touched: two outlines meeting at
    # a point, valid in EPSG:6931, overlapped by a hair in EPSG:4326 and self-intersected
    return frame.set_geometry(repair_geometries(result, None), crs=_GEOGRAPHIC)


def _join_polygonal(west, east):
    """West and east pieces as one (Multi)Polygon each, keeping only areal parts."""
    joined = []
    for w, e in zip(west, east, strict=True):
        parts = [p for g in (w, e) for p in shapely.get_parts(g)
                 if p.geom_type == "Polygon" and not p.is_empty]
        joined.append(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
    return np.asarray(joined, dtype=object)
