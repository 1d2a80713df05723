"""Slump outlines in local metres: procedural lobate shapes, or real labels moved here.

Every shape is returned centred on its centroid, in metres, with its long axis along
+y (the upslope direction once placed): placing a slump is then a rotation and a
translation, which keep its size and shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon


@dataclass(frozen=True)
class Shape:
    polygon: Polygon  # metres, centroid at the origin, long axis along +y
    area_m2: float
    source: str  # "procedural" or the label's id


def axis_extent(polygon: Polygon, axis: tuple[float, float]) -> tuple[float, float]:
    """(min, max) of an outline's vertices along a unit vector (metres): the toe and
    headwall of a slump or scar along its upslope axis."""
    along = np.asarray(polygon.exterior.coords) @ np.asarray(axis)
    return float(along.min()), float(along.max())


def lobate_polygon(rng: np.random.Generator, radius: float, elongation: float = 1.0,
                   roughness: float = 0.18, vertices: int = 72) -> Polygon:
    """A smooth irregular blob: a circle whose radius varies by a few low harmonics."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = np.ones(vertices)
    for harmonic in range(2, 6):
        amplitude = roughness * rng.uniform(0.3, 1.0) / harmonic ** 0.8
        r += amplitude * np.cos(harmonic * angles + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.35, None)
    x = radius * r * np.cos(angles)
    y = radius * elongation * r * np.sin(angles)
    return shapely.make_valid(Polygon(np.column_stack([x, y]))).buffer(0)


def slump_area_m2(rng: np.random.Generator, max_area_m2: float) -> float:
    """Real RTS areas are roughly log-normal, median about 1 ha (REFERENCE.md)."""
    while True:
        area = float(np.exp(rng.normal(np.log(10_000), 1.0)))
        if 300 <= area <= max_area_m2:
            return area


def procedural_shape(rng: np.random.Generator, max_area_m2: float) -> Shape:
    """A lobate, slightly pear-shaped outline: wide arcuate headwall at +y, narrower toe."""
    target = slump_area_m2(rng, max_area_m2)
    blob = lobate_polygon(rng, 1.0, elongation=rng.uniform(1.1, 1.8), roughness=0.22)
    # widen the upslope half (the amphitheatre) and narrow the toe
    coords = np.asarray(blob.exterior.coords)
    widen = 1.0 + 0.25 * np.tanh(coords[:, 1])
    blob = Polygon(np.column_stack([coords[:, 0] * widen, coords[:, 1]])).buffer(0)
    blob = affinity.scale(blob, *(2 * [np.sqrt(target / blob.area)]), origin=(0, 0))
    return Shape(_centred(blob), float(blob.area), "procedural")


def _centred(polygon: Polygon) -> Polygon:
    c = polygon.centroid
    return affinity.translate(polygon, -c.x, -c.y)


def _long_axis_up(polygon: Polygon) -> Polygon:
    """Rotate so that the long side of the minimum rotated rectangle runs along y."""
    rect = np.asarray(polygon.minimum_rotated_rectangle.exterior.coords)
    sides = np.diff(rect[:3], axis=0)
    longest = sides[np.argmax(np.hypot(sides[:, 0], sides[:, 1]))]
    angle = np.degrees(np.arctan2(longest[1], longest[0]))
    return _centred(affinity.rotate(polygon, 90 - angle, origin=(0, 0)))


def load_label_shapes(path: Path | str, max_area_m2: float, min_area_m2: float = 300.0) -> list[Shape]:
    """Real slump outlines from any vector file (e.g. the DARTS training labels), each
    projected to a Lambert azimuthal equal-area frame centred on itself, so that area
    and shape are kept, and restricted to ``min_area_m2``..``max_area_m2``."""
    import geopandas
    from pyproj import CRS

    from rts_core.crs import project

    frame = geopandas.read_file(path)
    if frame.crs is None:
        raise ValueError(f"{path}: labels have no CRS")
    frame = frame.to_crs(4326)
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    id_column = next((c for c in ("id", "site_id", "fid") if c in frame.columns), None)
    shapes: list[Shape] = []
    for index, geometry in zip(frame.index, frame.geometry, strict=True):
        geometry = shapely.make_valid(geometry)
        parts = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type == "Polygon"]
        if not parts:
            continue
        polygon = max(parts, key=lambda g: g.area)
        centre = polygon.centroid
        laea = CRS.from_proj4(f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m")
        local = project(polygon, "EPSG:4326", laea)
        if not (min_area_m2 <= local.area <= max_area_m2):
            continue
        label = frame.at[index, id_column] if id_column else index
        shapes.append(Shape(_long_axis_up(local), float(local.area), f"label:{label}"))
    if not shapes:
        raise ValueError(f"{path}: no polygon between {min_area_m2:.0f} and {max_area_m2:.0f} m²")
    return shapes


def largest_polygon(geometry) -> Polygon:
    """The largest polygon part of ``geometry`` (an empty polygon if it has none)."""
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type == "Polygon" and not g.is_empty]
    return max(parts, key=lambda g: g.area) if parts else Polygon()
