"""The one threshold rule (CONTRACT.md section 3) that rts-ensemble, rts-validate and
rts-train share: p >= threshold, tested at exactly 0.5 in each representation a
probability takes (stored x 0.01, a float32 mean, a sigmoid)."""

import numpy as np
from scipy.special import expit

from rts_core.metrics import confusion, is_rts, thresholds_reached


def test_exactly_the_threshold_is_rts_in_every_representation():
    assert is_rts(np.uint8(50) * 0.01, 0.5)
    assert is_rts(np.float32(0.5), 0.5)
    assert is_rts(np.float32((np.float32(0.49) + np.float32(0.51)) / 2), 0.5)  # a mean of two models
    assert is_rts(expit(0.0), 0.5)  # rts-train: logit 0
    assert not is_rts(np.uint8(49) * 0.01, 0.5)


def test_the_sweep_counts_what_the_rule_says():
    thresholds = np.array([0.3, 0.5, 0.7])
    p = np.array([0.29, 0.3, 0.5, 0.69, 0.7, 0.9])
    reached = thresholds_reached(p, thresholds)
    np.testing.assert_array_equal(reached, [0, 1, 2, 2, 3, 3])
    for k, threshold in enumerate(thresholds, start=1):
        np.testing.assert_array_equal(reached >= k, is_rts(p, threshold))


def test_confusion_counts_only_valid_pixels():
    predicted = np.array([True, True, False, False, True])
    truth = np.array([True, False, True, False, True])
    valid = np.array([True, True, True, True, False])
    assert confusion(predicted, truth, valid).tolist() == [1, 1, 1, 1]
    assert confusion(predicted, truth).tolist() == [2, 1, 1, 1]


def test_outer_window_snaps_outward_grows_and_clips():
    """rts_core.raster.outer_window, the one window-from-bounds rule of rts-prep's
    readers and auxiliary rasters and rts-train's label windows."""
    from rasterio import Affine

    from rts_core.raster import outer_window

    transform = Affine(10, 0, 0, 0, -10, 1000)  # 10 m pixels, origin (0, 1000)
    window = outer_window((15, 945, 42, 989), transform)  # cols 1.5-4.2, rows 1.1-5.5
    assert (window.col_off, window.row_off, window.width, window.height) == (1, 1, 4, 5)
    grown = outer_window((15, 945, 42, 989), transform, margin_px=2, shape=(6, 100))
    assert (grown.col_off, grown.row_off, grown.width, grown.height) == (0, 0, 7, 6)  # clipped at 0 and row 6
    edges = outer_window((10, 950, 40, 990), transform, tolerance=1e-6)  # on pixel edges: no extra pixel
    assert (edges.col_off, edges.row_off, edges.width, edges.height) == (1, 1, 3, 4)
    assert outer_window((2000, 0, 2100, 10), transform, shape=(100, 100)) is None
