"""Reading Level-1 and extent files into the work CRS, with one clear reason per bad file.

Level-1 files come in their scenes' CRSs (UTM zones differ from scene to scene); each
file is reprojected to the work CRS on reading, so mixed CRSs across files are normal.
A file without CRS information, or with one that cannot be interpreted, is an error.
"""

from __future__ import annotations

from pathlib import Path

import pandas

from rts_core import contract
from rts_core.runner import InputError
from rts_core.vector import parquet_metadata, read_vector

from .darts import MODEL_VERSION, THRESHOLD
from .geometry import WORK_CRS

LEVEL1_REQUIRED = tuple(c for c in contract.L1_COLUMNS if c != "geometry")
EXTENT_REQUIRED = ("scene_id", "year")


def to_work_crs(frame, required: tuple[str, ...]):
    """Check the columns and the CRS, then reproject to the work CRS."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}")
    if frame.crs is None:
        if len(frame) == 0:
            return frame.set_crs(WORK_CRS)  # nothing to place: an empty file carries no risk
        raise InputError("no CRS information: cannot place its geometries")
    try:
        frame = frame.to_crs(WORK_CRS)
    except Exception as exc:  # noqa: BLE001 - pyproj raises several kinds
        raise InputError(f"cannot reproject from its CRS {frame.crs.to_string()!r}: {exc}") from None
    if "acquired" in frame.columns:
        frame["acquired"] = pandas.to_datetime(frame["acquired"], utc=True)
    frame["year"] = frame["year"].astype("int64")
    return frame


def read_level1(path: Path):
    """A Level-1 file in the work CRS, with the model version and threshold that
    rts-ensemble records in a GeoParquet file's metadata as two extra columns (missing
    for other files; only ``--schema darts`` writes them out)."""
    frame = to_work_crs(read_vector(path), LEVEL1_REQUIRED)
    metadata = parquet_metadata(path)
    frame[MODEL_VERSION] = metadata.get(contract.PARQUET_MODEL_VERSION)
    frame[THRESHOLD] = pandas.to_numeric(metadata.get(contract.PARQUET_THRESHOLD), errors="coerce")
    return frame


def read_extents(path: Path):
    return to_work_crs(read_vector(path), EXTENT_REQUIRED)


def extent_beside(level1_path: Path) -> Path:
    """The ``<scene_id>.extent.parquet`` that rts-ensemble writes next to the Level-1
    file; an error if the name does not follow the contract or the file is missing."""
    level1_path = Path(level1_path)
    name = level1_path.name
    if not name.endswith(contract.L1_SUFFIX):
        raise InputError(f"not named <scene_id>{contract.L1_SUFFIX}, so no extent beside it: give --extents")
    extent = level1_path.with_name(name[: -len(contract.L1_SUFFIX)] + contract.EXTENT_SUFFIX)
    if not extent.exists():
        raise InputError(f"no extent file beside it ({extent.name}): give --extents")
    return extent
