"""Dated DEMs: finding them, dating them, checking them, pairing them (CONTRACT.md section 7).

A DEM's date is its ``RTS_ACQUIRED`` tag, else the first ``YYYYMMDD`` in its file name,
as ArcticDEM strips carry it (``SETSM_s2s041_WV01_20200801_102001009A689B00_..._dem.tif``:
the date of the stereo pair). ArcticDEM delivers each strip as a folder of rasters
(``_dem.tif``, ``_matchtag.tif``, ``_ortho.tif``, ``_bitmask.tif``); a folder given as
input contributes its ``*_dem.tif`` files, or every GeoTIFF and VRT when it has none.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

from rts_core import contract
from rts_core.errors import InputError
from rts_core.sceneid import parse_acquired

# Eight digits that are not part of a longer number (an ArcticDEM catalogue id such as
# 1030010021A7F500 holds ten digits in a row and is no date).
DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
EARLIEST_DEM_YEAR = 1950  # aerial stereo archives; ArcticDEM itself starts in 2007
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")
MAX_PIXEL_M = 100.0  # coarser DEMs cannot resolve a slump


@dataclass(frozen=True)
class Dem:
    """One dated DEM, as opened and checked (the raster itself is read window by window)."""

    path: str
    acquired: date
    crs: object
    transform: object
    width: int
    height: int
    nodata: float | None

    @property
    def pixel_m(self) -> float:
        return abs(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return (left, top - self.height * self.pixel_m, left + self.width * self.pixel_m, top)

    @property
    def stamp(self) -> str:
        """``YYYYMMDD``, as output names carry it."""
        return self.acquired.strftime("%Y%m%d")


def date_from_name(name: str) -> date | None:
    """The first ``YYYYMMDD`` in ``name`` that is a real calendar date, or None."""
    for match in DATE_IN_NAME.finditer(name):
        year, month, day = (int(group) for group in match.groups())
        if not EARLIEST_DEM_YEAR <= year <= date.today().year + 1:
            continue
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def dem_date(path: str | Path, tags: dict[str, str]) -> date:
    """The acquisition date of a DEM (module docstring), or an InputError saying how to give one."""
    tagged = tags.get(contract.TAG_ACQUIRED)
    if tagged:
        try:
            return parse_acquired(tagged).date()
        except ValueError:
            raise InputError(f"its {contract.TAG_ACQUIRED} tag {tagged[:40]!r} is not an ISO 8601 date") from None
    found = date_from_name(Path(str(path)).name)
    if found is None:
        raise InputError(f"no acquisition date: neither an {contract.TAG_ACQUIRED} tag nor a YYYYMMDD in the "
                         "file name (as in SETSM_s2s041_WV01_20200801_..._dem.tif)")
    return found


def open_dem(path: str | Path) -> Dem:
    """Open and check one DEM: one band, a projected CRS in metres, square pixels of at
    most 100 m, north up, and a date. Raises InputError with the reason."""
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            crs, transform, width, height = src.crs, src.transform, src.width, src.height
            count, nodata = src.count, src.nodata
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"not a readable raster ({' '.join(str(exc).split())[:200]})") from None
    if count < 1:
        raise InputError("the raster has no band")
    if crs is None:
        raise InputError("the DEM has no CRS")
    if not crs.is_projected or abs(crs.linear_units_factor[1] - 1.0) > 1e-9:
        raise InputError(f"the DEM's CRS ({crs.to_string()[:60]}) is not projected in metres; "
                         "warp it first (ArcticDEM: EPSG:3413)")
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise InputError("the DEM's grid is rotated or not north up")
    pixel_x, pixel_y = transform.a, -transform.e
    if not (np.isfinite(pixel_x) and 0 < pixel_x <= MAX_PIXEL_M) or abs(pixel_x - pixel_y) > 1e-6 * pixel_x:
        raise InputError(f"the DEM's pixels are {pixel_x:g} x {pixel_y:g} m: square pixels of at most "
                         f"{MAX_PIXEL_M:g} m are needed")
    if width < 3 or height < 3:
        raise InputError(f"the DEM is {width} x {height} pixels: too small to measure anything")
    if nodata is not None and not np.isfinite(nodata) and not np.isnan(nodata):
        nodata = None
    return Dem(str(path), dem_date(path, tags), crs, transform, width, height, nodata)


def expand_dem_paths(paths: list[str]) -> list[str]:
    """Files as given; a folder's ``*_dem.tif`` (ArcticDEM strips), else its GeoTIFFs and VRTs."""
    expanded: list[str] = []
    for path in paths:
        folder = Path(path)
        if not folder.is_dir():
            expanded.append(path)
            continue
        found = sorted(p for p in folder.rglob("*_dem.tif") if p.is_file())
        if not found:
            found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
        if not found:
            raise InputError(f"no DEM in this folder (*_dem.tif, else *{', *'.join(RASTER_SUFFIXES)})", source=path)
        expanded.extend(str(p) for p in found)
    return expanded


def overlap_bounds(first: Dem, second: Dem) -> tuple[float, float, float, float] | None:
    """The part of ``first``'s extent that ``second`` covers, in ``first``'s CRS (None: none)."""
    left, bottom, right, top = first.bounds
    other = second.bounds if second.crs == first.crs else transform_bounds(second.crs, first.crs, *second.bounds,
                                                                           densify_pts=21)
    box = (max(left, other[0]), max(bottom, other[1]), min(right, other[2]), min(top, other[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def dem_pairs(dems: list[Dem], mode: str = "all") -> list[tuple[Dem, Dem]]:
    """(earlier, later) pairs of DEMs of different dates whose extents overlap: every such
    pair (``all``) or each DEM with the next date that overlaps it (``consecutive``)."""
    ordered = sorted(dems, key=lambda dem: (dem.acquired, dem.path))
    pairs = [(a, b) for a, b in itertools.combinations(ordered, 2)
             if a.acquired < b.acquired and overlap_bounds(a, b) is not None]
    if mode == "consecutive":
        nearest: dict[str, tuple[Dem, Dem]] = {}
        for a, b in pairs:
            if a.path not in nearest:  # pairs are in order of the later date
                nearest[a.path] = (a, b)
        pairs = list(nearest.values())
    return pairs
