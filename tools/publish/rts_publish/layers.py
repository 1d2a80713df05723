"""The products as map layers: the attributes kept for display, each track's history,
and vector tiles in PMTiles archives made by GDAL's PMTiles driver (through pyogrio;
no tiler of our own).

GDAL builds the tiles: it reprojects to Web Mercator, clips and simplifies per zoom
level, and keeps every tile under its MAX_SIZE (500 kB) and MAX_FEATURES, dropping
the smallest features of a crowded low-zoom tile first. Zoom levels run from 1 (the
whole Arctic in a few tiles) to 15 (about 2 m a pixel at 70 N: single slumps).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from rts_core import atomic
from rts_core.errors import InputError

log = logging.getLogger(__name__)

MIN_ZOOM, MAX_ZOOM = 1, 15
MAX_TILE_BYTES = 500_000  # GDAL's MAX_SIZE, set explicitly: the bound on a tile
VOLUME_COLUMNS = ("volume_change_m3", "volume_change_sigma_m3", "volume_loss_m3", "dh_mean_m")


@dataclass(frozen=True)
class Layer:
    """One product as a map layer: its file in the products folder, the columns kept,
    and whether it must be there."""

    name: str
    file: str
    columns: tuple[str, ...]
    required: bool = True
    min_zoom: int = MIN_ZOOM
    max_zoom: int = MAX_ZOOM


LAYERS = (
    Layer("level2", "level2.parquet", ("track_id", "year", "area_m2", "detection_ratio", "n_observations",
                                       "first_observed", "last_observed")),
    Layer("tracks", "tracks.parquet", ("track_id", "first_year", "last_year", "n_years")),
    Layer("coverage", "coverage_level2.parquet", ("year", "area_km2"), required=False, max_zoom=12),
    Layer("h3", "h3.parquet", ("h3_cell", "resolution", "year", "n_features", "rts_area_m2", "affected_pct"),
          required=False, max_zoom=10),
)


def read_layer(products: Path, layer: Layer) -> gpd.GeoDataFrame | None:
    """The layer's product in EPSG:4326 with its display columns (those present), or
    None when an optional product is missing. Raises InputError naming what is wrong."""
    path = products / layer.file
    if not path.is_file():
        if layer.required:
            raise InputError(f"no {layer.file} in the products folder (rts-aggregate's output)")
        return None
    try:
        frame = gpd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise InputError(f"{layer.file} is not GeoParquet ({' '.join(str(exc).split())[:160]})") from None
    if frame.crs is None:
        raise InputError(f"{layer.file} has no CRS")
    missing = [c for c in layer.columns[:2] if c not in frame.columns]
    if missing:
        raise InputError(f"{layer.file} lacks the column(s) {', '.join(missing)}")
    keep = [c for c in (*layer.columns, *VOLUME_COLUMNS) if c in frame.columns]
    frame = frame[keep + [frame.geometry.name]].to_crs(4326)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    for column in keep:
        if pd.api.types.is_datetime64_any_dtype(frame[column]) or frame[column].dtype == object:
            frame[column] = frame[column].astype(str)  # dates: vector tiles hold strings, numbers and booleans
    return frame


def track_histories(level2: gpd.GeoDataFrame) -> pd.Series:
    """Each track's area by year as compact JSON (``[[2019, 1234], ...]``, m², rounded),
    indexed by track id: a clicked feature carries its track's history in the tile."""
    rows = level2[["track_id", "year", "area_m2"]].dropna()
    if rows.empty:
        return pd.Series(dtype=object)
    rows = rows.groupby(["track_id", "year"], sort=True)["area_m2"].sum().reset_index()
    return rows.groupby("track_id").apply(
        lambda group: json.dumps([[int(y), round(float(a))] for y, a in zip(group["year"], group["area_m2"],
                                                                               strict=True)],
                                 separators=(",", ":")), include_groups=False)


def with_history(frame: gpd.GeoDataFrame, histories: pd.Series) -> gpd.GeoDataFrame:
    frame = frame.copy()
    frame["history"] = frame["track_id"].map(histories).fillna("[]")
    return frame


def write_pmtiles(frame: gpd.GeoDataFrame, path: Path, layer: Layer) -> Path:
    """``frame`` as a PMTiles archive of one vector layer named after ``layer`` (atomic)."""
    import pyogrio

    with atomic.atomic_path(path, verified=True) as temporary:
        pyogrio.write_dataframe(frame, temporary, driver="PMTiles", layer=layer.name,
                                dataset_options={"MINZOOM": str(layer.min_zoom), "MAXZOOM": str(layer.max_zoom),
                                                 "MAX_SIZE": str(MAX_TILE_BYTES), "NAME": layer.name,
                                                 "DESCRIPTION": f"rtsmap {layer.name}"})
        if not temporary.is_file() or temporary.stat().st_size == 0:
            raise OSError(f"GDAL wrote no PMTiles archive for {layer.name}")
    return path


def years_of(frames: dict[str, gpd.GeoDataFrame]) -> list[int]:
    years: set[int] = set()
    for name in ("level2", "coverage", "h3"):
        frame = frames.get(name)
        if frame is not None and "year" in frame:
            years.update(int(y) for y in pd.unique(frame["year"].dropna()))
    return sorted(years)


ARCTIC_BOUNDS = [-180.0, 60.0, 180.0, 84.0]


def bounds_of(frames: dict[str, gpd.GeoDataFrame]) -> list[float]:
    """The map's first view: Level 2, else the coverage (a region observed without a
    slump), else the Arctic."""
    for name in ("level2", "tracks", "coverage"):
        frame = frames.get(name)
        if frame is not None and len(frame):
            bounds = frame.total_bounds
            if np.all(np.isfinite(bounds)):
                return [float(b) for b in bounds]
    return list(ARCTIC_BOUNDS)
