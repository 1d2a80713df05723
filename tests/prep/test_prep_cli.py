"""rts-prep end to end on small scenes with known content."""

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio import warp

from rts_core import contract
from tests.conftest import BIN, run_script
from tests.prep import builders
from tests.prep.builders import SCENE_ID, write_dem, write_landcover, write_scene, write_tcvis

PLANE_GRADIENT = (0.12, -0.07)  # dz/dx, dz/dy in EPSG:3413 metres
BOWL_A = 0.0016  # z = a r^2 around the bowl centre: relative elevation -a R^2 / 2 (-2 m for R = 50 m)


def physical(path: Path) -> tuple[dict, np.ndarray]:
    with rasterio.open(path) as dataset:
        stored = dataset.read().astype(np.float64)
        scale = np.array(dataset.scales)[:, None, None]
        offset = np.array(dataset.offsets)[:, None, None]
        valid = dataset.dataset_mask() > 0
        return dict(zip(dataset.descriptions, stored * scale + offset, strict=True)), valid


@pytest.fixture
def inputs(tmp_path):
    scene = write_scene(tmp_path / "scenes" / SCENE_ID)
    gx, gy = PLANE_GRADIENT
    plane = write_dem(tmp_path / "plane.tif", lambda x, y: 200 + gx * (x - x.mean()) + gy * (y - y.mean()))
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    return tmp_path, scene, plane, tcvis


def prep(*args):
    return run_script("rts-prep", *args)


def test_stack_is_aligned_named_tagged_and_exact(inputs):
    root, scene, plane, tcvis = inputs
    out = root / "stacks"
    done = prep(scene.parent, "--dem", plane, "--tcvis", tcvis, "-o", out)
    assert done.returncode == 0, done.stderr
    stack = out / f"{SCENE_ID}.stack.tif"
    assert done.stdout.splitlines() == [str(stack)]
    with rasterio.open(scene) as sr, rasterio.open(stack) as dataset:
        assert dataset.crs == sr.crs and dataset.transform == sr.transform and dataset.shape == sr.shape
        assert dataset.descriptions == contract.STACK_BANDS
        tags = dataset.tags()
        assert tags["RTS_SCENE_ID"] == SCENE_ID
        assert tags["RTS_ACQUIRED"] == "2022-07-14T20:15:30.123456Z"  # from the metadata JSON
        assert tags["RTS_SENSOR"] == "PlanetScope" and tags["RTS_VERSION"].startswith("rts-prep ")
        assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        dn = sr.read().astype(np.float64)
    bands, valid = physical(stack)
    assert valid.all()
    np.testing.assert_array_equal(np.round(bands["red"] * 10000), dn[2])  # reflectance exact
    ndvi = (dn[3] - dn[2]) / (dn[3] + dn[2])
    assert np.abs(bands["ndvi"] - ndvi).max() <= 0.5e-4 + 1e-12  # exact to the stored 1e-4
    for name, value in zip(contract.TCVIS_BANDS, (128, 100, 160), strict=True):
        assert (bands[name] == value).all()
    inner = (slice(10, -10), slice(10, -10))
    expected_slope = np.degrees(np.arctan(np.hypot(*PLANE_GRADIENT)))
    assert np.abs(bands["slope"][inner] - expected_slope).max() < 0.5
    assert np.abs(bands["relative_elevation"][inner]).max() < 0.2


def preprocessing_record(stack: Path) -> dict:
    with rasterio.open(stack) as dataset:
        return json.loads(dataset.tags()[contract.TAG_PREPROCESSING])


def test_stacks_record_what_models_depend_on(inputs):
    root, scene, plane, tcvis = inputs
    done = prep(scene, "--dem", plane, "--tcvis", tcvis, "-o", root / "default")
    assert done.returncode == 0, done.stderr
    assert preprocessing_record(root / "default" / f"{SCENE_ID}.stack.tif") == {
        "tpi_radius_m": 100.0, "slope_method": "horn", "terrain_resampling": "cubic",
        "validity_rule": "udm2_darts_v1", "sensor": "PlanetScope", "pixel_size_m": 3.0}
    done = prep(scene, "--dem", plane, "--tcvis", tcvis, "--tpi-radius", 30, "--slope-method", "four_neighbour",
                "--keep-light-haze", "-o", root / "other")
    assert done.returncode == 0, done.stderr
    record = preprocessing_record(root / "other" / f"{SCENE_ID}.stack.tif")
    assert (record["tpi_radius_m"], record["slope_method"], record["validity_rule"]) == (
        30.0, "four_neighbour", "udm2_darts_v1_light_haze")
    bands, _ = physical(root / "other" / f"{SCENE_ID}.stack.tif")
    expected_slope = np.degrees(np.arctan(np.hypot(*PLANE_GRADIENT)))  # a plane: both operators agree
    assert np.abs(bands["slope"][10:-10, 10:-10] - expected_slope).max() < 0.5


def test_bowl_of_known_depth_and_tilted_plane(tmp_path):
    scene = write_scene(tmp_path / SCENE_ID)
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    _, xs, ys = builders.dem_grid()
    cx, cy = xs.mean(), ys.mean()
    bowl = write_dem(tmp_path / "bowl.tif", lambda x, y: 100 + BOWL_A * ((x - cx) ** 2 + (y - cy) ** 2))
    done = prep(scene, "--dem", bowl, "--tcvis", tcvis, "--tpi-radius", 50, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    bands, valid = physical(tmp_path / "out" / f"{SCENE_ID}.stack.tif")
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(bands["relative_elevation"][inner] - (-BOWL_A * 50**2 / 2)).max() < 0.2
    # the default window, as in the DARTS code: a circle of 100 m radius
    done = prep(scene, "--dem", bowl, "--tcvis", tcvis, "-o", tmp_path / "default")
    assert done.returncode == 0, done.stderr
    default, _ = physical(tmp_path / "default" / f"{SCENE_ID}.stack.tif")
    assert np.abs(default["relative_elevation"][inner] - (-BOWL_A * 100**2 / 2)).max() < 0.2
    # slope of the bowl: atan(2 a r) at each scene pixel's distance from the centre
    with rasterio.open(scene) as sr:
        rows, cols = np.mgrid[0:sr.height, 0:sr.width]
        x, y = sr.xy(rows.ravel(), cols.ravel())
        px, py = warp.transform(sr.crs, "EPSG:3413", x, y)
    r = np.hypot(np.array(px) - cx, np.array(py) - cy).reshape(rows.shape)
    expected = np.degrees(np.arctan(2 * BOWL_A * r))
    assert np.abs(bands["slope"][inner] - expected[inner]).max() < 0.5


def test_udm2_dem_gaps_and_sr_nodata_make_pixels_invalid(tmp_path):
    rows, cols = 200, 240
    udm2 = np.zeros((8, rows, cols), np.uint8)
    udm2[0] = 1
    stripes = {1: 10, 2: 20, 3: 30, 4: 40, 5: 50}  # snow, shadow, light haze, heavy haze, cloud rows
    for band, row in stripes.items():
        udm2[band, row:row + 5] = 1
        udm2[0, row:row + 5] = 0
    udm2[7, 60:65] = 1  # unusable
    udm2[0, 70:75] = 0  # not clear, no other flag
    dn = np.random.default_rng(2).integers(100, 4000, size=(4, rows, cols)).astype(np.uint16)
    dn[:, 80:85] = 0  # SR no-data
    scene = write_scene(tmp_path / SCENE_ID, dn=dn, udm2=udm2)
    _, xs, ys = builders.dem_grid()
    gap_x = xs.mean()
    dem = write_dem(tmp_path / "dem.tif", lambda x, y: 50 + 0 * x + 0 * y,
                    holes=lambda x, y: (np.abs(x - gap_x) < 30) & (np.abs(y - ys.mean()) < 30))
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    for keep, out in ((False, "strict"), (True, "haze")):
        args = [scene, "--dem", dem, "--tcvis", tcvis, "-o", tmp_path / out] + (["--keep-light-haze"] if keep else [])
        assert prep(*args).returncode == 0
        _, valid = physical(tmp_path / out / f"{SCENE_ID}.stack.tif")
        row_valid = valid[:, :60].all(axis=1)  # left part, away from the DEM gap
        for band, row in stripes.items():
            expected = keep and band == 3
            assert row_valid[row:row + 5].all() == expected, (band, keep)
        assert not valid[60:65].any() and not valid[70:75].any() and not valid[80:85].any()
        assert valid[100:110, :60].all()
        assert not valid.all(axis=0).all() and not valid[90:110, 100:140].all()  # the DEM gap
        with rasterio.open(tmp_path / out / f"{SCENE_ID}.stack.tif") as dataset:
            assert (dataset.read(1)[~valid] == -32768).all()


def test_water_band_from_landcover_in_another_crs(inputs):
    root, scene, plane, tcvis = inputs
    landcover = write_landcover(root / "lc.tif", water_rows=3, nodata_cols=30)
    done = prep(scene, "--dem", plane, "--tcvis", tcvis, "--landcover", landcover, "-o", root / "out")
    assert done.returncode == 0, done.stderr
    bands, _ = physical(root / "out" / f"{SCENE_ID}.stack.tif")
    water = bands["water"]
    assert (water[:9] == 1).all() and (water[12:, :100] == 0).all()  # 30 m of water at the top
    assert (water[:, -5:] == 1).all()  # land-cover no-data counts as water


def test_eight_band_scene_by_band_descriptions_and_orthotile_name(inputs):
    root, _, plane, tcvis = inputs
    names = ["coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir"]
    dn = np.stack([np.full((50, 60), 1000 * (i + 1), np.uint16) for i in range(8)])
    scene_id = "4764314_1760817_2021-07-20_2416"
    sr = write_scene(root / "ortho", size=(50, 60), dn=dn, descriptions=names, scene_id=scene_id,
                     suffix="_BGRN_SR.tif", acquired="not a time")
    done = prep(sr, "--dem", plane, "--tcvis", tcvis, "-o", root / "out")
    assert done.returncode == 0, done.stderr
    bands, _ = physical(root / "out" / f"{scene_id}.stack.tif")
    assert (bands["blue"] == 0.2).all() and (bands["green"] == 0.4).all()
    assert (bands["red"] == 0.6).all() and (bands["nir"] == 0.8).all()
    with rasterio.open(root / "out" / f"{scene_id}.stack.tif") as dataset:
        assert dataset.tags()["RTS_ACQUIRED"] == "2021-07-20T00:00:00Z"  # metadata unusable: from the id
    assert "properties.acquired" in done.stderr


def test_block_seams_do_not_show(inputs):
    root, scene, plane, tcvis = inputs
    for block in (64, 1024):
        assert prep(scene, "--dem", plane, "--tcvis", tcvis, "--block", block, "-o", root / str(block)).returncode == 0
    with rasterio.open(root / "64" / f"{SCENE_ID}.stack.tif") as a, \
            rasterio.open(root / "1024" / f"{SCENE_ID}.stack.tif") as b:
        assert np.abs(a.read().astype(int) - b.read().astype(int)).max() <= 1  # one stored step


def test_geographic_dem_is_seen_in_metres_on_two_threads(tmp_path):
    """A DEM in EPSG:4326 is read through a warped view in the scene's CRS (one per
    thread): the plane's slope and zero relative elevation come out as from EPSG:3413."""
    scene = write_scene(tmp_path / SCENE_ID)
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    _, xs, ys = builders.dem_grid()
    gx, gy = PLANE_GRADIENT
    dem = builders.write_geographic_dem(tmp_path / "dem4326.tif",
                                        lambda x, y: 200 + gx * (x - xs.mean()) + gy * (y - ys.mean()))
    done = prep(scene, "--dem", dem, "--tcvis", tcvis, "--block", 64, "--threads", 2, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    bands, valid = physical(tmp_path / "out" / f"{SCENE_ID}.stack.tif")
    inner = (slice(10, -10), slice(10, -10))
    assert valid[inner].all()
    expected_slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    assert np.abs(bands["slope"][inner] - expected_slope).max() < 0.5
    assert np.abs(bands["relative_elevation"][inner]).max() < 0.2


def test_bad_inputs_one_line_each_and_the_good_one_completes(tmp_path):
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    plane = write_dem(tmp_path / "plane.tif", lambda x, y: 10 + 0.01 * x + 0 * y)
    good = write_scene(tmp_path / "good" / SCENE_ID)
    no_crs = write_scene(tmp_path / "nocrs", scene_id="20220715_201530_42_24a3", crs=None)
    three = write_scene(tmp_path / "three", scene_id="20220716_201530_42_24a3",
                        dn=np.full((3, 20, 20), 500, np.uint16))
    truncated = write_scene(tmp_path / "trunc", scene_id="20220717_201530_42_24a3", size=(600, 600))
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    udm2 = np.zeros((8, 200, 240), np.uint8)
    udm2[5] = 1  # all cloud
    cloudy = write_scene(tmp_path / "cloudy", scene_id="20220718_201530_42_24a3", udm2=udm2)
    out = tmp_path / "out"
    done = prep(good, no_crs, three, truncated, cloudy, tmp_path / "missing.tif", "--dem", plane, "--tcvis", tcvis,
                "-o", out)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 5
    reasons = dict(line.split(": ", 2)[1:] for line in errors)
    assert "no CRS" in reasons[str(no_crs)]
    assert "wrong band count: 3" in reasons[str(three)]
    assert "cannot read" in reasons[str(truncated)]
    assert "no valid pixel" in reasons[str(cloudy)]
    assert "no such file" in reasons[str(tmp_path / "missing.tif")]
    assert done.stdout.splitlines() == [str(out / f"{SCENE_ID}.stack.tif")]
    assert sorted(p.name for p in out.iterdir()) == [f"{SCENE_ID}.stack.tif"]


def test_dem_or_tcvis_not_overlapping_and_missing_udm2(tmp_path):
    scene = write_scene(tmp_path / SCENE_ID, with_udm2=False)
    plane = write_dem(tmp_path / "plane.tif", lambda x, y: 10 + 0.01 * x + 0 * y)
    far_tcvis = write_tcvis(tmp_path / "far.tif", shift_deg=5.0)
    done = prep(scene, "--dem", plane, "--tcvis", far_tcvis, "-o", tmp_path / "out")
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {scene}: the TCVIS raster ({far_tcvis}) does not overlap the scene"]
    assert not list((tmp_path / "out").glob("*.tif"))
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    done = prep(scene, "--dem", plane, "--tcvis", tcvis, "-o", tmp_path / "out")
    assert done.returncode == 0
    assert "no udm2" in done.stderr
    assert preprocessing_record(tmp_path / "out" / f"{SCENE_ID}.stack.tif")["validity_rule"] == "sr_nodata"


def test_piping_from_rts_synth(tmp_path):
    bin_dir = BIN
    world = tmp_path / "world"
    command = (f"{bin_dir}/rts-synth -q -o {world} --scenes 2 --size 160 --years 2023 | "
               f"{bin_dir}/rts-prep - --dem {world}/aux/dem.tif --tcvis {world}/aux/tcvis.tif "
               f"--landcover {world}/aux/landcover.tif -o {tmp_path}/stacks -q")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    stacks = done.stdout.splitlines()
    assert len(stacks) == 2 and all(s.endswith(".stack.tif") for s in stacks)
    bands, valid = physical(Path(stacks[0]))
    assert 0.5 < valid.mean() <= 1.0
    assert np.nanmedian(np.where(valid, bands["ndvi"], np.nan)) > 0.4


def test_stdin_paths_are_processed_as_they_arrive(tmp_path):
    """A scene read from a pipe is prepped before the next path arrives (streaming)."""
    plane = write_dem(tmp_path / "plane.tif", lambda x, y: 10 + 0.01 * x + 0 * y)
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    first = write_scene(tmp_path / "a" / SCENE_ID)
    second = write_scene(tmp_path / "b", scene_id="20220715_201530_42_24a3")
    out = tmp_path / "out"
    child = subprocess.Popen([str(BIN / "rts-prep"), "-", "--dem", str(plane), "--tcvis",
                              str(tcvis), "-o", str(out), "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    child.stdin.write(f"{first}\n")
    child.stdin.flush()
    produced = out / f"{SCENE_ID}.stack.tif"
    deadline = time.monotonic() + 120
    while not produced.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.1)
    assert produced.exists()  # written while standard input is still open
    assert child.stdout.readline().strip() == str(produced)  # and already printed for the next stage
    child.stdin.write(f"{second}\n")
    child.stdin.close()
    assert child.wait(timeout=120) == 0
    assert (out / "20220715_201530_42_24a3.stack.tif").exists()


def test_warped_dem_views_are_released_with_each_scene(tmp_path):
    """Each scene's worker threads open their own warped view of a geographic DEM;
    releasing them after the scene closes both the view and the raster under it, so a
    run over many scenes does not pile up open files."""
    from concurrent.futures import ThreadPoolExecutor

    from rasterio.crs import CRS

    from rts_prep.auxiliary import Auxiliary

    dem = builders.write_geographic_dem(tmp_path / "dem4326.tif", lambda x, y: 0 * x + 10)
    source = Auxiliary(dem, "DEM", metric=True)
    scene_crs = CRS.from_user_input(builders.SCENE_CRS)

    def view_of_this_thread(_):
        with source.view(scene_crs) as view:
            return view

    with ThreadPoolExecutor(2) as pool:
        views = set(pool.map(view_of_this_thread, range(8)))
    assert views and all(not view.closed and not view.src_dataset.closed for view in views)
    source.release_views()
    assert all(view.closed and view.src_dataset.closed for view in views)
    assert source.pixel_m(scene_crs) > 0  # a fresh view opens on demand after a release
    source.close()


def test_a_scene_straddling_the_antimeridian_reads_geographic_rasters_from_both_ends(tmp_path):
    """A Chukotka scene in UTM zone 1 across 180°: TCVIS and land cover in EPSG:4326
    are read from both ends of the raster (-180 and 180) into one patch."""
    from affine import Affine
    from pyproj import Transformer

    crs = "EPSG:32601"
    x180, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(180.0, 66.0)
    origin = (round(x180) - 360.0, round(y) + 300.0)  # 240 columns of 3 m: 180° falls on column 120
    scene = write_scene(tmp_path / SCENE_ID, crs=crs, origin=origin)
    dem = write_dem(tmp_path / "dem.tif", lambda x, y: 50 + 0.05 * x + 0 * y, origin=origin, crs=crs)
    # global 0.01° rasters: 60 just west of 180°, 200 just east (at -180°), 128 elsewhere
    dx = 0.01
    lons = -180 + (np.arange(36000) + 0.5) * dx
    column = np.where(lons > 179.0, 60, np.where(lons < -179.0, 200, 128)).astype(np.uint8)
    transform = Affine(dx, 0, -180.0, 0, -dx, 66.2)
    profile = dict(driver="GTiff", width=36000, height=40, dtype="uint8", crs="EPSG:4326", transform=transform,
                   tiled=True, compress="deflate")
    with rasterio.open(tmp_path / "tcvis.tif", "w", count=3, **profile) as dst:
        dst.write(np.broadcast_to(column, (3, 40, 36000)))
    landcover = np.where(lons < -179.0, 1, 11).astype(np.uint8)  # water east of 180°
    with rasterio.open(tmp_path / "lc.tif", "w", count=1, nodata=0, **profile) as dst:
        dst.write(np.broadcast_to(landcover, (1, 40, 36000)))
    done = prep(scene, "--dem", dem, "--tcvis", tmp_path / "tcvis.tif", "--landcover", tmp_path / "lc.tif",
                "--block", 64, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    bands, valid = physical(tmp_path / "out" / f"{SCENE_ID}.stack.tif")
    assert valid.all()
    with rasterio.open(scene) as sr:
        rows, cols = np.mgrid[0:sr.height, 0:sr.width]
        x, y = sr.xy(rows.ravel(), cols.ravel())
    lon = np.array(Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)[0]).reshape(rows.shape)
    west, east = (lon > 0) & (lon < 179.9999), (lon < 0) & (lon > -179.9999)  # clear of 180° itself
    assert west.sum() > 10_000 and east.sum() > 10_000
    assert (bands["tc_brightness"][west] == 60).all() and (bands["tc_brightness"][east] == 200).all()
    assert (bands["water"][west] == 0).all() and (bands["water"][east] == 1).all()
    expected_slope = np.degrees(np.arctan(0.05))
    assert np.abs(bands["slope"][10:-10, 10:-10] - expected_slope).max() < 0.5


def test_a_legacy_udm_masks_blackfill_cloud_and_suspect_data_without_a_udm2(tmp_path):
    """Issue #29 item 6: PSScene4Band scenes (2016-2018) carry a legacy ``_DN_udm.tif``
    and no udm2; rts-prep ignored it ("only the SR no-data masks pixels"). Any flag of it
    makes a pixel unusable, as DARTS v1's get_mask_from_udm."""
    rows, cols = 200, 240
    scene = write_scene(tmp_path / SCENE_ID, with_udm2=False)
    udm = np.zeros((rows, cols), np.uint8)
    udm[10:15] = 1  # blackfill
    udm[20:25] = 2  # cloud
    udm[30:35] = 8  # suspect data in band 2
    with rasterio.open(scene) as sr:
        profile = dict(sr.profile, count=1, dtype="uint8", nodata=None)
    with rasterio.open(scene.parent / f"{SCENE_ID}_3B_AnalyticMS_DN_udm.tif", "w", **profile) as dataset:
        dataset.write(udm, 1)
    done = prep(scene, "--dem", write_dem(tmp_path / "dem.tif", lambda x, y: 50 + 0 * x + 0 * y),
                "--tcvis", write_tcvis(tmp_path / "tcvis.tif"), "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "only the SR no-data masks pixels" not in done.stderr
    _, valid = physical(tmp_path / "out" / f"{SCENE_ID}.stack.tif")
    assert not valid[10:15].any() and not valid[20:25].any() and not valid[30:35].any()
    assert valid[40:].all() and valid[:10].all()
    with rasterio.open(tmp_path / "out" / f"{SCENE_ID}.stack.tif") as dataset:
        assert json.loads(dataset.tags()[contract.TAG_PREPROCESSING])["validity_rule"] == "udm_darts_v1"
