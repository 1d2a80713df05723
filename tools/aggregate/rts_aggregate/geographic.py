"""From the work CRS (EPSG:6931) to EPSG:4326, split at the antimeridian.

In EPSG:6931 (polar Lambert azimuthal equal-area, central meridian 0°) the antimeridian
is the half-line x = 0, y > 0. A polygon that crosses it (Chukotka, the Bering Strait)
would come out of a plain reprojection as a band around the whole globe, so such
polygons are first cut along that half-line; each side is then reprojected with its
longitudes pinned to its own side (-180 on the west, +180 on the east). The result is a
MultiPolygon whose parts meet at ±180°, as GeoJSON (RFC 7946) and QGIS expect.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

GEOGRAPHIC_CRS = "EPSG:4326"
_FAR = 1e8  # metres: beyond any point of the northern hemisphere in EPSG:6931


def _to_lonlat(geometries, crs, side: int):
    """Reproject to longitude/latitude; ``side`` -1 or +1 pins points on the cut
    (longitude ±180) to that side, 0 leaves them as pyproj returns them."""
    transformer = Transformer.from_crs(crs, GEOGRAPHIC_CRS, always_xy=True)

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
        return frame.to_crs(GEOGRAPHIC_CRS)
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
    return frame.set_geometry(result, crs=GEOGRAPHIC_CRS)


def _join_polygonal(west, east):
    """West and east pieces as one (Multi)Polygon each, keeping only areal parts."""
    joined = []
    for w, e in zip(west, east, strict=True):
        parts = [p for g in (w, e) for p in shapely.get_parts(g)
                 if p.geom_type == "Polygon" and not p.is_empty]
        joined.append(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
    return np.asarray(joined, dtype=object)
