"""One DEM pair: co-register, model the error, difference window by window, and sum
per feature. Memory follows the fit grid (at most ``max_fit_px`` pixels) and one window,
not the DEMs' size."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio import features as rio_features
from rasterio.windows import Window

from rts_core import raster
from rts_core.log import scene_items

from . import coregistration as co
from .dems import Dem, overlap_bounds
from .features import Features, overlap_layers
from .measure import FeatureSums, feature_figures
from .uncertainty import ErrorModel, fit_error_model

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
    with rasterio.open(before.path) as src_before, rasterio.open(after.path) as src_after:
        def read_after(shift_x_m: float, shift_y_m: float) -> np.ndarray:
            with co.later_on_grid(src_after, after, grid, shift_x_m, shift_y_m) as vrt:
                return co.sampled(lambda w: co.valid_elevation(vrt.read(1, window=w), None), grid.height,
                                  grid.width, step)

        def read_earlier(block: Window) -> np.ndarray:
            return co.read_before(src_before, Window(window.col_off + block.col_off, window.row_off + block.row_off,
                                                     block.width, block.height), before.nodata)

        before_fit = co.sampled(read_earlier, grid.height, grid.width, step)
        after_fit = read_after(0.0, 0.0)
        slope_fit = co.padded_slope_deg(before_fit, fit_grid.pixel_m)
        unstable = list(polygons) + list(water)
        stable = co.stable_terrain(before_fit, after_fit, slope_fit, fit_grid, unstable, options.rules)
        coregistration, dh_fit = co.coregister(before_fit, after_fit, read_after, stable, fit_grid,
                                               deramp=options.deramp, rules=options.rules, step=step,
                                               seed=options.seed, enabled=options.coregister)
        spread = options.rules.outlier_nmads * coregistration.nmad_m
        stable &= np.abs(dh_fit - coregistration.median_m) <= spread  # unmapped change is no error
        model = fit_error_model(dh_fit, slope_fit, stable, fit_grid.transform, fit_grid.crs,
                                samples=options.variogram_samples, seed=options.seed)
        del before_fit, after_fit, slope_fit, stable, dh_fit
        sums = _difference(src_before, src_after, before, after, grid, window, step, coregistration, model,
                           measured_in_grid[chosen], options, write_dh)
    expected_pixels = shapely.area(measured_in_grid[chosen]) / grid.pixel_m ** 2
    figures = feature_figures(sums, measured.area_m2[chosen], expected_pixels, model, options.min_coverage)
    figures["measured_area_m2"] = measured.area_m2[chosen]
    figures.insert(0, "feature", chosen)
    return PairResult(figures, coregistration, model, shapely.box(*bounds), coregistration.vertical_at_centre_m(grid))


def _difference(src_before, src_after, before: Dem, after: Dem, grid: co.Grid, window: Window, step: int,
                coregistration: co.Coregistration, model: ErrorModel, polygons: np.ndarray, options: PairOptions,
                write_dh) -> FeatureSums:
    """Corrected dh over ``grid`` window by window, summed per feature (labels 1..n in
    the order of ``polygons``)."""
    sums = FeatureSums.zeros(len(polygons))
    layers = overlap_layers(polygons) if len(polygons) else []
    tree = shapely.STRtree(polygons)
    halo = step  # slopes are taken ``step`` pixels apart, as on the fit grid
    windows = list(raster.block_windows(grid.height, grid.width, options.window_px))
    with co.later_on_grid(src_after, after, grid, coregistration.shift_x_m, coregistration.shift_y_m) as vrt:
        for block in scene_items(windows, "differencing", unit="window"):
            padded = Window(window.col_off + block.col_off - halo, window.row_off + block.row_off - halo,
                            block.width + 2 * halo, block.height + 2 * halo)
            earlier = co.read_before(src_before, padded, before.nodata)
            later = co.valid_elevation(vrt.read(1, window=block), None)
            cols = np.arange(block.col_off, block.col_off + block.width)[None, :]
            rows = np.arange(block.row_off, block.row_off + block.height)[:, None]
            dh = later + coregistration.vertical_m(cols, rows) - earlier[halo:-halo, halo:-halo]
            if write_dh is not None:
                write_dh(dh, block)
            if not len(polygons):
                continue
            transform = rasterio.windows.transform(block, grid.transform)
            near = tree.query(shapely.box(*rasterio.windows.bounds(block, grid.transform)))
            if not len(near):
                continue
            sigma = model.sigma_dh(co.slope_deg(earlier, grid.pixel_m, halo))
            for layer in layers:
                members = np.intersect1d(layer, near, assume_unique=False)
                if not len(members):
                    continue
                labels = rio_features.rasterize(zip(polygons[members], members + 1, strict=True),
                                                out_shape=dh.shape, transform=transform, dtype="int32")
                sums.add(labels, dh, sigma)
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
