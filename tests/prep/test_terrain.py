import itertools

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.warp import transform as transform_coords
from scipy.ndimage import distance_transform_cdt

from rts_prep.resample import Patch, resample
from rts_prep.terrain import disk_kernel, relative_elevation, slope_degrees
from rts_prep.udm2 import valid_from_udm2

from . import builders


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
    assert np.abs(relative_elevation(dem, 2.0, radius_m=50.0)[inner]).max() < 1e-4
    expected = np.degrees(np.arctan(np.hypot(0.1, 0.05)))
    np.testing.assert_allclose(slope_degrees(dem, 2.0)[inner], expected, atol=1e-4)


def test_bowl_relative_elevation_is_minus_a_r2_over_2():
    x, y = grid()
    a = 0.0016
    dem = 10 + a * (x**2 + y**2)
    rel = relative_elevation(dem, 2.0, radius_m=50.0)
    # the mean of a r^2 over a disk of radius R about any point is a (r^2 + R^2 / 2)
    np.testing.assert_allclose(rel[40:-40, 40:-40], -a * 50**2 / 2, atol=0.05)


def test_the_default_window_is_a_circle_of_100_m_radius():
    """The DARTS code's window (ee.Kernel.circle takes a radius; nextgen's TPI an outer
    radius): on a bowl a r², a circle of radius R gives -a R² / 2 everywhere inside."""
    x, y = grid(301)
    a = 0.0016
    dem = 10 + a * (x**2 + y**2)
    rel = relative_elevation(dem, 2.0)
    np.testing.assert_allclose(rel[60:-60, 60:-60], -a * 100**2 / 2, atol=0.05)  # 8 m; a 100 m diameter: 2 m


def test_four_neighbour_slope_is_earth_engines_central_differences():
    x, y = grid(41)
    dem = 50 + 0.1 * x - 0.05 * y
    inner = (slice(1, -1), slice(1, -1))
    expected = np.degrees(np.arctan(np.hypot(0.1, 0.05)))
    np.testing.assert_allclose(slope_degrees(dem, 2.0, "four_neighbour")[inner], expected, atol=1e-4)
    rough = 300 + np.cumsum(np.random.default_rng(1).normal(0, 1, (41, 37)), axis=0)
    dzdy, dzdx = np.gradient(rough, 2.0)  # central differences inside
    central = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    got = slope_degrees(rough, 2.0, "four_neighbour")
    np.testing.assert_allclose(got[inner], central[inner], atol=1e-3)
    assert np.isnan(got[0]).all() and np.isnan(got[:, -1]).all()
    assert np.abs(slope_degrees(rough, 2.0)[inner] - got[inner]).max() > 0.5  # Horn smooths: not the same
    with pytest.raises(ValueError, match="unknown slope method"):
        slope_degrees(rough, 2.0, "sobel")


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
    np.testing.assert_allclose(relative_elevation(dem, 2.0, radius_m=13.0), expected, atol=1e-4)
    dem[10:14, 20:30] = np.nan
    dem[0, 0] = np.nan
    expected = brute_force_relative_elevation(dem, 6.5)
    got = relative_elevation(dem, 2.0, radius_m=13.0)
    assert np.array_equal(np.isnan(got), np.isnan(dem))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_nodata_stays_nodata_and_is_left_out_of_the_mean():
    x, y = grid(101)
    dem = 20 + 0.0 * x
    dem[50, 50] = np.nan
    rel = relative_elevation(dem, 2.0, radius_m=30.0)
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


@pytest.mark.parametrize("resampling", [Resampling.cubic, Resampling.nearest])
@pytest.mark.parametrize("clipped", [False, True])
def test_resample_is_gdals_and_no_data_where_the_kernel_reads_a_gap(resampling, clipped):
    """The fast path (no-data as a stand-in value, bands one by one) gives GDAL's values
    with no-data wherever it gives a value, and no-data exactly where the kernel (3 DEM
    pixels at 2 m -> 3 m) reaches a gap or past the patch (``clipped``: the patch ends
    inside the block, as at a DEM edge); GDAL keeps a thin rim there, we do not."""
    rng = np.random.default_rng(3)
    x, y = grid(300)
    values = np.stack([40 + 0.05 * x + np.sin(y / 17.0) * 3, rng.normal(5, 2, x.shape)]).astype(np.float32)
    values[:, 120:135, 140:150] = np.nan  # a gap in both bands
    values[1, 200:204, 60:63] = np.nan  # and one in the second band only
    origin = transform_coords(builders.SCENE_CRS, "EPSG:3413", [builders.SCENE_ORIGIN[0] + 150],
                              [builders.SCENE_ORIGIN[1] - 150])
    patch_transform = Affine(2.0, 0, origin[0][0] - 300, 0, -2.0, origin[1][0] + 300)
    if clipped:
        values = values[:, :, :200]
    patch = Patch(values, patch_transform, CRS.from_epsg(3413))
    shape, block_transform = (100, 100), builders.scene_transform()
    got = resample(patch, 2, shape, block_transform, CRS.from_user_input(builders.SCENE_CRS), resampling)
    gdal = np.full((2, *shape), np.nan, np.float32)
    reproject(values, gdal, src_transform=patch_transform, src_crs="EPSG:3413", src_nodata=np.nan,
              dst_transform=block_transform, dst_crs=builders.SCENE_CRS, dst_nodata=np.nan,
              resampling=resampling, XSCALE="0.666666667", YSCALE="0.666666667")
    valid = np.isfinite(got)
    assert (np.isfinite(gdal) | ~valid).all()  # a value only where GDAL gives one
    np.testing.assert_array_equal(got[valid], gdal[valid])
    # where each block pixel falls in the patch, and how far (in whole DEM pixels) the
    # nearest gap or patch edge is from there
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    xs, ys = transform_coords(builders.SCENE_CRS, "EPSG:3413", *(block_transform @ (cols.ravel(), rows.ravel())))
    source_cols, source_rows = ~patch_transform @ (np.array(xs), np.array(ys))
    framed = np.pad(np.isfinite(values), ((0, 0), (8, 8), (8, 8)))  # outside the patch counts as a gap
    for band in range(2):
        gap_distance = distance_transform_cdt(framed[band], metric="chessboard")
        at_row = np.clip(np.floor(source_rows).astype(int) + 8, 0, framed.shape[1] - 1)
        at_col = np.clip(np.floor(source_cols).astype(int) + 8, 0, framed.shape[2] - 1)
        at = gap_distance[at_row, at_col].reshape(shape)
        # the kernel's taps are the source pixels within its radius (0.5 px for nearest,
        # 3 for cubic here) of that point: surely within 0 / 2 pixels, never beyond 0 / 3
        sure, never = (0, 1) if resampling == Resampling.nearest else (2, 4)
        assert not valid[band][at <= sure].any() and valid[band][at >= never].all()
    assert valid.sum() > 10_000 and (~valid).sum() > 100
