"""Frames on local disk between the stages of a partitioned run: Arrow IPC files with
geometries as WKB, memory-mapped on reading so that a slice costs only its rows."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow
import shapely

WKB = "_wkb"


def write_frame(frame, path: Path) -> Path:
    """A GeoDataFrame (any CRS; the reader states it) as an uncompressed Arrow IPC file."""
    attributes = pyarrow.Table.from_pandas(frame.drop(columns=frame.geometry.name), preserve_index=False)
    return write_table(attributes.append_column(WKB, pyarrow.array(
        shapely.to_wkb(np.asarray(frame.geometry.values)), pyarrow.binary())), path)


def write_table(table: pyarrow.Table, path: Path) -> Path:
    """An Arrow table, metadata included, as an uncompressed Arrow IPC file."""
    with pyarrow.OSFile(str(path), "wb") as sink, pyarrow.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def read_table(path: Path) -> pyarrow.Table:
    """The file's table, memory-mapped (no copy until rows are used)."""
    return pyarrow.ipc.open_file(pyarrow.memory_map(str(path), "r")).read_all()


@functools.lru_cache(maxsize=64)
def read_shared(path: Path) -> pyarrow.Table:
    """:func:`read_table` of a file that no longer changes (a scan's spill, the
    extents), opened once per process for all the squares that read it."""
    return read_table(path)


def to_frame(table: pyarrow.Table, crs):
    """A table of :func:`write_frame` back as a GeoDataFrame in ``crs``."""
    import geopandas

    geometry = shapely.from_wkb(table.column(WKB).to_numpy(zero_copy_only=False))
    return geopandas.GeoDataFrame(table.drop_columns([WKB]).to_pandas(), geometry=geometry, crs=crs)
