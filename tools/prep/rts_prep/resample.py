"""Warping a window of an auxiliary raster onto a block of the scene grid (GDAL's
kernels through rasterio), with no-data wherever the kernel reads a gap."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from rasterio import Affine, warp
from rasterio.enums import Resampling


@dataclass
class Patch:
    """A window of an auxiliary raster: bands (count, rows, cols) as float32 with NaN
    for no-data, and where it lies."""

    data: np.ndarray
    transform: object
    crs: object


def ignore_threaded_warp_warnings() -> None:
    """rasterio sometimes warns that an in-memory array "has no geotransform" when
    arrays are warped on several threads at once (known upstream, e.g. odc-geo issue
    131); we always pass both transforms, and stacks made on 1 and 2 threads are
    identical. Called by rts-prep when it runs, not on import."""
    warnings.filterwarnings("ignore", message="Dataset has no geotransform", module="rasterio.warp")


NO_DATA_STAND_IN = np.float32(1e30)  # no-data inside GDAL's kernels: far beyond any terrain or index value


def resample(patch: Patch | None, count: int, shape, transform, crs, resampling: Resampling) -> np.ndarray:
    """Warp a patch onto a block of the scene grid; NaN where nothing maps or where
    the kernel reads a no-data pixel or past the patch.

    GDAL's kernels run 2-3 times faster without no-data, and (cubic) faster one band
    at a time than several together: so bands are warped without no-data (and a
    border of the kernel's reach around the patch) standing in as 1e30. A pixel whose
    kernel touches one comes out beyond 1e20 and becomes NaN; every other pixel gets
    exactly the value GDAL gives with no-data. (GDAL with no-data also keeps a rim,
    under a pixel wide, where only low-weight taps are missing; that rim is no-data
    here, in keeping with "invalid wherever an input is missing".)"""
    out = np.full((count, *shape), np.nan, np.float32)  # GDAL leaves what maps nowhere
    if patch is None:
        return out
    # A fixed resampling scale (destination pixels per source pixel): GDAL otherwise
    # estimates it per chunk from the window shapes, which for grids rotated against
    # each other (UTM vs EPSG:3413) varies with the block and shows as seams.
    scale = abs(patch.transform.a) / abs(transform.a) if patch.crs.is_projected == crs.is_projected else None
    options = {"XSCALE": f"{scale:.9g}", "YSCALE": f"{scale:.9g}"} if scale else {}
    reach = kernel_reach_px(resampling, scale)
    source = np.pad(patch.data.astype(np.float32, copy=False), ((0, 0), (reach, reach), (reach, reach)),
                    constant_values=np.nan)
    np.nan_to_num(source, copy=False, nan=NO_DATA_STAND_IN, posinf=NO_DATA_STAND_IN, neginf=NO_DATA_STAND_IN)
    # nearest reads one pixel per band: there, setting up the warp costs more than the
    # kernel, and all bands go in one call
    bands = [(source, out)] if resampling == Resampling.nearest else zip(source, out, strict=True)
    for band, destination in bands:
        warp.reproject(source=band, destination=destination,
                       src_transform=patch.transform @ Affine.translation(-reach, -reach), src_crs=patch.crs,
                       src_nodata=None, dst_transform=transform, dst_crs=crs, dst_nodata=None,
                       init_dest_nodata=False, resampling=resampling, num_threads=1, **options)
    out[np.abs(out) > 1e20] = np.nan
    return out


def kernel_reach_px(resampling: Resampling, scale: float | None) -> int:
    """Source pixels beyond a block that GDAL's resampling kernel may read: its radius
    (1 for nearest and bilinear, 2 for cubic) widened by 1 / ``scale`` when shrinking
    (``scale`` = destination pixels per source pixel), plus one."""
    radius = 2 if resampling == Resampling.cubic else 1
    return math.ceil(radius / min(scale or 1.0, 1.0)) + 1
