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
from typing import NamedTuple

from . import atomic
from .errors import InputError
from .fingerprints import PARQUET_FINGERPRINT

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


def geoparquet_table(frame):
    """A GeoDataFrame (CRS required) as the Arrow table GeoParquet 1.1 stores: WKB
    geometries, a bbox covering column and the "geo" metadata."""
    from geopandas.io.arrow import _geopandas_to_arrow

    if frame.crs is None:
        raise ValueError("refusing to write a GeoParquet table without a CRS")
    return _geopandas_to_arrow(frame, index=False, schema_version="1.1.0", write_covering_bbox=True)


def geoparquet_frame(table):
    """A table of :func:`geoparquet_table` (or read from a GeoParquet file) back as a
    GeoDataFrame."""
    return _from_table(table, json.loads(table.schema.metadata[b"geo"]))


class GeoParquetWriter:
    """GeoParquet 1.1 written frame by frame, for products too large to hold at once:
    frames are buffered into row groups of about ``row_group_rows``; the file metadata
    (bounding box, geometry types) covers every frame; the file appears atomically on
    :meth:`close` (a frame of the right columns gives the schema of an empty file).
    Frames must have the same columns and CRS."""

    def __init__(self, path: Path | str, empty, row_group_rows: int = 65536):
        self.path, self.empty, self.row_group_rows = Path(path), empty, row_group_rows
        self.temporary = atomic.temporary_path(self.path)
        self.writer = None
        self.buffer: list = []
        self.buffered = 0
        self.geo: dict | None = None
        self.rows = 0

    def write(self, frame) -> None:
        if len(frame):
            self.write_table(geoparquet_table(frame))

    def write_table(self, table) -> None:
        """Append a table of :func:`geoparquet_table` (made elsewhere, e.g. in a worker)."""
        if len(table) == 0:
            return
        geo = json.loads(table.schema.metadata[b"geo"])
        column = geo["columns"][geo["primary_column"]]
        if self.geo is None:
            self.geo = geo
        else:
            merged = self.geo["columns"][self.geo["primary_column"]]
            box = [min(a, b) for a, b in zip(merged["bbox"][:2], column["bbox"][:2], strict=True)] + \
                  [max(a, b) for a, b in zip(merged["bbox"][2:], column["bbox"][2:], strict=True)]
            types = sorted(set(merged["geometry_types"]) | set(column["geometry_types"]))
            merged.update(bbox=box, geometry_types=types)
        self.buffer.append(table.replace_schema_metadata(None))
        self.buffered += len(table)
        if self.buffered >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow
        import pyarrow.parquet as parquet

        if not self.buffer:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = parquet.ParquetWriter(self.temporary, self.buffer[0].schema, compression="zstd",
                                                 store_schema=False)  # the footer's metadata is the schema's
        table = pyarrow.concat_tables([t.cast(self.writer.schema) for t in self.buffer])
        self.writer.write_table(table, row_group_size=max(len(table), 1))
        self.rows += len(table)
        self.buffer, self.buffered = [], 0

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if self.geo is None:  # nothing written: the empty frame makes the file
            self.abort()
            return write_geoparquet(self.empty, self.path)
        try:
            self._flush()
            self.writer.add_key_value_metadata({"geo": json.dumps(self.geo)})
            self.writer.close()
            atomic.commit(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop what was written (an error elsewhere: no half file appears)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        atomic.remove_quietly(self.temporary)


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


@functools.lru_cache(maxsize=256)
def _crs(projjson: str):
    """A pyproj CRS per distinct PROJJSON text: parsing one costs milliseconds, and
    thousands of Level-1 files share a few dozen UTM zones."""
    from pyproj import CRS

    definition = json.loads(projjson)
    # the registry's own definition where it is exactly this CRS: PROJ then finds the
    # transformations to other CRSs ten times faster than from the parsed text. A
    # definition naming its EPSG code is checked against the registry's, identifiers of
    # its parts aside (writers differ in those), in a tenth of the time parsing takes
    identity = definition.get("id", {}) if isinstance(definition, dict) else {}
    if identity.get("authority") == "EPSG" and isinstance(identity.get("code"), int):
        try:
            registered = CRS.from_epsg(identity["code"])
        except Exception:  # noqa: BLE001 - an unknown code: parse the text below
            registered = None
        if registered is not None and _without_ids(registered.to_json_dict()) == _without_ids(definition):
            return registered
    crs = CRS.from_user_input(definition)
    code = crs.to_epsg(min_confidence=100)
    return CRS.from_epsg(code) if code is not None else crs


def _without_ids(value):
    """A PROJJSON value without identifiers and schema links, for comparison."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in ("id", "ids", "$schema")}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def read_geoparquet(path: Path):
    """A GeoParquet file with WKB geometries as a GeoDataFrame, reading the CRS once per
    distinct CRS (geopandas.read_parquet would parse it again for every file); other
    encodings go through geopandas."""
    import geopandas
    import pyarrow.parquet as parquet

    table = parquet.read_table(path)
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"null") or "null")
    if not geo:
        raise InputError("a Parquet file without GeoParquet metadata")
    if geo["columns"][geo["primary_column"]].get("encoding", "").upper() != "WKB":
        return geopandas.read_parquet(path)
    return _from_table(table, geo)


def read_batches(path: Path | str):
    """A GeoParquet file as GeoDataFrames of one row group each (at least one frame,
    possibly empty), for files too large to read at once."""
    import geopandas
    import pyarrow.parquet as parquet

    source = parquet.ParquetFile(path)
    geo = json.loads(source.schema_arrow.metadata[b"geo"])
    for index in range(source.num_row_groups):
        yield _from_table(source.read_row_group(index), geo)
    if source.num_row_groups == 0:
        yield geopandas.read_parquet(path)


def _from_table(table, geo: dict):
    """A table of a GeoParquet file with WKB geometries as a GeoDataFrame."""
    import geopandas

    attributes, geometry, crs = _parts_of_table(table, geo)
    frame = geopandas.GeoDataFrame(attributes, geometry=geometry, crs=crs)
    name = geo["primary_column"]
    return frame.rename_geometry(name) if name != "geometry" else frame


def _parts_of_table(table, geo: dict):
    """(attributes as a plain frame, geometries, CRS) of a GeoParquet table with WKB geometries."""
    import shapely

    name = geo["primary_column"]
    column = geo["columns"][name]
    # GeoParquet: an absent "crs" means OGC:CRS84 (longitude, latitude); null means unknown
    crs = _crs(json.dumps(column["crs"], sort_keys=True)) if column.get("crs") is not None else (
        None if "crs" in column else _crs('"OGC:CRS84"'))
    covering = column.get("covering", {}).get("bbox", {}).get("xmin", [None])[0]
    attributes = table.drop_columns([c for c in (name, covering) if c in table.column_names]).to_pandas(
        use_threads=False)
    return attributes, shapely.from_wkb(table.column(name).to_numpy(zero_copy_only=False)), crs


class VectorParts(NamedTuple):
    attributes: object  # a plain pandas frame
    geometry: object  # an array of shapely geometries
    crs: object  # a pyproj CRS, or None
    metadata: dict[str, str]  # a GeoParquet file's schema metadata (empty for other formats)


def read_vector_parts(path: Path) -> VectorParts:
    """What :func:`read_vector` reads, in parts: building a GeoDataFrame costs
    milliseconds, which matter over thousands of files. GeoParquet files are read in
    this thread: for small files, pyarrow's threads cost more than they give."""
    import numpy as np
    import pyarrow.parquet as parquet

    path = data_path(path)
    if not is_virtual(path) and path.suffix.lower() in (".parquet", ".geoparquet") and path.exists():
        try:
            table = parquet.ParquetFile(path).read(use_threads=False)
            raw = table.schema.metadata or {}
            geo = json.loads(raw.get(b"geo", b"null") or "null")
            if geo and geo["columns"][geo["primary_column"]].get("encoding", "").upper() == "WKB":
                metadata = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw.items()}
                return VectorParts(*_parts_of_table(table, geo), metadata)
        except Exception as exc:  # noqa: BLE001 - as read_vector says it
            raise InputError(f"not a readable vector file ({' '.join(str(exc).split())[:200]})") from None
    frame = read_vector(path)
    return VectorParts(pandas_frame(frame), np.asarray(frame.geometry.values), frame.crs, parquet_metadata(path))


def pandas_frame(frame):
    """A GeoDataFrame's attributes as a plain pandas frame."""
    import pandas

    return pandas.DataFrame(frame.drop(columns=frame.geometry.name))


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

    path = data_path(path)
    if not is_virtual(path) and not path.exists():
        raise InputError("no such file")
    try:
        if not is_virtual(path) and path.suffix.lower() in (".parquet", ".geoparquet"):  # through pyarrow
            return read_geoparquet(path)
        return geopandas.read_file(str(path), engine="pyogrio")  # any GDAL path: /vsizip/, /vsicurl/
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow, GDAL and shapely raise many kinds
        raise InputError(f"not a readable vector file ({' '.join(str(exc).split())[:200]})") from None


GEOMETRY_TYPES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
                  "GeometryCollection")  # by shapely.get_type_id
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
