"""rts-volume on constructed DEM pairs: a bowl of known volume, a known shift, voids,
stable terrain missing, a feature off the DEMs, the antimeridian, and the contract's
bad inputs (CONTRACT.md section 7)."""

from __future__ import annotations

import math
from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rts_volume import PairOptions, measure_volumes
from rts_volume.dems import date_from_name, dem_date, dem_pairs, open_dem
from rts_volume.pair import headwall_retreat_m
from scipy import ndimage

from rts_core import crs as crs_tools
from tests.conftest import run_script

PIXEL_M, SIZE = 2.0, 700
RADIUS_M, DEPTH_M = 60.0, 5.0
FAST = PairOptions(variogram_samples=500)
# EPSG:6931 is equal-area: a bowl drawn in it has its analytic volume on the ground too
CRS = "EPSG:6931"


def terrain(seed: int = 1) -> np.ndarray:
    """Hilly ground (slopes of 10-30 degrees), SIZE + 60 px a side, metres."""
    rng = np.random.default_rng(seed)
    big = SIZE + 60
    return (ndimage.gaussian_filter(rng.normal(size=(big, big)), 10) * 300
            + ndimage.gaussian_filter(rng.normal(size=(big, big)), 40) * 1500 + 100)


def write_dem(path, values: np.ndarray, origin: tuple[float, float], crs: str = CRS, tags=None) -> str:
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=crs, transform=Affine(PIXEL_M, 0, origin[0], 0, -PIXEL_M, origin[1]),
                       nodata=-9999) as dst:
        dst.write(values.astype("float32"), 1)
        if tags:
            dst.update_tags(**tags)
    return str(path)


def pair(tmp_path, *, shift=(0.0, 0.0, 0.0), origin=(1_000_000.0, -1_000_000.0), crs=CRS, void=None, seed=1):
    """Two DEMs (2019, 2022) of the same hills; the later one shows the ground ``shift``
    (x, y metres) away, ``shift[2]`` higher, with a bowl (RADIUS_M, DEPTH_M) dug at the
    centre. Returns the two paths and the bowl's centre."""
    z = terrain(seed)
    rng = np.random.default_rng(seed + 10)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(float)

    def sample(dx, dy):
        return ndimage.map_coordinates(z, [rows + 30 - dy / PIXEL_M, cols + 30 + dx / PIXEL_M], order=3)

    x = origin[0] + (cols + 0.5) * PIXEL_M
    y = origin[1] - (rows + 0.5) * PIXEL_M
    centre = (origin[0] + SIZE * PIXEL_M / 2, origin[1] - SIZE * PIXEL_M / 2)
    # the bowl as the later DEM shows it: at the ground position its pixels see
    r2 = ((x + shift[0] - centre[0]) ** 2 + (y + shift[1] - centre[1]) ** 2) / RADIUS_M ** 2
    bowl = np.where(r2 < 1, -DEPTH_M * (1 - r2), 0.0)
    before = sample(0, 0) + rng.normal(0, 0.1, (SIZE, SIZE))
    after = sample(shift[0], shift[1]) + shift[2] + bowl + rng.normal(0, 0.1, (SIZE, SIZE))
    if void is not None:
        after[void] = -9999
    first = write_dem(tmp_path / "SETSM_s2s041_WV01_20190801_1020010099A56800_1020010095159800_2m_lsf_seg1_dem.tif",
                      before, origin, crs)
    second = write_dem(tmp_path / "SETSM_s2s041_WV02_20220715_1030010056A0AB00_1030010058A14500_2m_lsf_seg1_dem.tif",
                       after, origin, crs)
    return first, second, centre


def features_file(tmp_path, geometries, ids, crs=CRS, name="features.parquet"):
    path = tmp_path / name
    gpd.GeoDataFrame({"track_id": ids}, geometry=list(geometries), crs=crs).to_parquet(path)
    return path


BOWL_M3 = -math.pi * RADIUS_M ** 2 * DEPTH_M / 2  # a paraboloid holds half its cylinder


def test_bowl_volume_matches_its_analytic_value_and_shift_is_recovered(tmp_path):
    first, second, centre = pair(tmp_path, shift=(2.6, -1.4, 0.8))
    features = features_file(tmp_path, [shapely.Point(centre).buffer(RADIUS_M)], ["bowl"])
    result = measure_volumes([first, second], features, tmp_path / "out", FAST)
    volume = gpd.read_parquet(result.products["volume"])
    row = volume.iloc[0]
    assert row.feature_id == "bowl" and row.date_before == date(2019, 8, 1) and row.date_after == date(2022, 7, 15)
    assert row.volume_change_m3 == pytest.approx(BOWL_M3, rel=0.02)
    assert row.volume_loss_m3 == pytest.approx(-BOWL_M3, rel=0.05)
    assert row.dh_min_m == pytest.approx(-DEPTH_M, abs=0.4)
    assert 0 < row.volume_change_sigma_m3 < 0.05 * abs(BOWL_M3)
    assert row.coverage == pytest.approx(1.0)
    # the later DEM is moved back onto the earlier one: within 0.2 px of the truth
    assert abs(row.coreg_shift_x_m - 2.6) < 0.2 * PIXEL_M and abs(row.coreg_shift_y_m + 1.4) < 0.2 * PIXEL_M
    assert row.coreg_shift_z_m == pytest.approx(-0.8, abs=0.05)
    assert volume.crs.to_epsg() == 4326
    pairs = gpd.read_parquet(result.products["pairs"])
    assert len(pairs) == 1 and pairs.stable_area_m2.iloc[0] > 1e6 and pairs.stable_dh_nmad_m.iloc[0] < 0.3
    with rasterio.open(tmp_path / "out" / "dh_20190801_20220715.tif") as dh:
        assert dh.crs.to_string() == CRS and dh.profile["tiled"] and np.isnan(dh.nodata)
        values = dh.read(1)
    assert np.nanmedian(values) == pytest.approx(0.0, abs=0.05)


def test_without_coregistration_the_error_is_reported_much_larger(tmp_path):
    first, second, centre = pair(tmp_path, shift=(2.6, -1.4, 0.8))
    features = features_file(tmp_path, [shapely.Point(centre).buffer(RADIUS_M)], ["bowl"])
    options = PairOptions(variogram_samples=500, coregister=False)
    row = gpd.read_parquet(measure_volumes([first, second], features, tmp_path / "raw", options)
                           .products["volume"]).iloc[0]
    assert row.coreg_shift_x_m == 0 and abs(row.volume_change_m3 - BOWL_M3) > 0.2 * abs(BOWL_M3)
    assert row.volume_change_sigma_m3 > 10 * 0.01 * abs(BOWL_M3)  # the spread of raw differences shows


def test_voids_inside_a_feature_are_reported_as_coverage_not_filled_with_zero(tmp_path):
    void = np.zeros((SIZE, SIZE), bool)
    void[SIZE // 2 - 25:SIZE // 2 - 10, :] = True  # a stripe across the bowl, off its deepest part
    first, second, centre = pair(tmp_path, void=void)
    features = features_file(tmp_path, [shapely.Point(centre).buffer(RADIUS_M)], ["bowl"])
    row = gpd.read_parquet(measure_volumes([first, second], features, tmp_path / "out",
                                           PairOptions(variogram_samples=500, buffer_m=0.0)).products["volume"]).iloc[0]
    assert 0.6 < row.coverage < 0.85
    # filled with the feature's own mean: closer to the truth than filling with zero would be
    zero_filled = row.volume_change_m3 * row.coverage
    assert abs(row.volume_change_m3 - BOWL_M3) < 0.5 * abs(zero_filled - BOWL_M3)
    strict = PairOptions(variogram_samples=500, buffer_m=0.0, min_coverage=0.9)
    row = gpd.read_parquet(measure_volumes([first, second], features, tmp_path / "strict", strict)
                           .products["volume"]).iloc[0]
    assert 0.6 < row.coverage < 0.85 and np.isnan(row.volume_change_m3) and np.isnan(row.dh_mean_m)


def test_a_feature_outside_the_dems_gets_no_row_and_one_partly_outside_its_coverage(tmp_path):
    first, second, centre = pair(tmp_path)
    left = 1_000_000.0
    inside = shapely.Point(centre).buffer(RADIUS_M)
    outside = shapely.Point(left - 500, centre[1]).buffer(30)
    straddling = shapely.box(left - 40, centre[1] - 300, left + 40, centre[1] - 220)
    features = features_file(tmp_path, [inside, outside, straddling], ["bowl", "away", "edge"])
    volume = gpd.read_parquet(measure_volumes([first, second], features, tmp_path / "out",
                                              PairOptions(variogram_samples=500, buffer_m=0.0))
                              .products["volume"]).set_index("feature_id")
    assert sorted(volume.index) == ["bowl", "edge"]
    assert volume.loc["edge", "coverage"] == pytest.approx(0.5, abs=0.05)
    assert abs(volume.loc["edge", "dh_mean_m"]) < 0.2


def test_a_pair_without_stable_terrain_is_an_error_and_writes_nothing(tmp_path):
    first, second, centre = pair(tmp_path)
    everything = shapely.box(999_000, -2_000_000, 1_002_000, -999_000)
    features = features_file(tmp_path, [everything], ["all"])
    done = run_script("rts-volume", first, second, "--features", features, "-o", tmp_path / "out")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and second in errors[0] and "too little stable terrain" in errors[0]
    assert not (tmp_path / "out" / "volume.parquet").exists()
    assert not list((tmp_path / "out").glob("dh_*.tif"))


def test_antimeridian_feature_is_measured_whole_and_written_split(tmp_path):
    to_polar = Transformer.from_crs("EPSG:4326", "EPSG:3413", always_xy=True)
    x, y = to_polar.transform(180.0, 66.0)  # Chukotka / Bering Strait
    x0, y0 = round(x) - SIZE, round(y) + SIZE
    first, second, centre = pair(tmp_path, origin=(x0, y0), crs="EPSG:3413")
    bowl = shapely.Point(centre).buffer(RADIUS_M + 10)
    frame = gpd.GeoDataFrame({"track_id": ["bering"]}, geometry=[crs_tools.project(bowl, "EPSG:3413", "EPSG:6931")],
                             crs="EPSG:6931")
    split = crs_tools.to_geographic(frame)
    assert split.geometry.iloc[0].geom_type == "MultiPolygon"  # crosses 180 degrees
    split.to_parquet(tmp_path / "bering.parquet")
    row = gpd.read_parquet(measure_volumes([first, second], tmp_path / "bering.parquet", tmp_path / "out", FAST)
                           .products["volume"]).iloc[0]
    # EPSG:3413 is not equal-area: the bowl holds its planar volume times the local areal scale
    scale = frame.area.iloc[0] / bowl.area
    assert row.volume_change_m3 == pytest.approx(BOWL_M3 * scale, rel=0.03)
    west, east = sorted(shapely.get_parts(row.geometry), key=lambda part: part.bounds[0])
    assert west.bounds[0] == pytest.approx(-180.0, abs=0.01) or west.bounds[2] == pytest.approx(-180.0, abs=1e-9)
    assert {round(west.bounds[0]), round(east.bounds[2])} == {-180, 180}


def test_cli_contract_stdout_rerun_and_bad_inputs(tmp_path):
    first, second, centre = pair(tmp_path)
    undated = write_dem(tmp_path / "mosaic_tile_dem.tif", terrain()[:SIZE, :SIZE], (1_000_000.0, -1_000_000.0))
    garbage = tmp_path / "SETSM_s2s041_WV01_20230801_X_2m_lsf_seg1_dem.tif"
    garbage.write_bytes(b"not a tiff")
    features = features_file(tmp_path, [shapely.Point(centre).buffer(RADIUS_M)], ["bowl"])
    args = ["--features", features, "-o", tmp_path / "out", "--variogram-samples", 500]
    done = run_script("rts-volume", first, second, undated, garbage, *args)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [str(tmp_path / "out" / "volume.parquet")]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert any(undated in line and "no acquisition date" in line for line in errors)
    assert any(str(garbage) in line and "not a readable raster" in line for line in errors)
    volume = gpd.read_parquet(tmp_path / "out" / "volume.parquet")
    assert len(volume) == 1 and volume.volume_change_m3.iloc[0] == pytest.approx(BOWL_M3, rel=0.03)
    made = (tmp_path / "out" / "dh_20190801_20220715.tif").stat().st_mtime_ns
    again = run_script("rts-volume", first, second, *args)  # complete: skipped, path printed
    assert again.returncode == 0 and again.stdout.splitlines() == [str(tmp_path / "out" / "volume.parquet")]
    assert (tmp_path / "out" / "dh_20190801_20220715.tif").stat().st_mtime_ns == made
    # a features file that cannot be read stops the run before any DEM is touched
    missing = run_script("rts-volume", first, second, "--features", tmp_path / "nope.parquet", "-o", tmp_path / "x")
    assert missing.returncode == 2 and "nope.parquet" in missing.stderr and not (tmp_path / "x").exists()
    # geographic DEMs are refused with the reason
    geographic = write_dem(tmp_path / "SETSM_s2s041_WV01_20240801_X_dem.tif", np.ones((10, 10)), (10.0, 70.0),
                           crs="EPSG:4326")
    refused = run_script("rts-volume", first, geographic, *args)
    assert refused.returncode == 1 and "not projected in metres" in refused.stderr
    too_wide = run_script("rts-volume", first, second, "--features", features, "-o", tmp_path / "y",
                          "--buffer-m", 80)
    assert too_wide.returncode == 2 and "--buffer-m" in too_wide.stderr


def test_dates_from_arcticdem_names_and_tags(tmp_path):
    # file names of real ArcticDEM and REMA strips (PGC's open data bucket, as listed in public code)
    assert date_from_name("SETSM_s2s041_WV01_20200222_1020010099A56800_1020010095159800_2m_lsf_seg1_dem.tif") \
        == date(2020, 2, 22)
    assert date_from_name("SETSM_s2s041_W2W2_20120419_103001001200B900_1030010013639500_2m_lsf_seg1_dem.tif") \
        == date(2012, 4, 19)
    assert date_from_name("WV02_20180403_103001007A66E000_103001007A45AA00_2m_lsf_seg1_dem_aoi1.tif") \
        == date(2018, 4, 3)
    assert date_from_name("arcticdem_mosaic_34_10_2m_v4.1_dem.tif") is None
    assert date_from_name("x_20231345_20220301.tif") == date(2022, 3, 1)  # no 13th month: the next date
    path = write_dem(tmp_path / "SETSM_s2s041_WV01_20200222_X_dem.tif", np.ones((10, 10)), (0.0, 0.0),
                     tags={"RTS_ACQUIRED": "2021-07-04T10:00:00Z"})
    assert open_dem(path).acquired == date(2021, 7, 4)  # the tag wins
    with pytest.raises(Exception, match="not an ISO 8601 date"):
        dem_date(path, {"RTS_ACQUIRED": "yesterday"})


def test_pairs_all_and_consecutive(tmp_path):
    paths = [write_dem(tmp_path / f"SETSM_s2s041_WV01_{year}0801_X_dem.tif", np.ones((10, 10)), (0.0, 0.0))
             for year in (2018, 2020, 2023)]
    paths.append(write_dem(tmp_path / "SETSM_s2s041_WV01_20210801_X_dem.tif", np.ones((10, 10)), (500.0, 0.0)))
    dems = [open_dem(p) for p in paths]
    every = [(a.acquired.year, b.acquired.year) for a, b in dem_pairs(dems, "all")]
    assert every == [(2018, 2020), (2018, 2023), (2020, 2023)]  # 2021 overlaps none
    assert [(a.acquired.year, b.acquired.year) for a, b in dem_pairs(dems, "consecutive")] == [(2018, 2020),
                                                                                             (2020, 2023)]


def test_headwall_retreat_is_how_far_the_later_outline_reaches():
    earlier = shapely.box(0, 0, 100, 50)
    later = shapely.box(0, 0, 100, 62)  # the headwall (north edge) went back 12 m
    assert headwall_retreat_m(earlier, later) == pytest.approx(12.0, abs=0.01)
    assert headwall_retreat_m(later, earlier) == 0.0
    assert math.isnan(headwall_retreat_m(None, later))


def test_level2_features_keep_track_id_and_year(tmp_path):
    first, second, centre = pair(tmp_path)
    small = shapely.Point(centre).buffer(RADIUS_M - 20)
    large = shapely.Point(centre).buffer(RADIUS_M)
    level2 = tmp_path / "level2.parquet"
    gpd.GeoDataFrame({"track_id": ["T1", "T1"], "year": [2019, 2022]}, geometry=[small, large],
                     crs=CRS).to_parquet(level2)
    volume = gpd.read_parquet(measure_volumes([first, second], level2, tmp_path / "out", FAST).products["volume"])
    assert list(volume.feature_id) == ["T1", "T1"] and sorted(volume.year) == [2019, 2022]
    assert volume.headwall_retreat_m.tolist() == pytest.approx([20.0, 20.0], abs=0.5)
    by_year = volume.set_index("year")
    assert by_year.loc[2022, "volume_change_m3"] == pytest.approx(BOWL_M3, rel=0.03)
    assert by_year.loc[2019, "volume_change_m3"] > by_year.loc[2022, "volume_change_m3"]  # holds less of the bowl


def test_fit_grid_read_is_the_full_resolution_sampled_at_every_step(tmp_path):
    """The fit grid is read through GDAL's warper as point samples: the values equal a
    full-resolution warp sampled every ``step``-th pixel, for the earlier DEM (nearest)
    and for the later one moved by a sub-pixel shift (bilinear), voids included."""
    from rasterio.enums import Resampling
    from rts_volume import coregistration as co
    from rts_volume.pair import pair_grid

    void = (slice(100, 130), slice(200, 260))
    first, second, _ = pair(tmp_path, shift=(3.3, -1.7, 0.0), void=void)
    before, after = open_dem(first), open_dem(second)
    grid, _, _ = pair_grid(before, after)
    step = 3
    fit = grid.decimated(step)
    with rasterio.open(first) as src_before, rasterio.open(second) as src_after:
        for src, dem, resampling, shift in ((src_before, before, Resampling.nearest, (0.0, 0.0)),
                                             (src_after, after, Resampling.bilinear, (1.3, -0.7))):
            points = co.read_on_grid(src, dem, fit, *shift, resampling=resampling)
            full = co.read_on_grid(src, dem, grid, *shift, resampling=resampling)
            sampled = full[step // 2::step, step // 2::step][:fit.height, :fit.width]
            assert points.shape == sampled.shape == (SIZE // step, SIZE // step)
            assert np.array_equal(np.isnan(points), np.isnan(sampled))
            assert np.nanmax(np.abs(points - sampled)) < 1e-4
        assert np.isnan(points).sum() > 100  # the void came through as NaN


def test_slope_at_pixels_and_ramp_on_a_grid_equal_their_full_forms():
    from rts_volume import coregistration as co
    from xdem.fit import polynomial_2d

    rng = np.random.default_rng(3)
    elevation = rng.normal(size=(60, 70)).cumsum(axis=0).astype(np.float32)
    elevation[5, 7] = np.nan
    full = co.slope_deg(elevation, 2.0, 3)
    rows, cols = np.nonzero(rng.random(full.shape) > 0.5)
    assert np.array_equal(full[rows, cols], co.slope_deg_at(elevation, 2.0, 3, rows, cols), equal_nan=True)
    assert np.isnan(full).any() and np.nanmax(full) > 10

    fitted = co.Coregistration(shift_z_m=0.3, ramp_params=(0.1, 2e-3, -3e-3, 1e-6), step=3)
    cols, rows = np.arange(0, 50, 7), np.arange(5, 40, 3)
    grid_cols, grid_rows = np.meshgrid(cols, rows)
    expected = 0.3 + polynomial_2d(((grid_cols + 0.5 - 1.5) / 3, (grid_rows + 0.5 - 1.5) / 3), *fitted.ramp_params)
    assert fitted.vertical_m(cols, rows).shape == (len(rows), len(cols))
    assert np.allclose(fitted.vertical_m(cols, rows), expected, atol=1e-5)
    assert np.ptp(expected) > 0.01
