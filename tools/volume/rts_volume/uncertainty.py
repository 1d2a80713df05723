"""The uncertainty of elevation change as Hugonnet et al. (2022) compute it, with xdem.

After co-registration, elevation differences on stable terrain should be zero; what they
are instead is the error of the pair. Two things about it matter for a feature's mean:

- **Heteroscedasticity.** The error grows with slope (stereo matching on steep ground is
  worse). The spread of stable differences (NMAD) is binned by slope with xdem's
  ``nd_binning`` and interpolated (``interp_nd_binning``): sigma_dh(slope), per pixel.
- **Spatial correlation.** Neighbouring errors are alike (the DEMs' own smoothing, jitter
  of the satellite), so averaging N pixels does not divide the error by sqrt(N). The
  differences divided by sigma_dh are fitted with a sum of a short- and a long-range
  variogram (xdem's ``infer_spatial_correlation_from_stable``); the number of effective
  samples N_eff in a feature's area follows from it (xdem's ``number_effective_samples``,
  Rolstad et al. 2009 generalised).

The 1-sigma error of a feature's mean elevation change is then mean(sigma_dh over the
feature) / sqrt(N_eff(area)), and of its volume change that times its area.

**Checked on stable terrain.** The variogram's long range is the hard part to fit: on
the demo world, with correlated noise of about 150 m, fits put its sill at 0.04-0.17 of
the variance where 0.3 was true, and the 1-sigma covered 44 % of the true errors. So
the standard error of the mean is also measured directly, as the patches method of
Hugonnet et al. (2022) does: the standardised differences are averaged over hundreds
of random squares of stable terrain of each area, and the NMAD of those means is the
empirical standard error for that area. A feature's error is the larger of the two.
Squares are summed from integral images (xdem's ``patches_method`` took 14 s on
2 Mpx and gave no value for areas above 1 ha here).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from affine import Affine

from .coregistration import CoregistrationError, quiet_xdem

log = logging.getLogger(__name__)

SLOPE_BINS_DEG = np.array([0, 2, 4, 6, 8, 10, 12, 15, 18, 21, 25, 30, 35, 40, 50, 90], dtype=float)
MIN_BIN_COUNT = 100
VARIOGRAM_MODELS = ("Spherical", "Spherical")  # short range (the DEMs' smoothing), long range (jitter, tilt)
# The empirical variogram is the mean of this many, each from its own random sample: one sample
# of 2000 pixels put the long range anywhere from 130 m to 1.8 km on the same world (three pairs).
VARIOGRAM_REPEATS = 5
# The statistics take samples, not every stable pixel: slope classes are binned from at most
# BINNING_SAMPLES random pixels (NMAD per class moves by under 1 % at 500 k), and the variogram
# runs on every k-th pixel so that its grid holds at most VARIOGRAM_MAX_PX: xdem's ring
# sampling builds masks of the whole grid, which took 21 s of a 64 Mpx pair on 16 Mpx.
# Lags then start at k pixels; the patches method below still measures the short range.
BINNING_SAMPLES = 500_000
VARIOGRAM_MAX_PX = 1_000_000
NEFF_PER_DECADE = 4  # N_eff is computed at this many areas per decade of the features' areas, and interpolated


@dataclass
class ErrorModel:
    """sigma_dh by slope, and the variogram of standardised differences."""

    slope_deg: np.ndarray  # bin centres
    sigma_m: np.ndarray  # NMAD per bin
    variogram: pd.DataFrame  # xdem's params_variogram_model: model, range, psill
    patch_area_m2: np.ndarray = field(default_factory=lambda: np.empty(0))  # the patches' areas
    patch_error: np.ndarray = field(default_factory=lambda: np.empty(0))  # NMAD of their standardised means

    def sigma_dh(self, slope_deg: np.ndarray) -> np.ndarray:
        """Per-pixel 1-sigma error (m) at the given slopes (clamped to the binned range)."""
        return np.interp(np.nan_to_num(slope_deg, nan=0.0), self.slope_deg, self.sigma_m).astype(np.float32)

    def effective_samples(self, area_m2: np.ndarray) -> np.ndarray:
        """N_eff (at least 1) in areas of ``area_m2`` (m²): xdem's integral over a disk of
        that area, computed on a log-spaced table spanning the areas (it takes 0.1 s a
        call) and interpolated in log-log, where it is smooth."""
        import xdem

        area = np.maximum(np.nan_to_num(np.asarray(area_m2, dtype=float), nan=1.0), 1.0)
        if not area.size:
            return area
        low, high = np.log10(area.min()), np.log10(area.max())
        table = np.logspace(low, high, max(2, int(np.ceil((high - low) * NEFF_PER_DECADE)) + 1))
        with quiet_xdem():
            neff = np.array([xdem.spatialstats.number_effective_samples(float(a), self.variogram) for a in table])
        neff = np.maximum(neff, 1.0)
        return np.exp(np.interp(np.log(area), np.log(table), np.log(neff)))

    def standard_error(self, area_m2: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """The standard error of a mean of standardised differences over ``area_m2`` (m²)
        holding ``pixels`` valid pixels: 1/sqrt(N_eff) of the variogram (N_eff at most the
        pixels), or the patches' measured value where larger (module docstring; beyond
        the largest patch, that patch's value scaled as 1/sqrt(area), as for independent
        blocks)."""
        area = np.asarray(area_m2, dtype=float)
        error = 1.0 / np.sqrt(np.minimum(self.effective_samples(area), np.maximum(pixels, 1.0)))
        if len(self.patch_area_m2):
            low, high = self.patch_area_m2[0], self.patch_area_m2[-1]
            clipped = np.clip(np.nan_to_num(area, nan=low), low, high)
            measured = np.exp(np.interp(np.log(clipped), np.log(self.patch_area_m2), np.log(self.patch_error)))
            measured = measured * np.sqrt(clipped / np.maximum(np.nan_to_num(area, nan=low), clipped))
            error = np.maximum(error, measured)
        return error

    def sigma_mean_dh(self, mean_sigma_m: np.ndarray, area_m2: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """1-sigma error of the mean elevation change over areas of ``area_m2`` (m²) whose
        ``pixels`` valid pixels have mean sigma_dh ``mean_sigma_m``."""
        return np.asarray(mean_sigma_m, dtype=float) * self.standard_error(area_m2, pixels)

    def describe(self) -> dict:
        ranges = [float(r) for r in self.variogram["range"]]
        sills = [float(s) for s in self.variogram["psill"]]
        return {"sigma_flat_m": float(self.sigma_m[0]), "sigma_steep_m": float(self.sigma_m[-1]),
                "variogram_ranges_m": ranges, "variogram_sills": sills,
                "patch_areas_m2": [float(a) for a in self.patch_area_m2],
                "patch_standard_errors": [float(e) for e in self.patch_error]}


def fit_slope_errors(dh: np.ndarray, slope_deg: np.ndarray, stable: np.ndarray, *, seed: int = 0) -> ErrorModel:
    """sigma_dh by slope over ``stable`` (an ErrorModel without its correlation yet,
    enough for per-pixel sigmas)."""
    import xdem

    use = _usable(dh, slope_deg, stable)
    if use.sum() < 10 * MIN_BIN_COUNT:
        raise CoregistrationError(f"too few stable pixels ({int(use.sum())}) to estimate the error")
    binning = np.flatnonzero(use)
    if binning.size > BINNING_SAMPLES:
        binning = np.sort(np.random.default_rng(seed).choice(binning, BINNING_SAMPLES, replace=False))
    with quiet_xdem():
        binned = xdem.spatialstats.nd_binning(dh.flat[binning].astype(float), [slope_deg.flat[binning].astype(float)],
                                              ["slope"], statistics=[xdem.spatialstats.nmad, "count"],
                                              list_var_bins=[SLOPE_BINS_DEG])
    binned = binned[np.isfinite(binned["nmad"]) & (binned["count"] >= MIN_BIN_COUNT)]
    if binned.empty:
        raise CoregistrationError("no slope class has enough stable pixels to estimate the error")
    centres = np.array([interval.mid for interval in binned["slope"]], dtype=float)
    order = np.argsort(centres)
    centres, sigma = centres[order], binned["nmad"].to_numpy(dtype=float)[order]
    sigma = np.maximum.accumulate(sigma)  # never less error on steeper ground (noisy sparse bins)
    return ErrorModel(centres, sigma, pd.DataFrame())


def fit_correlation(model: ErrorModel, dh: np.ndarray, slope_deg: np.ndarray, stable: np.ndarray, transform, crs,
                    *, samples: int = 2000, seed: int = 0) -> ErrorModel:
    """``model`` with its variogram and patches, from the differences standardised by its
    sigma_dh (a new model: the per-pixel sigmas of ``model`` may be in use meanwhile,
    as the pair is differenced)."""
    import geoutils
    import xdem

    use = _usable(dh, slope_deg, stable)
    standardised = np.where(use, dh / model.sigma_dh(slope_deg), np.nan).astype(np.float32)
    k = max(1, math.ceil(math.sqrt(standardised.size / VARIOGRAM_MAX_PX)))
    sampled = standardised[::k, ::k]
    with quiet_xdem():
        raster = geoutils.Raster.from_array(np.where(np.isfinite(sampled), sampled, -9999.0),
                                            transform=transform @ Affine.scale(k), crs=crs, nodata=-9999.0)
        try:
            _, params, _ = xdem.spatialstats.infer_spatial_correlation_from_stable(
                raster, list(VARIOGRAM_MODELS), stable_mask=np.isfinite(sampled), subsample=samples,
                subsample_method="pdist_ring", n_variograms=VARIOGRAM_REPEATS, random_state=seed)
        except Exception as exc:  # noqa: BLE001 - skgstat and scipy's curve fit raise many kinds
            # the patches' measured standard errors still hold: the variogram adds nothing then
            log.warning("the variogram of stable terrain could not be fitted (%s): the error of a mean is the "
                        "patches method's alone", " ".join(str(exc).split())[:120])
            params = pd.DataFrame({"model": ["spherical"], "range": [abs(transform.a)], "psill": [1.0]})
    patch_area_m2, patch_error = patch_standard_errors(standardised, abs(transform.a), seed=seed)
    return replace(model, variogram=params, patch_area_m2=patch_area_m2, patch_error=patch_error)


def _usable(dh: np.ndarray, slope_deg: np.ndarray, stable: np.ndarray) -> np.ndarray:
    return stable & np.isfinite(dh) & np.isfinite(slope_deg)


PATCH_AREAS_M2 = np.geomspace(100.0, 1e6, 13)
PATCHES, MIN_VALID_SHARE = 400, 0.8


def patch_standard_errors(standardised: np.ndarray, pixel_m: float, *, seed: int = 0,
                          areas_m2: np.ndarray = PATCH_AREAS_M2) -> tuple[np.ndarray, np.ndarray]:
    """(areas, NMAD of patch means): for each area, up to PATCHES random squares of that
    area (rounded to whole pixels) with at least 80 % valid pixels of ``standardised``
    (NaN off stable terrain), averaged through integral images. Areas too large for
    enough squares are left out."""
    from .coregistration import nmad

    valid = np.isfinite(standardised)
    sums = np.zeros((standardised.shape[0] + 1, standardised.shape[1] + 1))
    counts = np.zeros_like(sums)
    sums[1:, 1:] = np.cumsum(np.cumsum(np.where(valid, standardised, 0.0), axis=0), axis=1)
    counts[1:, 1:] = np.cumsum(np.cumsum(valid, axis=0), axis=1)
    rng = np.random.default_rng(seed)
    found_areas, errors = [], []
    for side in sorted({max(1, round(np.sqrt(a) / pixel_m)) for a in areas_m2}):
        if side >= min(standardised.shape):
            break
        rows = rng.integers(0, standardised.shape[0] - side + 1, 20 * PATCHES)
        cols = rng.integers(0, standardised.shape[1] - side + 1, 20 * PATCHES)

        count = _square_sums(counts, rows, cols, side)
        keep = count >= MIN_VALID_SHARE * side * side
        if keep.sum() < PATCHES // 4:
            break
        means = (_square_sums(sums, rows, cols, side)[keep] / count[keep])[:PATCHES]
        found_areas.append(side * side * pixel_m * pixel_m)
        errors.append(nmad(means))
    return np.array(found_areas), np.array(errors)


def _square_sums(table: np.ndarray, rows: np.ndarray, cols: np.ndarray, side: int) -> np.ndarray:
    """Sums over the squares of ``side`` pixels at (``rows``, ``cols``) from an integral image."""
    return table[rows + side, cols + side] - table[rows, cols + side] - table[rows + side, cols] + table[rows, cols]
