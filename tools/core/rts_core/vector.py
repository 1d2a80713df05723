"""GeoPackage output, atomically (CONTRACT.md section 5), and reading any vector file
with a one-line reason when it cannot be read (GeoParquet through rts_core.geoparquet,
the rest through pyogrio); the geometry rules every reader applies."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from . import atomic, geoparquet
from .errors import InputError
from .geoparquet import GEOMETRY_TYPES

log = logging.getLogger(__name__)

# Vector formats told by their suffix (a land-cover or reference file may be either).
VECTOR_SUFFIXES = (".gpkg", ".parquet", ".geoparquet", ".geojson", ".json", ".shp", ".fgb")


def is_vector_file(path: Path | str) -> bool:
    return Path(str(path)).suffix.lower() in VECTOR_SUFFIXES


def is_virtual(path: Path | str) -> bool:
    """A GDAL virtual file system path (``/vsizip//data/S1.zip/S1/x.shp``, ``/vsicurl/``)
    or a URL: nothing to stat, and a name pathlib must not touch (it folds the ``//``
    that makes the zip's path absolute)."""
    text = str(path)
    return text.startswith("/vsi") or "://" in text


def data_path(path: Path | str) -> Path | str:
    """An input as GDAL and pyogrio should get it: a Path, or a virtual path as given."""
    return str(path) if is_virtual(path) else Path(path)


def write_geopackage(layers: Mapping[str, object], path: Path | str,
                     timestamp: str | None = None) -> Path:
    """Write several GeoDataFrames (or, per layer, an iterable of frames written one
    after the other) as the layers of one GeoPackage. ``timestamp``
    (ISO 8601) fixes the file's change dates so that reruns give identical bytes; GDAL's
    option for it is put back afterwards."""
    import pyogrio

    earlier = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    if timestamp is not None:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": timestamp})
    try:
        with atomic.atomic_path(path) as temporary:
            for name, frames in layers.items():
                for index, frame in enumerate([frames] if hasattr(frames, "crs") else frames):
                    if frame.crs is None:
                        raise ValueError(f"{path}: layer {name!r} has no CRS")
                    frame.to_file(temporary, layer=name, driver="GPKG", engine="pyogrio", append=index > 0)
    finally:
        if timestamp is not None:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": earlier})
    return Path(path)


def read_vector_parts(path: Path) -> geoparquet.Parts:
    """What :func:`read_vector` reads, in parts: building a GeoDataFrame costs
    milliseconds, which matter over thousands of files."""
    import numpy as np
    import pandas

    path = data_path(path)
    if not is_virtual(path) and path.suffix.lower() in (".parquet", ".geoparquet") and path.exists():
        try:
            return geoparquet.read_parts(path)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - as read_vector says it
            raise InputError(f"not a readable vector file ({' '.join(str(exc).split())[:200]})") from None
    frame = read_vector(path)
    return geoparquet.Parts(pandas.DataFrame(frame.drop(columns=frame.geometry.name)),
                            np.asarray(frame.geometry.values), frame.crs, {})


def read_vector(path: Path):
    """Any vector file as a GeoDataFrame (GeoParquet through pyarrow, others through
    pyogrio), with a reason the user can act on when it cannot be read."""
    import geopandas

    path = data_path(path)
    if not is_virtual(path) and not path.exists():
        raise InputError("no such file")
    try:
        if not is_virtual(path) and path.suffix.lower() in (".parquet", ".geoparquet"):  # through pyarrow
            return geoparquet.read(path)
        return geopandas.read_file(str(path), engine="pyogrio")  # any GDAL path: /vsizip/, /vsicurl/
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow, GDAL and shapely raise many kinds
        raise InputError(f"not a readable vector file ({' '.join(str(exc).split())[:200]})") from None


POLYGONAL_TYPE_IDS = (3, 6)


def polygonal_rows(geometries, what: str, allowed: tuple[int, ...] = POLYGONAL_TYPE_IDS,
                   reason: str = "only Polygons and MultiPolygons are RTS footprints"):
    """Which rows of a file's geometries the contract takes: (Multi)Polygons, or the
    ``allowed`` type ids (``reason`` says why the others are not). Null and empty
    geometries hold no feature and are dropped with a warning and a count; any other
    type (a Point, a GeometryCollection) or a NaN or infinite coordinate makes the whole
    file an InputError, since what it meant cannot be guessed. Returns a boolean array
    of the rows to keep."""
    import numpy as np
    import shapely

    geometries = np.asarray(geometries, dtype=object)
    absent = shapely.is_missing(geometries) | shapely.is_empty(geometries)
    present = geometries[~absent]
    type_ids = shapely.get_type_id(present)
    other = ~np.isin(type_ids, allowed)
    if other.any():
        found, counts = np.unique(type_ids[other], return_counts=True)
        kinds = ", ".join(f"{int(n)} {GEOMETRY_TYPES[t]}" for t, n in zip(found, counts, strict=True))
        raise InputError(f"{kinds} geometr{'y' if other.sum() == 1 else 'ies'} among its features: {reason}")
    finite = np.isfinite(shapely.get_coordinates(present)).all(axis=1)
    if not finite.all():
        raise InputError(f"{int((~finite).sum())} NaN or infinite coordinate(s) in its geometries")
    count = int(absent.sum())
    if count:
        log.warning("%s: %d null or empty geometr%s dropped", what, count, "y" if count == 1 else "ies")
    return ~absent


def repair_geometries(geometries, what: str | None):
    """The geometries with invalid ones made valid by GEOS's "structure" method (rings
    rebuilt as areas, collapsed parts dropped: a bow-tie becomes two triangles, a spike
    goes). A warning says how many ``what`` geometries were repaired (none for ``what``
    None: repairs after a reprojection are ours to make, not the input's fault).
    Returns a new array."""
    import numpy as np
    import shapely

    geometries = np.array(geometries, dtype=object)
    invalid = ~shapely.is_valid(geometries) & ~shapely.is_empty(geometries)
    count = int(invalid.sum())
    if count:
        if what is not None:
            log.warning("%d invalid %s geometr%s repaired", count, what, "y" if count == 1 else "ies")
        geometries[invalid] = shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    return geometries
