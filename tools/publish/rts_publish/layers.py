"""The products as map layers: the attributes kept for display, each track's history,
and vector tiles in PMTiles archives made by GDAL's PMTiles driver (through pyogrio;
no tiler of our own).

GDAL builds the tiles: it reprojects to Web Mercator, clips and simplifies per zoom
level, and keeps every tile under its MAX_SIZE (500 kB) and MAX_FEATURES, dropping
the smallest features of a crowded tile first. The map runs from zoom 1 (the whole
Arctic in a few tiles: H3 density and coverage) to 15 (about 2 m a pixel at 70 N:
single slumps); footprints and tracks start at zoom 8.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from rts_core import atomic, geoparquet
from rts_core.errors import InputError

log = logging.getLogger(__name__)

MIN_ZOOM, MAX_ZOOM = 1, 15
MAX_TILE_BYTES = 500_000  # GDAL's MAX_SIZE, set explicitly: the bound on a tile
VOLUME_COLUMNS = ("volume_change_m3", "volume_change_sigma_m3", "volume_loss_m3", "dh_mean_m")
BATCH_ROWS = 20_000  # features per batch streamed to GDAL: memory holds one batch
YEAR_COLUMNS = ("year", "first_year", "last_year")  # filtered on by the page: whole numbers


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
    explode: bool = False  # tile each part of a multipolygon as its own feature (see batches)


# Footprints start at zoom FOOTPRINT_MIN_ZOOM (a tile of about 50 km at 70 N, where a 1 ha slump is
# under a pixel): further out the H3 density is the map, and GDAL would pack every footprint of
# a region into each low-zoom tile only to drop most of them to stay under MAX_SIZE.
FOOTPRINT_MIN_ZOOM = 8
LAYERS = (
    Layer("level2", "level2.parquet", ("track_id", "year", "area_m2", "detection_ratio", "n_observations",
                                       "first_observed", "last_observed"), min_zoom=FOOTPRINT_MIN_ZOOM),
    Layer("tracks", "tracks.parquet", ("track_id", "first_year", "last_year", "n_years"),
          min_zoom=FOOTPRINT_MIN_ZOOM),
    Layer("coverage", "coverage_level2.parquet", ("year", "area_km2"), required=False, max_zoom=10, explode=True),
    Layer("h3", "h3.parquet", ("h3_cell", "resolution", "year", "n_features", "rts_area_m2", "affected_pct"),
          required=False, max_zoom=10),
)


@dataclass(frozen=True)
class Source:
    """A product opened for streaming: its GeoParquet file, geometry column, the display
    columns it has, and its rows."""

    layer: Layer
    path: Path
    geometry: str
    columns: tuple[str, ...]
    rows: int
    bbox: tuple[float, float, float, float] | None

    @property
    def has_volume(self) -> bool:
        return any(column in self.columns for column in VOLUME_COLUMNS)


def open_layer(products: Path, layer: Layer) -> Source | None:
    """The layer's product, checked (GeoParquet, WKB in EPSG:4326, its key columns), or
    None when an optional product is missing. Raises InputError naming what is wrong.
    Nothing is read but the metadata: the features stream later, a batch at a time."""
    path = products / layer.file
    if not path.is_file():
        if layer.required:
            raise InputError(f"no {layer.file} in the products folder (rts-aggregate's output)")
        return None
    try:
        parquet, geo = geoparquet.opened(path)
        geometry = str(geo["primary_column"])
        column = geo["columns"][geometry]
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise InputError(f"{layer.file} is not GeoParquet ({' '.join(str(exc).split())[:160]})") from None
    if column.get("encoding", "WKB").upper() != "WKB":
        raise InputError(f"{layer.file}: geometry encoded as {column.get('encoding')}, not WKB")
    if not _is_lon_lat(column.get("crs")):
        raise InputError(f"{layer.file}: not in EPSG:4326 (rts-aggregate's products are)")
    names = parquet.schema_arrow.names
    missing = [c for c in layer.columns[:2] if c not in names]
    if missing:
        raise InputError(f"{layer.file} lacks the column(s) {', '.join(missing)}")
    for name in YEAR_COLUMNS:
        if name in names and not pa.types.is_integer(parquet.schema_arrow.field(name).type):
            raise InputError(f"{layer.file}: its {name} column holds {parquet.schema_arrow.field(name).type}, "
                             "not whole years")
    keep = tuple(c for c in (*layer.columns, *VOLUME_COLUMNS) if c in names)
    return Source(layer, path, geometry, keep, parquet.metadata.num_rows, _lon_lat_box(column.get("bbox")))


def _lon_lat_box(bbox) -> tuple[float, float, float, float] | None:
    """The GeoParquet bbox as (west, south, east, north) when it is one on the globe."""
    try:
        west, south, east, north = (float(v) for v in bbox[:4])
    except (TypeError, ValueError):
        return None
    inside = -180 <= west <= east <= 180 and -90 <= south <= north <= 90
    return (west, south, east, north) if inside else None


def _is_lon_lat(crs) -> bool:
    """GeoParquet's CRS: absent (OGC:CRS84 by the spec) or PROJJSON of EPSG:4326 / CRS84."""
    if crs is None:
        return True
    identifier = crs.get("id", {}) if isinstance(crs, dict) else {}
    return (identifier.get("authority"), str(identifier.get("code"))) in {("EPSG", "4326"), ("OGC", "CRS84")}


def batches(source: Source, extra: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
            batch_rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
    """The source's display columns and WKB geometry, ``batch_rows`` at a time, dates as
    text (vector tiles hold strings, numbers and booleans), ``extra`` applied to each
    batch (a track's history, its volume): memory holds one batch, not the product."""
    parquet = pq.ParquetFile(source.path)

    def frames() -> Iterator[pd.DataFrame]:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=[*source.columns, source.geometry]):
            frame = batch.to_pandas()
            frame = frame[frame[source.geometry].notna()]
            for column in source.columns:
                if frame[column].dtype == object or pd.api.types.is_datetime64_any_dtype(frame[column]):
                    frame[column] = frame[column].astype(str)
            if source.layer.explode:
                frame = _exploded(frame, source.geometry)
            yield extra(frame) if extra is not None else frame

    stream = frames()
    first = next(stream)
    schema = pa.Schema.from_pandas(first, preserve_index=False)
    return pa.RecordBatchReader.from_batches(
        schema, (pa.RecordBatch.from_pandas(f, schema=schema, preserve_index=False)
                 for f in itertools.chain([first], stream)))


def _exploded(frame: pd.DataFrame, geometry: str) -> pd.DataFrame:
    """One row per polygon of each multipolygon. A year's coverage is one multipolygon
    of every site across the Arctic: GDAL clipped it whole to each of its tiles, which
    took minutes for 3 rows of the pan-Arctic product."""
    geometries = shapely.from_wkb(frame[geometry].to_numpy())
    parts, index = shapely.get_parts(geometries, return_index=True)
    exploded = frame.drop(columns=geometry).iloc[index].reset_index(drop=True)
    exploded[geometry] = shapely.to_wkb(parts)
    return exploded


def track_histories(level2: Source) -> pd.Series:
    """Each track's area by year as compact JSON (``[[2019, 1234], ...]``, m², rounded),
    indexed by track id: a clicked feature carries its track's history in the tile."""
    rows = pq.read_table(level2.path, columns=["track_id", "year", "area_m2"]).to_pandas().dropna()
    if rows.empty:
        return pd.Series(dtype=object)
    rows = rows.groupby(["track_id", "year"], sort=True)["area_m2"].sum().reset_index()
    return rows.groupby("track_id").apply(
        lambda group: json.dumps([[int(y), round(float(a))] for y, a in zip(group["year"], group["area_m2"],
                                                                               strict=True)],
                                 separators=(",", ":")), include_groups=False)


def with_history(histories: pd.Series) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame.assign(history=frame["track_id"].map(histories).fillna("[]"))


def track_bounds(tracks: Source) -> list:
    """``[[track_id, west, south, east, north], ...]`` for the page's search by track id."""
    found = []
    parquet = pq.ParquetFile(tracks.path)
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=["track_id", tracks.geometry]):
        geometries = shapely.from_wkb(batch.column(tracks.geometry).to_numpy(zero_copy_only=False))
        bounds = np.round(shapely.bounds(geometries), 6)
        for track, box in zip(batch.column("track_id").to_pylist(), bounds.tolist(), strict=True):
            if np.all(np.isfinite(box)):
                found.append([track, *box])
    return found


def write_pmtiles(reader: pa.RecordBatchReader, source: Source, path: Path) -> Path:
    """The batches as a PMTiles archive of one vector layer named after the source's
    layer, written by GDAL as they stream (atomic)."""
    import pyogrio

    layer = source.layer
    with atomic.atomic_path(path, verified=True) as temporary:
        pyogrio.write_arrow(reader, temporary, driver="PMTiles", layer=layer.name, geometry_name=source.geometry,
                            geometry_type="Unknown", crs="EPSG:4326",
                            dataset_options={"MINZOOM": str(layer.min_zoom), "MAXZOOM": str(layer.max_zoom),
                                             "MAX_SIZE": str(MAX_TILE_BYTES), "NAME": layer.name,
                                             "DESCRIPTION": f"rtsmap {layer.name}"})
        if not temporary.is_file() or temporary.stat().st_size == 0:
            raise OSError(f"GDAL wrote no PMTiles archive for {layer.name}")
    return path


def years_of(sources: dict[str, Source]) -> list[int]:
    years: set[int] = set()
    for name in ("level2", "coverage", "h3"):
        source = sources.get(name)
        if source is not None and "year" in source.columns and source.rows:
            column = pq.read_table(source.path, columns=["year"]).column("year")
            years.update(int(y) for y in pc.unique(column).to_pylist() if y is not None)
    return sorted(years)


ARCTIC_BOUNDS = [-180.0, 60.0, 180.0, 84.0]


def bounds_of(sources: dict[str, Source]) -> list[float]:
    """The map's first view: Level 2, else the coverage (a region observed without a
    slump), else the Arctic (from the GeoParquet bbox metadata)."""
    for name in ("level2", "tracks", "coverage"):
        source = sources.get(name)
        if source is not None and source.rows and source.bbox is not None:
            return [float(b) for b in source.bbox]
    return list(ARCTIC_BOUNDS)
