"""GeoParquet 1.1 and GeoPackage output, atomically (CONTRACT.md section 5), and
reading any vector file with a one-line reason when it cannot be read.

GeoParquet files carry the 1.1 metadata and a ``bbox`` covering column, so readers
can filter row groups spatially; GeoPackages hold one layer per product.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from . import atomic
from .runner import PARQUET_FINGERPRINT, InputError

log = logging.getLogger(__name__)

# Vector formats told by their suffix (a land-cover or reference file may be either).
VECTOR_SUFFIXES = (".gpkg", ".parquet", ".geoparquet", ".geojson", ".json", ".shp", ".fgb")


def is_vector_file(path: Path | str) -> bool:
    return Path(path).suffix.lower() in VECTOR_SUFFIXES


def write_geoparquet(frame, path: Path | str, fingerprint: str | None = None,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write a GeoDataFrame (CRS required) as GeoParquet 1.1 with a bbox column, and
    the output's fingerprint (rts_core.runner) and any other ``metadata`` in the schema
    metadata."""
    if frame.crs is None:
        raise ValueError(f"{path}: refusing to write a GeoParquet file without a CRS")
    with atomic.atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False, schema_version="1.1.0",
                         write_covering_bbox=True, compression="zstd")
        extra = {key.encode(): value.encode() for key, value in (metadata or {}).items()}
        if fingerprint is not None:
            extra[PARQUET_FINGERPRINT] = fingerprint.encode()
        if extra:  # geopandas writes no extra metadata: add it to the table
            import pyarrow.parquet as parquet

            table = parquet.read_table(temporary)
            parquet.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), temporary,
                                compression="zstd")
    return Path(path)


def write_geopackage(layers: Mapping[str, object], path: Path | str,
                     timestamp: str | None = None) -> Path:
    """Write several GeoDataFrames as the layers of one GeoPackage. ``timestamp``
    (ISO 8601) fixes the file's change dates so that reruns give identical bytes; GDAL's
    option for it is put back afterwards."""
    import pyogrio

    earlier = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    if timestamp is not None:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": timestamp})
    try:
        with atomic.atomic_path(path) as temporary:
            for name, frame in layers.items():
                if frame.crs is None:
                    raise ValueError(f"{path}: layer {name!r} has no CRS")
                frame.to_file(temporary, layer=name, driver="GPKG", engine="pyogrio")
    finally:
        if timestamp is not None:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": earlier})
    return Path(path)


@functools.lru_cache(maxsize=256)
def _crs(projjson: str):
    """A pyproj CRS per distinct PROJJSON text: parsing one costs milliseconds, and
    thousands of Level-1 files share a few dozen UTM zones."""
    from pyproj import CRS

    return CRS.from_user_input(json.loads(projjson))


def read_geoparquet(path: Path):
    """A GeoParquet file with WKB geometries as a GeoDataFrame, reading the CRS once per
    distinct CRS (geopandas.read_parquet would parse it again for every file); other
    encodings go through geopandas."""
    import geopandas
    import pyarrow.parquet as parquet
    import shapely

    table = parquet.read_table(path)
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"null") or "null")
    if not geo:
        raise InputError("a Parquet file without GeoParquet metadata")
    name = geo["primary_column"]
    column = geo["columns"][name]
    if column.get("encoding", "").upper() != "WKB":
        return geopandas.read_parquet(path)
    # GeoParquet: an absent "crs" means OGC:CRS84 (longitude, latitude); null means unknown
    crs = _crs(json.dumps(column["crs"], sort_keys=True)) if column.get("crs") is not None else (
        None if "crs" in column else "OGC:CRS84")
    covering = column.get("covering", {}).get("bbox", {}).get("xmin", [None])[0]
    attributes = table.drop_columns([c for c in (name, covering) if c in table.column_names]).to_pandas()
    geometry = shapely.from_wkb(table.column(name).to_numpy(zero_copy_only=False))
    frame = geopandas.GeoDataFrame(attributes, geometry=geometry, crs=crs)
    return frame.rename_geometry(name) if name != "geometry" else frame


def parquet_metadata(path: Path | str) -> dict[str, str]:
    """A GeoParquet file's schema metadata as text (empty for other formats)."""
    if not str(path).endswith(".parquet"):
        return {}
    import pyarrow.parquet as parquet

    raw = parquet.read_schema(path).metadata or {}
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in raw.items()}


def read_vector(path: Path):
    """Any vector file as a GeoDataFrame (GeoParquet through pyarrow, others through
    pyogrio), with a reason the user can act on when it cannot be read."""
    import geopandas

    path = Path(path)
    if not path.exists():
        raise InputError("no such file")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):  # GeoParquet through pyarrow
            return read_geoparquet(path)
        return geopandas.read_file(path, engine="pyogrio")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow, GDAL and shapely raise many kinds
        raise InputError(f"not a readable vector file ({' '.join(str(exc).split())[:200]})") from None


def repair_geometries(geometries, what: str):
    """The geometries with invalid ones made valid by GEOS's "structure" method (rings
    rebuilt as areas, collapsed parts dropped: a bow-tie becomes two triangles, a spike
    goes). A warning says how many ``what`` geometries were repaired. Returns a new array."""
    import numpy as np
    import shapely

    geometries = np.array(geometries, dtype=object)
    invalid = ~shapely.is_valid(geometries) & ~shapely.is_empty(geometries)
    count = int(invalid.sum())
    if count:
        log.warning("%d invalid %s geometr%s repaired", count, what, "y" if count == 1 else "ies")
        geometries[invalid] = shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    return geometries
