import itertools

import numpy as np

from rts_prep.terrain import disk_kernel, relative_elevation, slope_degrees
from rts_prep.udm2 import valid_from_udm2


def grid(n=201, pixel=2.0):
    coords = (np.arange(n) - n // 2) * pixel
    return np.meshgrid(coords, coords)  # x, y


def test_disk_kernel_is_a_disk():
    kernel = disk_kernel(25)
    assert kernel.shape == (51, 51)
    assert kernel[25, 0] == 1 and kernel[0, 0] == 0
    assert abs(kernel.sum() - np.pi * 25**2) / (np.pi * 25**2) < 0.01


def test_plane_has_zero_relative_elevation_and_its_slope():
    x, y = grid()
    dem = 50 + 0.1 * x - 0.05 * y
    inner = (slice(30, -30), slice(30, -30))
    # float32 arithmetic: within 1e-4 m and 1e-4 degree, 1 % of what the stack stores
    assert np.abs(relative_elevation(dem, 2.0, 100.0)[inner]).max() < 1e-4
    expected = np.degrees(np.arctan(np.hypot(0.1, 0.05)))
    np.testing.assert_allclose(slope_degrees(dem, 2.0)[inner], expected, atol=1e-4)


def test_bowl_relative_elevation_is_minus_a_r2_over_2():
    x, y = grid()
    a = 0.0016
    dem = 10 + a * (x**2 + y**2)
    rel = relative_elevation(dem, 2.0, 100.0)
    # the mean of a r^2 over a disk of radius R about any point is a (r^2 + R^2 / 2)
    np.testing.assert_allclose(rel[40:-40, 40:-40], -a * 50**2 / 2, atol=0.05)


def brute_force_relative_elevation(dem, radius_px):
    """DEM minus the mean of the valid pixels of the disk (clipped to the array)."""
    kernel = disk_kernel(radius_px).astype(bool)
    reach = kernel.shape[0] // 2
    padded = np.pad(dem, reach, constant_values=np.nan)
    out = np.full(dem.shape, np.nan)
    for row, col in itertools.product(range(dem.shape[0]), range(dem.shape[1])):
        around = padded[row:row + 2 * reach + 1, col:col + 2 * reach + 1][kernel]
        if np.isfinite(dem[row, col]):
            out[row, col] = dem[row, col] - np.nanmean(around)
    return out


def test_relative_elevation_near_edges_and_gaps_matches_brute_force():
    rng = np.random.default_rng(4)
    dem = 300 + np.cumsum(rng.normal(0, 1, (41, 37)), axis=1)  # rough terrain, 300 m up
    expected = brute_force_relative_elevation(dem, 6.5)
    np.testing.assert_allclose(relative_elevation(dem, 2.0, 26.0), expected, atol=1e-4)
    dem[10:14, 20:30] = np.nan
    dem[0, 0] = np.nan
    expected = brute_force_relative_elevation(dem, 6.5)
    got = relative_elevation(dem, 2.0, 26.0)
    assert np.array_equal(np.isnan(got), np.isnan(dem))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_nodata_stays_nodata_and_is_left_out_of_the_mean():
    x, y = grid(101)
    dem = 20 + 0.0 * x
    dem[50, 50] = np.nan
    rel = relative_elevation(dem, 2.0, 60.0)
    assert np.isnan(rel[50, 50])
    assert abs(rel[50, 52]) < 1e-9  # a gap counted as 0 m would pull the mean down
    slope = slope_degrees(dem, 2.0)
    assert np.isnan(slope[49:52, 49:52]).all() and np.isfinite(slope[45, 45])


def test_udm2_rules_bit_by_bit():
    # every combination of the eight bands being 0 or 1 (confidence set apart)
    for bits in itertools.product([0, 1], repeat=7):
        clear, snow, shadow, light, heavy, cloud, unusable = bits
        udm2 = np.array([clear, snow, shadow, light, heavy, cloud, 50, unusable], np.uint8).reshape(8, 1, 1)
        darts = clear == 1 and unusable == 0 and not (snow or shadow or heavy or cloud)
        assert valid_from_udm2(udm2)[0, 0] == darts, bits
        kept = (clear == 1 or light == 1) and unusable == 0 and not (snow or shadow or heavy or cloud)
        assert valid_from_udm2(udm2, keep_light_haze=True)[0, 0] == kept, bits
    # unusable is a bit field (blackfill, cloud, ... bits): any non-zero value is unusable
    udm2 = np.array([1, 0, 0, 0, 0, 0, 90, 4], np.uint8).reshape(8, 1, 1)
    assert not valid_from_udm2(udm2)[0, 0]
