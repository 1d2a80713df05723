"""Cleaned objects -> valid polygons with the Level-1 attributes (CONTRACT.md section 5)."""

from __future__ import annotations

import numpy as np
import shapely
from rasterio import features
from scipy import ndimage
from shapely.geometry import shape


def polygonise(labels: np.ndarray, transform) -> dict[int, object]:
    """One valid geometry per object: a Polygon (holes kept), or a MultiPolygon where
    the 8-connected object's parts touch at corners only."""
    parts: dict[int, list] = {}
    for geometry, value in features.shapes(labels, mask=labels > 0, connectivity=4, transform=transform):
        parts.setdefault(int(value), []).append(shape(geometry))
    result = {}
    for label, pieces in parts.items():
        geometry = pieces[0] if len(pieces) == 1 else shapely.MultiPolygon(pieces)
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
            if geometry.geom_type == "GeometryCollection":
                geometry = shapely.union_all([g for g in geometry.geoms if g.area > 0])
        result[label] = geometry
    return result


def dropped_objects(labels: np.ndarray, reasons: list[tuple[str, ...]], transform) -> list[tuple[object, tuple]]:
    """The clean-up's dropped objects (labels 1..m, with the reasons of object j at
    j - 1) as (geometry, reasons) pairs, polygonised as the Level-1 objects are."""
    geometries = polygonise(labels, transform)
    return [(geometries[label], reasons[label - 1]) for label in sorted(geometries)]


def object_statistics(labels: np.ndarray, probability: np.ndarray, n_pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Pixel count, mean and maximum probability per object (labels 1..n, with the
    pixel counts the clean-up already has), by scipy's labelled statistics over the
    object pixels only."""
    index = np.arange(1, len(n_pixels) + 1)
    if not index.size:
        return {"n_pixels": n_pixels, "prob_mean": np.zeros(0), "prob_max": np.zeros(0)}
    inside = labels > 0
    ids, values = labels[inside], probability[inside].astype(np.float64)
    return {"n_pixels": n_pixels, "prob_mean": ndimage.sum_labels(values, ids, index) / np.maximum(n_pixels, 1),
            "prob_max": np.asarray(ndimage.maximum(values, ids, index), np.float64)}


def extent_polygon(valid: np.ndarray, transform):
    """The valid-data footprint, simplified to within a pixel."""
    pieces = [shape(g) for g, v in features.shapes(valid.astype(np.uint8), mask=valid, connectivity=4,
                                                    transform=transform) if v == 1]
    if not pieces:
        return shapely.Polygon()
    footprint = shapely.union_all(pieces)
    return shapely.make_valid(footprint.simplify(abs(transform.a), preserve_topology=True))
