"""GeoParquet 1.1 (CONTRACT.md section 5): the one encoder, writer and reader of the
project, on public APIs (pyarrow, shapely, pyproj, geopandas' frame).

A product is written as the GeoParquet validator's best practices ask: WKB geometries,
the PROJJSON CRS, a ``bbox`` covering column (so that readers such as GDAL, DuckDB and
geopandas' ``read_parquet(bbox=...)`` skip row groups outside a region), zstd, and row
groups of at most :data:`ROW_GROUP_ROWS` rows. A file of more than one row group is
written in Hilbert order, so each row group covers a compact area; smaller files keep
their rows as given.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from . import atomic
from .errors import InputError
from .fingerprints import PARQUET_FINGERPRINT

VERSION = "1.1.0"
ROW_GROUP_ROWS = 65_536  # the validator's advice: row groups of about 50,000 to 150,000 rows
COVERING = "bbox"
GEOMETRY_TYPES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
                  "GeometryCollection")  # by shapely.get_type_id


def table_of(frame):
    """A GeoDataFrame (CRS required) as the Arrow table a GeoParquet file stores: the
    attributes, the geometry as WKB where the frame has it, the ``bbox`` struct last,
    and the "geo" metadata."""
    import numpy as np
    import pandas
    import pyarrow
    import shapely

    if frame.crs is None:
        raise ValueError("refusing to write a GeoParquet table without a CRS")
    name = frame.geometry.name
    others = [c for c in frame.columns if c != name and str(frame[c].dtype) == "geometry"]
    if others:
        raise ValueError(f"one geometry column per file: {others} are geometries too")
    geometries = np.asarray(frame.geometry.values, dtype=object)
    table = pyarrow.Table.from_pandas(pandas.DataFrame(frame.drop(columns=name)), preserve_index=False)
    wkb = pyarrow.array(shapely.to_wkb(geometries), pyarrow.binary())
    table = table.add_column(list(frame.columns).index(name), name, wkb)
    bounds = shapely.bounds(geometries)
    covering = pyarrow.StructArray.from_arrays([pyarrow.array(bounds[:, i], pyarrow.float64()) for i in range(4)],
                                               names=["xmin", "ymin", "xmax", "ymax"])
    table = table.append_column(COVERING, covering)
    return table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          b"geo": json.dumps(_geo(geometries, name, frame.crs)).encode()})


def _geo(geometries, name: str, crs) -> dict:
    """The "geo" metadata of one WKB geometry column."""
    import numpy as np
    import shapely

    type_ids = shapely.get_type_id(geometries)
    present = type_ids >= 0
    kinds = {GEOMETRY_TYPES[t] + (" Z" if z else "")
             for t, z in zip(type_ids[present], shapely.has_z(geometries[present]), strict=True)}
    column = {"encoding": "WKB", "crs": _projjson(crs), "geometry_types": sorted(kinds)}
    box = shapely.total_bounds(geometries) if len(geometries) else np.full(4, np.nan)
    if np.isfinite(box).all():  # no box for a file without geometries
        column["bbox"] = box.tolist()
    column["covering"] = {COVERING: {edge: [COVERING, edge] for edge in ("xmin", "ymin", "xmax", "ymax")}}
    return {"version": VERSION, "primary_column": name, "columns": {name: column}}


def _projjson(crs) -> dict:
    """PROJJSON of a CRS without the identifiers of datum-ensemble members (PROJ writes
    them where the PROJJSON schema, and so GeoParquet validators, have none)."""
    definition = crs.to_json_dict()
    ensemble = definition.get("datum_ensemble") or definition.get("base_crs", {}).get("datum_ensemble") or {}
    for member in ensemble.get("members", []):
        member.pop("id", None)
    return definition


def frame_of(table, geo: dict | None = None):
    """A GeoParquet table (of :func:`table_of` or read from a file) as a GeoDataFrame."""
    import geopandas

    geo = geo or _geo_of(table)
    parts = parts_of(table, geo)
    frame = geopandas.GeoDataFrame(parts.attributes, geometry=parts.geometry, crs=parts.crs)
    name = geo["primary_column"]
    return frame.rename_geometry(name) if name != "geometry" else frame


class Parts(NamedTuple):
    attributes: object  # a plain pandas frame
    geometry: object  # an array of shapely geometries
    crs: object  # a pyproj CRS, or None
    metadata: dict[str, str]  # the file's schema metadata as text


def parts_of(table, geo: dict | None = None) -> Parts:
    """(attributes, geometries, CRS, metadata) of a GeoParquet table with WKB geometries:
    building a GeoDataFrame costs milliseconds, which matter over thousands of files."""
    import shapely

    geo = geo or _geo_of(table)
    name = geo["primary_column"]
    column = geo["columns"][name]
    # GeoParquet: an absent "crs" means OGC:CRS84 (longitude, latitude); null means unknown
    crs = _crs(json.dumps(column["crs"], sort_keys=True)) if column.get("crs") is not None else (
        None if "crs" in column else _crs('"OGC:CRS84"'))
    covering = column.get("covering", {}).get("bbox", {}).get("xmin", [None])[0]
    attributes = table.drop_columns([c for c in (name, covering) if c in table.column_names]).to_pandas(
        use_threads=False)
    return Parts(attributes, shapely.from_wkb(table.column(name).to_numpy(zero_copy_only=False)), crs,
                 _text(table.schema.metadata))


def _text(raw: Mapping[bytes, bytes] | None) -> dict[str, str]:
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in (raw or {}).items()}


def _geo_of(table) -> dict:
    """The "geo" metadata of a table (or of a file's schema, as an empty table)."""
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"null") or "null")
    if not geo:
        raise InputError("a Parquet file without GeoParquet metadata")
    return geo


def opened(path: Path | str):
    """A Parquet file with its footer read once, and its "geo" metadata."""
    import pyarrow.parquet as parquet

    source = parquet.ParquetFile(path)
    return source, _geo_of(source.schema_arrow.empty_table())


def _is_wkb(geo: dict) -> bool:
    return geo["columns"][geo["primary_column"]].get("encoding", "").upper() == "WKB"


def write(frame, path: Path | str, fingerprint: str | None = None, metadata: Mapping[str, str] | None = None) -> Path:
    """Write a GeoDataFrame (CRS required) as GeoParquet 1.1, atomically, with the
    output's fingerprint (rts_core.fingerprints) and any other ``metadata`` in the
    schema metadata; more rows than one row group are written in Hilbert order."""
    import pyarrow.parquet as parquet

    if frame.crs is None:
        raise ValueError(f"{path}: refusing to write a GeoParquet file without a CRS")
    if len(frame) > ROW_GROUP_ROWS and frame.geometry.notna().all() and not frame.geometry.is_empty.any():
        frame = frame.iloc[frame.geometry.hilbert_distance().argsort(kind="stable")]
    table = table_of(frame)
    extra = {key.encode(): value.encode() for key, value in (metadata or {}).items()}
    if fingerprint is not None:
        extra[PARQUET_FINGERPRINT] = fingerprint.encode()
    table = table.replace_schema_metadata({**table.schema.metadata, **extra})
    with atomic.atomic_path(path) as temporary:
        parquet.write_table(table, temporary, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return Path(path)


class Writer:
    """GeoParquet 1.1 written table by table, for products too large to hold at once:
    tables are buffered into row groups of about ``row_group_rows``; the file's "geo"
    metadata (box, geometry types) covers every table; the file appears atomically on
    :meth:`close`. Tables come in spatial order (rts-aggregate writes region after
    region), so each row group covers a compact area. ``empty``, a frame without rows,
    makes the file when no table had a row."""

    def __init__(self, path: Path | str, empty, row_group_rows: int = ROW_GROUP_ROWS):
        self.path, self.empty, self.row_group_rows = Path(path), empty, row_group_rows
        self.temporary = atomic.temporary_path(self.path)
        self.writer = None
        self.buffer: list = []
        self.buffered = 0
        self.geo: dict | None = None
        self.rows = 0

    def write_table(self, table) -> None:
        """Append a table of :func:`table_of` (made elsewhere, e.g. in a worker)."""
        if len(table) == 0:
            return
        geo = _geo_of(table)
        column = geo["columns"][geo["primary_column"]]
        if self.geo is None:
            self.geo = geo
        else:
            merged = self.geo["columns"][self.geo["primary_column"]]
            if "bbox" in column:
                box = merged.get("bbox", column["bbox"])
                merged["bbox"] = [*map(min, box[:2], column["bbox"][:2]), *map(max, box[2:], column["bbox"][2:])]
            merged["geometry_types"] = sorted(set(merged["geometry_types"]) | set(column["geometry_types"]))
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
            return write(self.empty, self.path)
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


def read(path: Path | str):
    """A GeoParquet file as a GeoDataFrame; other encodings than WKB through geopandas."""
    import geopandas

    source, geo = opened(path)
    if not _is_wkb(geo):
        return geopandas.read_parquet(path)
    return frame_of(source.read(use_threads=False), geo)  # small files: threads cost more than they give


def read_parts(path: Path | str) -> Parts:
    """What :func:`read` reads, in parts (WKB files; others through geopandas)."""
    import geopandas
    import numpy as np
    import pandas

    source, geo = opened(path)
    if _is_wkb(geo):
        return parts_of(source.read(use_threads=False), geo)
    frame = geopandas.read_parquet(path)
    return Parts(pandas.DataFrame(frame.drop(columns=frame.geometry.name)), np.asarray(frame.geometry.values),
                 frame.crs, _text(source.schema_arrow.metadata))


def read_row_groups(path: Path | str) -> Iterator:
    """A GeoParquet file as GeoDataFrames of one row group each (at least one frame,
    possibly empty), for files too large to read at once."""
    source, geo = opened(path)
    for index in range(source.num_row_groups):
        yield frame_of(source.read_row_group(index), geo)
    if source.num_row_groups == 0:
        yield frame_of(source.schema_arrow.empty_table(), geo)


def metadata_of(path: Path | str) -> dict[str, str]:
    """A Parquet file's schema metadata as text."""
    import pyarrow.parquet as parquet

    return _text(parquet.read_schema(path).metadata)


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
