"""Per-feature sums over elevation-change windows, and the figures made from them.

Each window of dh (later minus earlier, NaN = void) is labelled with feature numbers
(1-based; one label raster per layer of non-overlapping features) and summed with
``np.bincount``: no per-pixel Python. From the sums:

- ``coverage``: the share of the feature's area with a valid dh (voids and parts
  outside either DEM are not covered);
- ``dh_mean_m``: the mean over the valid pixels; ``dh_min_m``: the largest lowering;
- ``volume_change_m3`` = dh_mean_m x area_m2 (equal-area): voids are filled with the
  feature's own mean, never with zero;
- lowered pixels are those whose dh is below -2 sigma_dh of their slope (lowered beyond
  the noise at 95 %): ``area_loss_m2`` is their share of the valid area times area_m2,
  ``volume_loss_m3`` their lowering, scaled the same way;
- ``volume_change_sigma_m3``: the mean's error times the area (rts_volume.uncertainty),
  and where voids were filled, the fill's own error in quadrature: the unmeasured part
  may differ from the measured mean by one standard deviation of dh within the feature.
Features whose coverage is under ``min_coverage`` keep their coverage and get no figures (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .uncertainty import ErrorModel

SIGNIFICANT_SIGMAS = 2.0


@dataclass
class FeatureSums:
    """Running sums per feature (index 0 unused: label 0 is no feature)."""

    n_valid: np.ndarray
    sum_dh: np.ndarray
    sum_dh2: np.ndarray
    sum_sigma: np.ndarray
    n_lowered: np.ndarray
    sum_lowered_dh: np.ndarray
    min_dh: np.ndarray

    @classmethod
    def zeros(cls, n_features: int) -> FeatureSums:
        size = n_features + 1
        return cls(np.zeros(size, np.int64), np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size, np.int64),
                   np.zeros(size), np.full(size, np.inf))

    def add(self, labels: np.ndarray, dh: np.ndarray, sigma: np.ndarray) -> None:
        """Add one window: ``labels`` (0 = none, else feature index + 1), ``dh`` and
        per-pixel ``sigma`` (m) of the same shape."""
        use = (labels > 0) & np.isfinite(dh)
        if not use.any():
            return
        label, value, error = labels[use], dh[use].astype(float), sigma[use].astype(float)
        size = len(self.n_valid)
        self.n_valid += np.bincount(label, minlength=size)
        self.sum_dh += np.bincount(label, value, minlength=size)
        self.sum_dh2 += np.bincount(label, value * value, minlength=size)
        self.sum_sigma += np.bincount(label, error, minlength=size)
        lowered = value < -SIGNIFICANT_SIGMAS * error
        self.n_lowered += np.bincount(label[lowered], minlength=size)
        self.sum_lowered_dh += np.bincount(label[lowered], value[lowered], minlength=size)
        np.minimum.at(self.min_dh, label, value)


def feature_figures(sums: FeatureSums, area_m2: np.ndarray, expected_pixels: np.ndarray, model: ErrorModel,
                    min_coverage: float = 0.5) -> pd.DataFrame:
    """The contract's figures per feature (module docstring). ``area_m2``: equal-area
    areas; ``expected_pixels``: each feature's area in pixels of the grid's CRS, the
    measure coverage is taken in (a polar stereographic pixel is not a square metre of
    ground)."""
    n = sums.n_valid[1:].astype(float)
    area = np.asarray(area_m2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = np.clip(n / np.asarray(expected_pixels, dtype=float), 0.0, 1.0)
        mean = sums.sum_dh[1:] / n
        spread = np.sqrt(np.maximum(sums.sum_dh2[1:] / n - mean * mean, 0.0))
        share_lowered = sums.n_lowered[1:] / n
        mean_sigma = sums.sum_sigma[1:] / n
        sigma_mean = model.sigma_mean_dh(mean_sigma, area * coverage, n)
        sigma_volume = np.hypot(sigma_mean * area, spread * (1.0 - coverage) * area)
        figures = pd.DataFrame({
            "dh_mean_m": mean,
            "dh_min_m": np.where(n > 0, sums.min_dh[1:], np.nan),
            "volume_change_m3": mean * area,
            "volume_loss_m3": -sums.sum_lowered_dh[1:] / n * area,
            "volume_change_sigma_m3": sigma_volume,
            "area_loss_m2": share_lowered * area,
            "coverage": np.nan_to_num(coverage, nan=0.0),
        })
    measured = (n > 0) & (coverage >= min_coverage)
    figures.loc[~measured, [c for c in figures.columns if c != "coverage"]] = np.nan
    return figures
