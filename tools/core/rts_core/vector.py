"""GeoParquet 1.1 and GeoPackage output, atomically (CONTRACT.md section 5).

GeoParquet files carry the 1.1 metadata and a ``bbox`` covering column, so readers
can filter row groups spatially; GeoPackages hold one layer per product.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import atomic


def write_geoparquet(frame, path: Path | str) -> Path:
    """Write a GeoDataFrame (CRS required) as GeoParquet 1.1 with a bbox column."""
    if frame.crs is None:
        raise ValueError(f"{path}: refusing to write a GeoParquet file without a CRS")
    with atomic.atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False, schema_version="1.1.0",
                         write_covering_bbox=True, compression="zstd")
    return Path(path)


def write_geopackage(layers: Mapping[str, object], path: Path | str,
                     timestamp: str | None = None) -> Path:
    """Write several GeoDataFrames as the layers of one GeoPackage. ``timestamp``
    (ISO 8601) fixes the file's change dates so that reruns give identical bytes."""
    import pyogrio

    if timestamp is not None:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": timestamp})
    with atomic.atomic_path(path) as temporary:
        for name, frame in layers.items():
            if frame.crs is None:
                raise ValueError(f"{path}: layer {name!r} has no CRS")
            frame.to_file(temporary, layer=name, driver="GPKG", engine="pyogrio")
    return Path(path)

