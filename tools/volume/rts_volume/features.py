"""The polygons measured: rts-aggregate's ``tracks.parquet`` or ``level2.parquet``, or any
polygon file with an id (CONTRACT.md section 7).

Features are kept in EPSG:6931 (EASE-Grid 2.0 North, equal-area), where areas are taken
by the products' one rule and from where each DEM's CRS is reached; a polygon split at
the antimeridian (as rts-aggregate writes it) is whole again there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from rts_core import crs as crs_tools
from rts_core.errors import InputError
from rts_core.vector import polygonal_rows, read_vector_parts, repair_geometries

log = logging.getLogger(__name__)

ID_COLUMNS = ("track_id", "id")
WORK_CRS = crs_tools.POLAR_NORTH


@dataclass
class Features:
    """Polygons with ids, in :data:`WORK_CRS`; ``year`` per polygon when the file had one."""

    ids: np.ndarray  # str
    geometries: np.ndarray  # shapely, WORK_CRS
    area_m2: np.ndarray
    year: np.ndarray | None = None  # int, when the file had a year column (Level 2)

    def __len__(self) -> int:
        return len(self.ids)

    def buffered(self, distance_m: float) -> Features:
        """The same features grown by ``distance_m`` (the outline a volume is summed in)."""
        if distance_m <= 0:
            return self
        grown = shapely.buffer(self.geometries, distance_m)
        return Features(self.ids, grown, shapely.area(grown), self.year)

    def in_crs(self, crs) -> np.ndarray:
        """The polygons in another CRS (a DEM's)."""
        return crs_tools.project(self.geometries, WORK_CRS, crs)


def _id_column(columns) -> str | None:
    return next((name for name in ID_COLUMNS if name in columns), None)


def features_from_frame(table: pd.DataFrame, geometries, source_crs, what: str = "features") -> Features:
    """Features from a table and its geometries (CRS ``source_crs``): the id from
    ``track_id``, else ``id``, else the row number; ``year`` when present. Ids are
    unique per year (Level 2 holds a track once per year it was seen)."""
    if source_crs is None:
        raise InputError("the features have no CRS")
    keep = polygonal_rows(geometries, what)
    table = table.reset_index(drop=True)[keep].reset_index(drop=True)
    geometries = repair_geometries(np.asarray(geometries, dtype=object)[keep], what)
    column = _id_column(table.columns)
    has_year = "year" in table.columns
    if column is not None:
        ids = table[column].astype(str).to_numpy(dtype=object)
    else:
        ids = np.array([str(i) for i in range(len(table))], dtype=object)
    keys = pd.Series(ids) + ("/" + table["year"].astype(str) if has_year else "")
    if keys.duplicated().any():
        duplicated = keys[keys.duplicated()]
        raise InputError(f"{duplicated.nunique()} feature id(s) occur more than once"
                         f"{' in a year' if has_year else ''} (e.g. {duplicated.iloc[0]!r}); "
                         "ids must be unique (per year)")
    year = None
    if has_year:
        values = pd.to_numeric(table["year"], errors="coerce").to_numpy(dtype=float)
        if np.isnan(values).any() or (values < 1900).any() or (values > 2200).any():
            raise InputError("its year column holds values that are not years")
        year = values.astype(int)
    projected = crs_tools.project(geometries, source_crs, WORK_CRS)
    projected = repair_geometries(projected, None)
    return Features(ids=ids, geometries=projected, area_m2=shapely.area(projected), year=year)


def read_features(path: str | Path) -> Features:
    """A polygon file as :class:`Features` (InputError with the reason if it cannot serve)."""
    parts = read_vector_parts(Path(path))
    features = features_from_frame(parts.attributes, parts.geometry, parts.crs, what=str(path))
    if not len(features):
        raise InputError("no polygon to measure")
    return features


def overlap_layers(geometries: np.ndarray) -> list[np.ndarray]:
    """Indices of the polygons split into layers in which none overlaps another, so that
    each layer can be burnt into one id raster (Level 2 holds the same slump in
    several years, one polygon over another). Greedy, in input order."""
    tree = shapely.STRtree(geometries)
    left, right = tree.query(geometries, predicate="intersects")
    touching = left != right
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(left[touching], right[touching], strict=True):
        neighbours.setdefault(int(a), []).append(int(b))
    layer_of = np.full(len(geometries), -1)
    for index in range(len(geometries)):
        taken = {layer_of[n] for n in neighbours.get(index, ()) if layer_of[n] >= 0}
        layer = 0
        while layer in taken:
            layer += 1
        layer_of[index] = layer
    return [np.flatnonzero(layer_of == layer) for layer in range(int(layer_of.max()) + 1)] if len(geometries) else []
