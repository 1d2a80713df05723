"""One DEM pair: co-register, model the error, difference window by window, and sum
per feature. Memory follows the fit grid (at most ``max_fit_px`` pixels) and one window,
not the DEMs' size."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio import features as rio_features
from rasterio.enums import Resampling
from rasterio.windows import Window

from rts_core import raster
from rts_core.log import scene_items
from rts_core.parallel import PerThreadDataset, ordered_map

from . import coregistration as co
from .dems import Dem, overlap_bounds
from .features import Features, overlap_layers
from .measure import FeatureSums, feature_figures
from .uncertainty import ErrorModel, fit_correlation, fit_slope_errors

log = logging.getLogger(__name__)

WINDOW_PX = 2048


@dataclass(frozen=True)
class PairOptions:
    """How a pair is measured (rts-volume's options)."""

    rules: co.StableTerrainRules = field(default_factory=co.StableTerrainRules)
    coregister: bool = True
    deramp: bool = True
    max_fit_px: int = co.MAX_FIT_PX
    min_coverage: float = 0.5
    buffer_m: float = 10.0  # features are measured within their outline grown by this much
    variogram_samples: int = 2000
    window_px: int = WINDOW_PX
    seed: int = 0


@dataclass
class PairResult:
    """The figures of the features a pair covers (one row each, in feature order, with
    ``feature`` the index into the features) and the pair's own record."""

    figures: pd.DataFrame
    coregistration: co.Coregistration
    error_model: ErrorModel
    overlap: shapely.Geometry  # the pair's grid box, in the earlier DEM's CRS
    vertical_shift_m: float  # the vertical correction (shift and ramp) at the grid's centre


def covered_features(before: Dem, after: Dem, features: Features) -> np.ndarray:
    """Indices of the features that intersect both DEMs' common extent."""
    bounds = overlap_bounds(before, after)
    if bounds is None or not len(features):
        return np.array([], dtype=int)
    polygons = features.in_crs(before.crs)
    return np.flatnonzero(shapely.intersects(polygons, shapely.box(*bounds)))


def pair_grid(before: Dem, after: Dem) -> tuple[co.Grid, Window, tuple[float, float, float, float]]:
    """The grid a pair is measured and written on (the earlier DEM's pixels the later one
    covers), its window of the earlier DEM, and the common bounds."""
    bounds = overlap_bounds(before, after)
    if bounds is None:
        raise co.CoregistrationError("the two DEMs do not overlap")
    grid, window = co.overlap_grid(before, bounds)
    if grid.width < 3 or grid.height < 3:
        raise co.CoregistrationError("the two DEMs overlap by less than 3 pixels")
    return grid, window, bounds


def measure_pair(before: Dem, after: Dem, features: Features, options: PairOptions = PairOptions(), *,
                 water=(), write_dh: Callable[[np.ndarray, Window], None] | None = None) -> PairResult:
    """Measure every feature the pair covers. ``water``: polygons in the earlier DEM's CRS
    kept out of stable terrain. ``write_dh(dh, window)`` receives each window of
    corrected dh on :func:`pair_grid`'s grid."""
    grid, window, bounds = pair_grid(before, after)
    polygons = features.in_crs(grid.crs)
    measured = features.buffered(options.buffer_m)
    measured_in_grid = measured.in_crs(grid.crs)
    chosen = covered_features(before, after, features)
    step = co.fit_step(grid, options.max_fit_px)
    fit_grid = grid.decimated(step)
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(before.path) as src_before, \
            rasterio.open(after.path) as src_after:  # threads decode a read's tiles
        def read_after(shift_x_m: float, shift_y_m: float) -> np.ndarray:
            return co.read_on_grid(src_after, after, fit_grid, shift_x_m, shift_y_m)

        before_fit = co.read_on_grid(src_before, before, fit_grid, resampling=Resampling.nearest)
        after_fit = read_after(0.0, 0.0)
        slope_fit = co.padded_slope_deg(before_fit, fit_grid.pixel_m)
        unstable = list(polygons) + list(water)
        stable = co.stable_terrain(before_fit, after_fit, slope_fit, fit_grid, unstable, options.rules)
        coregistration, dh_fit = co.coregister(before_fit, after_fit, read_after, stable, fit_grid,
                                               deramp=options.deramp, rules=options.rules, step=step,
                                               seed=options.seed, enabled=options.coregister)
        spread = options.rules.outlier_nmads * coregistration.nmad_m
        stable &= np.abs(dh_fit - coregistration.median_m) <= spread  # unmapped change is no error
        model = fit_slope_errors(dh_fit, slope_fit, stable, seed=options.seed)
        del before_fit, after_fit
    # the variogram (seconds, fixed per pair) runs beside the differencing, which needs only
    # the per-pixel sigmas; the features' errors wait for both
    with ThreadPoolExecutor(1, thread_name_prefix="variogram") as pool:
        correlation = pool.submit(fit_correlation, model, dh_fit, slope_fit, stable, fit_grid.transform,
                                  fit_grid.crs, samples=options.variogram_samples, seed=options.seed)
        sums = _difference(before, after, grid, window, step, coregistration, model, measured_in_grid[chosen],
                           options, write_dh)
        model = correlation.result()
    del dh_fit, slope_fit, stable
    expected_pixels = shapely.area(measured_in_grid[chosen]) / grid.pixel_m ** 2
    figures = feature_figures(sums, measured.area_m2[chosen], expected_pixels, model, options.min_coverage)
    figures["measured_area_m2"] = measured.area_m2[chosen]
    figures.insert(0, "feature", chosen)
    return PairResult(figures, coregistration, model, shapely.box(*bounds), coregistration.vertical_at_centre_m(grid))


DIFFERENCE_THREADS = 2


def _difference(before: Dem, after: Dem, grid: co.Grid, window: Window, step: int,
                coregistration: co.Coregistration, model: ErrorModel, polygons: np.ndarray, options: PairOptions,
                write_dh) -> FeatureSums:
    """Corrected dh over ``grid`` window by window, summed per feature (labels 1..n in
    the order of ``polygons``). Windows are computed on threads (each with its own
    datasets); they are written and summed here, in order."""
    sums = FeatureSums.zeros(len(polygons))
    layers = overlap_layers(polygons) if len(polygons) else []
    tree = shapely.STRtree(polygons)
    halo = step  # slopes are taken ``step`` pixels apart, as on the fit grid
    windows = list(raster.block_windows(grid.height, grid.width, options.window_px))
    earlier_source = PerThreadDataset(before.path)

    def open_later():
        src = rasterio.open(after.path)
        return src, co.on_grid(src, after, grid, coregistration.shift_x_m, coregistration.shift_y_m)

    def close_later(opened) -> None:
        opened[1].close()
        opened[0].close()

    later_source = PerThreadDataset(after.path, opener=open_later, closer=close_later)

    def one_window(block: Window):
        padded = Window(window.col_off + block.col_off - halo, window.row_off + block.row_off - halo,
                        block.width + 2 * halo, block.height + 2 * halo)
        earlier = co.read_before(earlier_source.get(), padded, before.nodata)
        later = co.valid_elevation(later_source.get()[1].read(1, window=block), None)
        cols = np.arange(block.col_off, block.col_off + block.width)
        rows = np.arange(block.row_off, block.row_off + block.height)
        dh = later + coregistration.vertical_m(cols, rows) - earlier[halo:-halo, halo:-halo]
        near = tree.query(shapely.box(*rasterio.windows.bounds(block, grid.transform))) if len(polygons) else []
        if not len(near):
            return block, dh, None, []
        transform = rasterio.windows.transform(block, grid.transform)
        labelled = []
        for layer in layers:
            members = np.intersect1d(layer, near, assume_unique=False)
            if len(members):
                labelled.append(rio_features.rasterize(zip(polygons[members], members + 1, strict=True),
                                                       out_shape=dh.shape, transform=transform, dtype="int32"))
        rows, cols = np.nonzero(np.logical_or.reduce([labels > 0 for labels in labelled]))
        sigma = np.full(dh.shape, np.nan, dtype=np.float32)  # needed under the features only
        sigma[rows, cols] = model.sigma_dh(co.slope_deg_at(earlier, grid.pixel_m, halo, rows, cols))
        return block, dh, sigma, labelled

    try:
        computed = ordered_map(one_window, windows, workers=DIFFERENCE_THREADS)
        for block, dh, sigma, labelled in scene_items(computed, "differencing", total=len(windows), unit="window"):
            if write_dh is not None:
                write_dh(dh, block)
            for labels in labelled:
                sums.add(labels, dh, sigma)
    finally:
        earlier_source.close()
        later_source.close()
    return sums


def headwall_retreat_m(earlier: shapely.Geometry, later: shapely.Geometry, spacing_m: float = 1.0) -> float:
    """How far the later outline reaches beyond the earlier one: the largest distance from
    a point of the later boundary to the earlier polygon (0 when it lies inside). A
    slump grows by retreat of its headwall, so this is the headwall's retreat."""
    if earlier is None or later is None or earlier.is_empty or later.is_empty:
        return math.nan
    boundary = shapely.segmentize(later.boundary, spacing_m)
    points = shapely.points(shapely.get_coordinates(boundary))
    return float(shapely.distance(points, earlier).max())
