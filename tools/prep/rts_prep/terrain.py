"""Terrain variables from a DEM window, on the DEM's own grid (pure numpy/scipy).

Both functions take elevations in metres with NaN for no-data and the pixel size in
metres, and return NaN wherever the result is undefined.
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
    return sp_fft.rfft2(disk_kernel(radius_px), shape)


def _disk_sum(values: np.ndarray, radius_px: float) -> np.ndarray:
    """Sum over the disk around each pixel ("same" size, zero outside the array)."""
    reach = int(np.floor(radius_px))
    shape = tuple(sp_fft.next_fast_len(n + 2 * reach, real=True) for n in values.shape)
    spectrum = sp_fft.rfft2(values, shape)
    spectrum *= _kernel_spectrum(radius_px, shape)
    full = sp_fft.irfft2(spectrum, shape)
    return full[reach:reach + values.shape[0], reach:reach + values.shape[1]]


def relative_elevation(dem: np.ndarray, pixel_m: float, diameter_m: float = 100.0) -> np.ndarray:
    """DEM minus the mean DEM inside a circle of ``diameter_m`` around each pixel
    (DARTS' "relative elevation", a topographic position index). The circular mean is
    an FFT convolution (the disk's spectrum is cached per block shape); no-data pixels
    are left out of the mean (near a gap it uses the valid part of the circle) and
    stay no-data themselves. Pixels closer than the radius to the array edge see only
    part of the circle: callers pass a window with that margin."""
    radius = diameter_m / 2.0 / pixel_m
    valid = np.isfinite(dem)
    if not valid.any():
        return np.full(dem.shape, np.nan, np.float32)
    reference = float(dem[valid].mean())  # small numbers keep the FFT sums precise
    filled = np.where(valid, dem - reference, 0.0)
    total = _disk_sum(filled, radius)
    if valid.all():
        count = _disk_sum(np.ones(dem.shape), radius)
    else:
        count = _disk_sum(valid.astype(np.float64), radius)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = (filled - total / count).astype(np.float32)
    result[~valid | (count < 0.5)] = np.nan
    return result


def slope_degrees(dem: np.ndarray, pixel_m: float) -> np.ndarray:
    """Slope in degrees by Horn's 3x3 method (as ``gdaldem slope``); NaN next to
    no-data and on the outermost rows and columns."""
    z = dem.astype(np.float64)
    out = np.full(z.shape, np.nan, np.float32)
    if min(z.shape) < 3:
        return out
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * pixel_m)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * pixel_m)
    out[1:-1, 1:-1] = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    out[np.isnan(z)] = np.nan  # Horn's stencil skips the centre pixel itself
    return out
