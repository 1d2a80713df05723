"""Co-registration of a later DEM onto an earlier one on stable terrain, with xdem.

ArcticDEM strips are not co-registered with each other: shifts of metres, horizontal
and vertical, and a small tilt are normal, and they dwarf a slump's elevation change.
They are estimated on *stable terrain* (:func:`stable_terrain`): ground outside every
known feature (all years, with a buffer), outside water, valid in both DEMs, on slopes
under a limit. The estimate is xdem's Nuth & Kaab (2011) fit (horizontal and vertical
shift, iterated on the slope/aspect relation of the elevation differences), followed by
xdem's ``Deramp`` (a first-order 2-D polynomial in the fit grid's pixel coordinates)
where asked.

The fit runs on a *fit grid*: the overlap of the two DEMs, sampled every ``step``-th
pixel (odd, so that each sample is a pixel centre of the full grid: an even step would
sample the earlier DEM half a pixel away from the later one and bias the shift) so that
it holds at most ``max_fit_px`` pixels. The shifts then apply to the full grid, window
by window (rts_volume.volume).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import rasterio
from affine import Affine
from numpy.polynomial.polynomial import polygrid2d
from rasterio import features as rio_features
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from rts_core.errors import InputError

from .dems import Dem

log = logging.getLogger(__name__)

VALID_ELEVATION_M = (-500.0, 9000.0)  # anything outside is a fill value, whatever the nodata tag says
MAX_FIT_PX = 16_000_000
MAX_SHIFT_M = 100.0  # a fit beyond this did not converge on anything physical


@contextlib.contextmanager
def quiet_xdem():
    """xdem prints its iterations to standard output (tqdm's ``write``) whenever the root
    logger is at INFO; standard output carries only paths here (CONTRACT.md section 1),
    so the root logger is held at WARNING while xdem works. Its warnings are ours to judge."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


class CoregistrationError(InputError):
    """A pair that cannot be co-registered: the contract's error for that pair."""


@dataclass(frozen=True)
class StableTerrainRules:
    """What counts as stable terrain, and when there is too little of it or it is too rough."""

    feature_buffer_m: float = 50.0
    max_slope_deg: float = 35.0
    min_area_m2: float = 250_000.0
    max_nmad_m: float = 3.0
    outlier_nmads: float = 4.0  # after the fit: stable pixels further from the median are unmapped change


@dataclass
class Grid:
    """A north-up grid in a DEM's CRS: the overlap of a pair (full resolution) or its fit grid."""

    crs: object
    transform: Affine
    width: int
    height: int

    @property
    def pixel_m(self) -> float:
        return abs(self.transform.a)

    def decimated(self, step: int) -> Grid:
        return Grid(self.crs, self.transform @ Affine.scale(step), self.width // step, self.height // step)


def overlap_grid(before: Dem, bounds: tuple[float, float, float, float]) -> tuple[Grid, Window]:
    """The earlier DEM's pixels inside ``bounds`` (its CRS): the grid every pair's
    product is on, and the window of the earlier DEM it is."""
    with rasterio.open(before.path) as src:
        window = rasterio.windows.from_bounds(*bounds, transform=src.transform)
        window = window.round_offsets(op="ceil").round_lengths(op="floor")
        window = window.intersection(Window(0, 0, src.width, src.height))
        transform = src.window_transform(window)
    return Grid(before.crs, transform, int(window.width), int(window.height)), window


def fit_step(grid: Grid, max_fit_px: int = MAX_FIT_PX) -> int:
    """The odd sampling step that keeps the fit grid within ``max_fit_px`` pixels."""
    step = max(1, math.ceil(math.sqrt(grid.width * grid.height / max_fit_px)))
    return step if step % 2 else step + 1


def valid_elevation(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """float32 metres with every invalid pixel NaN (nodata, NaN, inf, beyond Earth's relief)."""
    values = np.asarray(values, dtype=np.float32)
    bad = ~np.isfinite(values) | (values < VALID_ELEVATION_M[0]) | (values > VALID_ELEVATION_M[1])
    if nodata is not None and np.isfinite(nodata):
        bad |= values == np.float32(nodata)
    return np.where(bad, np.float32(np.nan), values)


def read_before(src, window: Window, nodata: float | None = None) -> np.ndarray:
    """The earlier DEM over ``window`` (parts beyond the raster are NaN). A boundless read
    (through a VRT, several times slower) only where the window crosses the edge."""
    inside = (window.col_off >= 0 and window.row_off >= 0 and window.col_off + window.width <= src.width
              and window.row_off + window.height <= src.height)
    if inside:
        return valid_elevation(src.read(1, window=window), nodata)
    values = src.read(1, window=window, boundless=True, fill_value=np.nan if nodata is None else nodata,
                      masked=True)
    return valid_elevation(np.ma.filled(values.astype(np.float32), np.nan), nodata)


def on_grid(src, dem: Dem, grid: Grid, shift_x_m: float = 0.0, shift_y_m: float = 0.0,
            resampling: Resampling = Resampling.bilinear) -> WarpedVRT:
    """``dem`` (open as ``src``), moved by a horizontal shift, interpolated at the pixel
    centres of ``grid``. On a fit grid (pixels ``step`` times larger) this is still a
    point interpolation, not an average: GDAL's warper would widen its kernel by the
    step (``XSCALE``/``YSCALE`` = 1 keep it), and a decimated read would take a COG's
    averaged overviews, neither pixel centres nor aligned with the other DEM. The
    values equal a full-resolution read sampled every ``step``-th pixel (checked to
    2e-6 m), at a tenth of its time."""
    moved = Affine.translation(shift_x_m, shift_y_m) @ dem.transform
    return WarpedVRT(src, src_crs=dem.crs, src_transform=moved, crs=grid.crs, transform=grid.transform,
                     width=grid.width, height=grid.height, resampling=resampling, src_nodata=dem.nodata,
                     nodata=np.nan, dtype="float32", XSCALE=1, YSCALE=1)


def read_on_grid(src, dem: Dem, grid: Grid, shift_x_m: float = 0.0, shift_y_m: float = 0.0,
                 resampling: Resampling = Resampling.bilinear) -> np.ndarray:
    """:func:`on_grid` read whole, every invalid value NaN."""
    with on_grid(src, dem, grid, shift_x_m, shift_y_m, resampling) as vrt:
        return valid_elevation(vrt.read(1), None)


def slope_deg(elevation: np.ndarray, pixel_m: float, offset: int = 1) -> np.ndarray:
    """Slope in degrees by central differences ``offset`` pixels apart, for the pixels at
    least ``offset`` from the border (the array less that margin; NaN at voids). The
    full grid takes differences ``step`` pixels apart, so that its slopes are those of
    the fit grid the error model was binned on."""
    o = offset
    d_row = elevation[2 * o:, o:-o] - elevation[:-2 * o, o:-o]
    d_col = elevation[o:-o, 2 * o:] - elevation[o:-o, :-2 * o]
    return _slope_from_differences(d_row, d_col, 2 * o * pixel_m)


def slope_deg_at(elevation: np.ndarray, pixel_m: float, offset: int, rows: np.ndarray,
                 cols: np.ndarray) -> np.ndarray:
    """:func:`slope_deg` at its pixels (``rows``, ``cols``) only (1-D, same values):
    features cover a few percent of a DEM, and the arctangent is the costly part."""
    o = offset
    d_row = elevation[rows + 2 * o, cols + o] - elevation[rows, cols + o]
    d_col = elevation[rows + o, cols + 2 * o] - elevation[rows + o, cols]
    return _slope_from_differences(d_row, d_col, 2 * o * pixel_m)


def _slope_from_differences(d_row: np.ndarray, d_col: np.ndarray, distance_m: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arctan(np.hypot(d_row / distance_m, d_col / distance_m))).astype(np.float32)


def padded_slope_deg(elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    """:func:`slope_deg` of neighbours one pixel apart, NaN on the border (same shape)."""
    slope = np.full(elevation.shape, np.nan, dtype=np.float32)
    slope[1:-1, 1:-1] = slope_deg(elevation, pixel_m)
    return slope


def stable_terrain(before: np.ndarray, after: np.ndarray, slope: np.ndarray, grid: Grid, unstable,
                   rules: StableTerrainRules) -> np.ndarray:
    """Pixels of the fit grid on stable terrain (module docstring). ``unstable``: polygons
    in the grid's CRS (every feature, water), buffered here by ``rules.feature_buffer_m``."""
    stable = np.isfinite(before) & np.isfinite(after) & (slope < rules.max_slope_deg)
    shapes = [g for g in unstable if g is not None and not g.is_empty]
    if shapes:
        buffered = [g.buffer(rules.feature_buffer_m) for g in shapes]
        burnt = rio_features.rasterize(((g, 1) for g in buffered), out_shape=(grid.height, grid.width),
                                       transform=grid.transform, all_touched=True, dtype="uint8")
        stable &= burnt == 0
    return stable


def nmad(values: np.ndarray) -> float:
    """Normalised median absolute deviation, the robust spread of elevation differences
    (as xdem.spatialstats.nmad, without its masked-array detour: 20 times faster here)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


@dataclass
class Coregistration:
    """The correction of the later DEM: a horizontal shift (applied to its georeference),
    a vertical shift and, optionally, a ramp in the fit grid's pixel coordinates."""

    shift_x_m: float = 0.0
    shift_y_m: float = 0.0
    shift_z_m: float = 0.0  # Nuth & Kaab's vertical shift; the ramp comes on top
    ramp_params: tuple[float, ...] | None = None
    step: int = 1
    stable_area_m2: float = 0.0
    nmad_before_m: float = float("nan")  # stable terrain, before any correction
    nmad_m: float = float("nan")  # after
    median_m: float = float("nan")  # after (0 when the fit worked)
    notes: list[str] = field(default_factory=list)

    def vertical_m(self, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The vertical correction added at the full-grid pixels of the 1-D indices
        ``rows`` x ``cols`` (shape rows x cols): the vertical shift plus the ramp, the
        polynomial of xdem's ``polynomial_2d`` (numpy's ``polyval2d`` of its parameters)
        evaluated on that grid with ``polygrid2d``, at the fit-grid coordinates of the
        pixel centres."""
        cols, rows = np.atleast_1d(cols).astype(float), np.atleast_1d(rows).astype(float)
        correction = np.full((rows.size, cols.size), self.shift_z_m, dtype=np.float32)
        if self.ramp_params is None:
            return correction
        order = math.isqrt(len(self.ramp_params))
        coefficients = np.asarray(self.ramp_params, dtype=float).reshape(order, order)  # c[i, j] x**i y**j
        fit_cols = (cols + 0.5 - self.step / 2) / self.step
        fit_rows = (rows + 0.5 - self.step / 2) / self.step
        return correction + polygrid2d(fit_rows, fit_cols, coefficients.T).astype(np.float32)

    def vertical_at_centre_m(self, grid: Grid) -> float:
        return float(self.vertical_m(np.array(grid.width / 2 - 0.5), np.array(grid.height / 2 - 0.5))[0, 0])


def coregister(before: np.ndarray, after: np.ndarray, read_after, stable: np.ndarray, grid: Grid, *,
               deramp: bool = True,
               rules: StableTerrainRules = StableTerrainRules(), step: int = 1, seed: int = 0,
               enabled: bool = True) -> tuple[Coregistration, np.ndarray]:
    """Fit the correction of the later DEM ``after`` onto ``before`` (both on ``grid``,
    NaN = void) on ``stable`` pixels. ``read_after(shift_x_m, shift_y_m)`` gives the
    later DEM on ``grid`` moved by a horizontal shift. Returns the correction and the corrected
    elevation differences on ``grid`` (later minus earlier). Raises
    :class:`CoregistrationError` when stable terrain is too small, the fit fails or runs
    away, or the result is too rough."""
    area_m2 = float(stable.sum()) * grid.pixel_m ** 2
    if area_m2 < rules.min_area_m2:
        raise CoregistrationError(f"too little stable terrain to co-register: {area_m2 / 1e6:.3f} km2 valid in both "
                                  f"DEMs, off the features and under {rules.max_slope_deg:g} degrees of slope "
                                  f"(at least {rules.min_area_m2 / 1e6:g} km2 needed)")
    result = Coregistration(step=step, stable_area_m2=area_m2, nmad_before_m=nmad((after - before)[stable]))
    if enabled:
        result.shift_x_m, result.shift_y_m, result.shift_z_m = _nuth_kaab(before, after, stable, grid, seed)
        if result.shift_x_m or result.shift_y_m:
            after = read_after(result.shift_x_m, result.shift_y_m)
        if deramp:
            result.ramp_params = _ramp(before, after + np.float32(result.shift_z_m), stable, grid, seed)
    cols, rows = np.arange(grid.width) * step + step // 2, np.arange(grid.height) * step + step // 2
    dh = after + result.vertical_m(cols, rows) - before
    residual = dh[stable & np.isfinite(dh)]
    result.nmad_m = nmad(residual) if residual.size else float("nan")
    result.median_m = float(np.median(residual)) if residual.size else float("nan")
    if not math.isfinite(result.nmad_m) or result.nmad_m > rules.max_nmad_m:
        raise CoregistrationError(f"stable terrain too rough after co-registration: elevation differences spread "
                                  f"{result.nmad_m:.2f} m (NMAD; at most {rules.max_nmad_m:g} m)")
    return result, dh


def _nuth_kaab(before, after, stable, grid: Grid, seed: int) -> tuple[float, float, float]:
    import xdem

    with quiet_xdem():
        try:
            fit = xdem.coreg.NuthKaab()
            fit.fit(before, after, inlier_mask=stable, transform=grid.transform, crs=grid.crs, area_or_point="Area",
                    random_state=seed)
            shifts = fit.meta["outputs"]["affine"]
            x, y, z = float(shifts["shift_x"]), float(shifts["shift_y"]), float(shifts["shift_z"])
        except Exception as exc:  # noqa: BLE001 - xdem raises many kinds on degenerate terrain
            raise CoregistrationError(f"the Nuth & Kaab fit failed ({' '.join(str(exc).split())[:160]})") from None
    if not all(map(math.isfinite, (x, y, z))) or math.hypot(x, y) > MAX_SHIFT_M or abs(z) > MAX_SHIFT_M:
        raise CoregistrationError(f"the Nuth & Kaab fit ran away (shift {x:.1f}, {y:.1f}, {z:.1f} m)")
    return x, y, z


def _ramp(before, aligned, stable, grid: Grid, seed: int) -> tuple[float, ...]:
    import xdem

    with quiet_xdem():
        try:
            fit = xdem.coreg.Deramp(poly_order=1)
            fit.fit(before, aligned, inlier_mask=stable & np.isfinite(aligned), transform=grid.transform,
                    crs=grid.crs, area_or_point="Area", random_state=seed)
            params = tuple(float(v) for v in fit.meta["outputs"]["fitorbin"]["fit_params"])
        except Exception as exc:  # noqa: BLE001
            raise CoregistrationError(f"the deramp fit failed ({' '.join(str(exc).split())[:160]})") from None
    if not all(map(math.isfinite, params)):
        raise CoregistrationError("the deramp fit gave no finite ramp")
    return params
