"""Reading Level-1 and extent files into the work CRS, with one clear reason per bad file.

Level-1 files come in their scenes' CRSs (UTM zones differ from scene to scene); each
file is reprojected to the work CRS on reading, so mixed CRSs across files are normal.
A file without CRS information, or with one that cannot be interpreted, is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas
import shapely

from rts_core import contract
from rts_core.crs import equal_area_m2, project
from rts_core.errors import InputError
from rts_core.sceneid import FIRST_YEAR, LAST_YEAR, ImplausibleDate, check_acquired
from rts_core.vector import polygonal_rows, read_vector_parts

from .darts import MODEL_VERSION, THRESHOLD
from .geometry import WORK_CRS

LEVEL1_REQUIRED = tuple(c for c in contract.L1_COLUMNS if c != "geometry")
EXTENT_REQUIRED = ("scene_id", "year")


def to_work_crs(path: Path, required: tuple[str, ...]):
    """Read a vector file, check the columns, the geometries, the dates and the CRS, and
    reproject to the work CRS: the attributes (a plain frame: each change to a
    GeoDataFrame checks its CRS), the geometries and the file's metadata."""
    attributes, geometry, crs, metadata = read_vector_parts(path)
    missing = [c for c in required if c not in attributes.columns]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}")
    keep = polygonal_rows(geometry, str(path))
    if not keep.all():
        attributes, geometry = attributes[keep].reset_index(drop=True), np.asarray(geometry)[keep]
    if crs is None:
        if len(geometry):  # an empty file without CRS has nothing to place: no risk
            raise InputError("no CRS information: cannot place its geometries")
    else:
        try:
            geometry = project(geometry, crs, WORK_CRS)
        except Exception as exc:  # noqa: BLE001 - pyproj raises several kinds
            raise InputError(f"cannot reproject from its CRS {crs.to_string()!r}: {exc}") from None
        if not np.isfinite(shapely.get_coordinates(geometry)).all():
            raise InputError(f"geometries outside the area its CRS {crs.to_string()!r} can place")
    check_dates(attributes)
    return attributes, geometry, metadata


def check_dates(attributes: pandas.DataFrame) -> None:
    """The contract's dates, in place: ``acquired`` as UTC timestamps in 1990-2100 and
    within a day of each scene id's time, ``year`` the year of ``acquired`` (else, where
    there is no ``acquired``, in 1990-2100). Years 3000 and 1 broke pandas' nanosecond
    timestamps deep in the work; 1800 gave Level 2 the year 1800."""
    if "acquired" in attributes.columns:
        try:
            acquired = pandas.to_datetime(attributes["acquired"], utc=True)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputError(f"acquired holds values that are no dates in {FIRST_YEAR}-{LAST_YEAR} ({exc})") from None
        if acquired.isna().any():
            raise InputError(f"acquired is empty in {int(acquired.isna().sum())} row(s)")
        for scene_id, first in acquired.groupby(attributes["scene_id"].astype(str)).first().items():
            try:
                check_acquired(first.to_pydatetime(), scene_id, f"acquired of scene {scene_id}")
            except ImplausibleDate as exc:
                raise InputError(str(exc)) from None
        acquired_years = acquired.dt.year.to_numpy()
        if not ((acquired_years >= FIRST_YEAR) & (acquired_years <= LAST_YEAR)).all():
            raise InputError(f"acquired holds dates outside {FIRST_YEAR}-{LAST_YEAR}")
        attributes["acquired"] = acquired
    years = pandas.to_numeric(attributes["year"], errors="coerce")
    if years.isna().any() or not years.between(FIRST_YEAR, LAST_YEAR).all():
        bad = attributes["year"][years.isna() | ~years.between(FIRST_YEAR, LAST_YEAR)].iloc[0]
        raise InputError(f"year {bad} is outside {FIRST_YEAR}-{LAST_YEAR}")
    if "acquired" in attributes.columns and (years.to_numpy() != acquired_years).any():
        row = int(np.flatnonzero(years.to_numpy() != acquired_years)[0])
        raise InputError(f"year {int(years.iloc[row])} disagrees with acquired {acquired.iloc[row]:%Y-%m-%d}")
    attributes["year"] = years.astype("int64")


def level1_parts(path: Path):
    """A Level-1 file in the work CRS as (attributes, geometries), with the model
    version and threshold that rts-ensemble records in a GeoParquet file's metadata as
    two extra columns (missing for other files; only ``--schema darts`` writes them out)."""
    attributes, geometry, metadata = to_work_crs(path, LEVEL1_REQUIRED)
    # the one area rule (CONTRACT.md section 5), whatever the file says: an inventory in polar
    # stereographic carried areas 4.4 % too small into level1 while level2 was right
    attributes["area_m2"] = equal_area_m2(geometry, WORK_CRS)
    attributes["area_ha"] = attributes["area_m2"] / 1e4
    attributes[MODEL_VERSION] = metadata.get(contract.PARQUET_MODEL_VERSION)
    attributes[THRESHOLD] = threshold_of(metadata.get(contract.PARQUET_THRESHOLD))
    return attributes, geometry


def threshold_of(text: str | None) -> float:
    """The probability threshold a Level-1 file records (NaN when it records none); one
    that is not a number in 0-1 is an error of the file, not a value to pass on."""
    if text is None:
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise InputError(f"its metadata {contract.PARQUET_THRESHOLD}={text[:40]!r} is no probability in 0-1")
    return value


def extent_parts(path: Path):
    """A scene extent file in the work CRS as (attributes, geometries); its errors name
    it, also when it was found beside a Level-1 file."""
    try:
        return to_work_crs(path, EXTENT_REQUIRED)[:2]
    except InputError as exc:
        raise InputError(str(exc), source=exc.source or path) from None


def frame_of(parts: list[tuple[pandas.DataFrame, np.ndarray]]):
    """One GeoDataFrame (work CRS) of several files' (attributes, geometries)."""
    import geopandas

    attributes = pandas.concat([a for a, _ in parts], ignore_index=True)
    geometry = np.concatenate([g for _, g in parts]) if parts else np.empty(0, dtype=object)
    return geopandas.GeoDataFrame(attributes, geometry=geometry, crs=WORK_CRS)


def read_level1(path: Path):
    return frame_of([level1_parts(path)])


def read_extents(path: Path):
    return frame_of([extent_parts(path)])


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
