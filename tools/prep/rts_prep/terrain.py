"""Terrain variables from a DEM window, on the DEM's own grid (pure numpy/scipy).

Both functions take elevations in metres with NaN for no-data and the pixel size in
metres, and return float32 with NaN wherever the result is undefined.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import fft as sp_fft


def disk_kernel(radius_px: float) -> np.ndarray:
    """1 for the pixels whose centre lies within ``radius_px`` of the centre pixel."""
    reach = int(np.floor(radius_px))
    yy, xx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    return (xx**2 + yy**2 <= radius_px**2 + 1e-9).astype(np.float64)


@functools.lru_cache(maxsize=8)
def _kernel_spectrum(radius_px: float, shape: tuple[int, int]) -> np.ndarray:
    """The disk's real FFT at a padded shape, computed once per shape (blocks repeat)."""
    return sp_fft.rfft2(disk_kernel(radius_px).astype(np.float32), shape)


def _disk_sum(values: np.ndarray, radius_px: float) -> np.ndarray:
    """Sum over the disk around each pixel ("same" size, zero outside the array), by
    a float32 FFT: callers centre the values, and the rounding error (about 1e-5 of
    the largest centred value) is far below what the stack stores."""
    reach = int(np.floor(radius_px))
    shape = tuple(sp_fft.next_fast_len(n + 2 * reach, real=True) for n in values.shape)
    spectrum = sp_fft.rfft2(values.astype(np.float32, copy=False), shape)
    spectrum *= _kernel_spectrum(radius_px, shape)
    full = sp_fft.irfft2(spectrum, shape)
    return full[reach:reach + values.shape[0], reach:reach + values.shape[1]]


def _disk_count(shape: tuple[int, int], radius_px: float) -> np.ndarray:
    """How many pixels of the disk around each pixel lie inside an array of ``shape``
    (exact, without an FFT). The disk is a stack of row spans, so the count is a sum
    over row offsets of (that row is inside) x (how much of its span is inside): the
    same for every row whose whole disk is inside, a small integer product for the
    rows near the top and bottom edges."""
    reach = int(np.floor(radius_px))
    offsets = np.arange(-reach, reach + 1)
    half_spans = np.floor(np.sqrt(np.maximum(radius_px**2 + 1e-9 - offsets**2, 0.0))).astype(np.int64)
    cols = np.arange(shape[1])
    span_inside = (np.minimum(cols + half_spans[:, np.newaxis], shape[1] - 1)
                   - np.maximum(cols - half_spans[:, np.newaxis], 0) + 1)  # (offsets, cols)
    rows = np.arange(shape[0])[:, np.newaxis] + offsets
    row_inside = (rows >= 0) & (rows < shape[0])
    count = np.empty(shape, np.float32)
    count[:] = span_inside.sum(axis=0)
    edge = np.flatnonzero(~row_inside.all(axis=1))
    count[edge] = row_inside[edge].astype(np.int64) @ span_inside  # integers: exact, and no BLAS threads
    return count


def relative_elevation(dem: np.ndarray, pixel_m: float, radius_m: float = 100.0) -> np.ndarray:
    """DEM minus the mean DEM inside a circle of ``radius_m`` around each pixel
    (DARTS' "relative elevation", a topographic position index; the DARTS code's
    window is a radius: Earth Engine's ``ee.Kernel.circle``). The circular mean is
    an FFT convolution (the disk's spectrum is cached per block shape); no-data pixels
    are left out of the mean (near a gap it uses the valid part of the circle) and
    stay no-data themselves. Pixels closer than the radius to the array edge see only
    part of the circle: callers pass a window with that margin."""
    radius = radius_m / pixel_m
    valid = np.isfinite(dem)
    if not valid.any():
        return np.full(dem.shape, np.nan, np.float32)
    reference = float(dem[valid].mean())  # small numbers keep the FFT sums precise
    filled = np.where(valid, dem.astype(np.float32, copy=False) - np.float32(reference), np.float32(0))
    total = _disk_sum(filled, radius)
    if valid.all():
        count = _disk_count(dem.shape, radius)
    else:
        count = _disk_sum(valid, radius)
    with np.errstate(invalid="ignore", divide="ignore"):
        total /= count
    result = np.subtract(filled, total, out=filled)
    result[~valid | (count < 0.5)] = np.nan
    return result


def slope_degrees(dem: np.ndarray, pixel_m: float, method: str = "horn") -> np.ndarray:
    """Slope in degrees by Horn's 3x3 method (as ``gdaldem slope`` and darts-nextgen),
    or, with ``method="four_neighbour"``, from central differences of the 4 neighbours
    (as Earth Engine's ``ee.Terrain.slope``, which made DARTS v1's slope layer); NaN
    next to no-data and on the outermost rows and columns.

    Horn's gradient is a [1, 2, 1] smoothing across a central difference along each
    axis, done as two passes of slices in float32 on elevations taken relative to
    their mean (which keeps float32 exact to well under 0.001 degree)."""
    out = np.full(dem.shape, np.nan, np.float32)
    if min(dem.shape) < 3:
        return out
    finite = np.isfinite(dem)
    if not finite.any():
        return out
    z = (dem - np.float32(dem[finite].mean())).astype(np.float32, copy=False)
    if method == "four_neighbour":
        dzdx = z[1:-1, 2:] - z[1:-1, :-2]
        dzdy = z[2:, 1:-1] - z[:-2, 1:-1]
        gradient = np.hypot(dzdx, dzdy, out=dzdx)
        gradient /= np.float32(2 * pixel_m)
        np.degrees(np.arctan(gradient, out=gradient), out=out[1:-1, 1:-1])
        out[~finite] = np.nan  # the centre pixel is not in the stencil
        return out
    if method != "horn":
        raise ValueError(f"unknown slope method {method!r} (horn or four_neighbour)")
    across_rows = z[:-2] + z[2:]
    across_rows += 2 * z[1:-1]  # (rows - 2, cols)
    across_cols = z[:, :-2] + z[:, 2:]
    across_cols += 2 * z[:, 1:-1]  # (rows, cols - 2)
    dzdx = across_rows[:, 2:] - across_rows[:, :-2]
    dzdy = across_cols[2:] - across_cols[:-2]
    gradient = np.hypot(dzdx, dzdy, out=dzdx)
    gradient /= np.float32(8 * pixel_m)
    inner = out[1:-1, 1:-1]
    np.degrees(np.arctan(gradient, out=gradient), out=inner)
    out[~finite] = np.nan  # Horn's stencil skips the centre pixel itself
    return out
