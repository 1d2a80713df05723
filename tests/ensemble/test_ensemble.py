"""rts-ensemble: exactly the expected objects survive DARTS' clean-up."""

import json

import geopandas
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from affine import Affine

from rts_core import contract, geoparquet, raster
from tests.conftest import run_script

SCENE = "20220801_201500_10_2416"
TRANSFORM = Affine(3, 0, 600000, 0, -3, 7700000)
SHAPE = (200, 200)


def blob_field():
    """Probabilities (0-1) with labelled blobs, and the expected survivors."""
    p = np.full(SHAPE, 0.1, np.float32)
    blobs = {}

    def put(name, rows, cols, value=0.9):
        p[rows, cols] = value
        blobs[name] = (rows, cols)

    put("thirty_one", slice(20, 25), slice(20, 26))  # 30 px ...
    p[25, 20] = 0.9  # ... + 1 = 31 px: too small
    put("thirty_two", slice(20, 24), slice(40, 48))  # 32 px: kept
    put("at_border", slice(60, 70), slice(3, 13))  # within 10 px of the border: dropped
    put("near_hole", slice(60, 70), slice(60, 70))  # 5 px from a no-data hole: dropped
    put("water_19", slice(100, 110), slice(20, 30))  # 19 % on water: kept
    put("water_21", slice(100, 110), slice(60, 70))  # 21 % on water: dropped
    put("holed", slice(130, 142), slice(20, 32))  # 12 x 12 with a 4 x 4 hole: kept, hole kept
    p[134:138, 24:28] = 0.1
    put("diag_a", slice(160, 164), slice(60, 64))  # two 16 px squares touching at a corner:
    put("diag_b", slice(164, 168), slice(64, 68))  # one 32 px object (8-connected): kept
    valid = np.ones(SHAPE, bool)
    valid[60:70, 75:80] = False  # the hole, 5 px right of near_hole
    water = np.zeros(SHAPE, bool)
    water[100:110, 20:30].flat[:19] = True
    water[100:110, 60:70].flat[:21] = True
    return p, valid, water


def write_prob(path, probability, valid, model, **extra_tags):
    stored = np.round(probability * 100).astype(np.uint8)
    stored[~valid] = 255
    tags = raster.scene_tags(SCENE, "2022-08-01T20:15:00Z", "test", model=model, **extra_tags)
    raster.write_cog(path, stored, crs="EPSG:32608", transform=TRANSFORM, nodata=255, tags=tags,
                     scales=[0.01], offsets=[0.0])
    return path


@pytest.fixture
def inputs(tmp_path):
    p, valid, water = blob_field()
    a = write_prob(tmp_path / f"{SCENE}.tcvis.prob.tif", p, valid, "tcvis")
    b = write_prob(tmp_path / f"{SCENE}.notcvis.prob.tif", p, valid, "notcvis")
    landcover = tmp_path / "lc.tif"
    with rasterio.open(landcover, "w", driver="GTiff", width=200, height=200, count=1, dtype="uint8",
                       crs="EPSG:32608", transform=TRANSFORM, nodata=0) as dst:
        dst.write(np.where(water, 1, 11).astype(np.uint8), 1)
    return tmp_path, a, b, landcover


def test_exactly_the_expected_objects_survive(inputs):
    root, a, b, landcover = inputs
    out = root / "l1"
    done = run_script("rts-ensemble", a, b, "--water", landcover, "-o", out)
    assert done.returncode == 0, done.stderr
    l1 = out / contract.l1_name(SCENE)
    assert done.stdout.splitlines() == [str(l1)]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [contract.prob_name(SCENE), contract.mask_name(SCENE), contract.l1_name(SCENE), contract.extent_name(SCENE)])
    frame = geopandas.read_parquet(l1)
    assert frame.crs.to_epsg() == 32608
    assert list(frame.columns) == list(contract.L1_COLUMNS)
    assert frame.geometry.is_valid.all()
    pixels = sorted(frame.n_pixels.tolist())
    assert pixels == [32, 32, 100, 128]  # thirty_two, the diagonal pair, water_19, holed
    np.testing.assert_allclose(frame.area_m2, frame.n_pixels * 9.0, rtol=0.01)
    # the one area rule (#29 item 4): EASE-Grid 2.0, not the scene's UTM grid
    np.testing.assert_allclose(frame.area_m2, frame.to_crs(6931).area, rtol=1e-9)
    assert (np.abs(frame.area_m2 / frame.area - 1) > 1e-5).all()
    np.testing.assert_allclose(frame.area_ha, frame.area_m2 / 1e4)
    diagonal = frame[frame.geometry.geom_type == "MultiPolygon"]
    assert len(diagonal) == 1 and diagonal.n_pixels.iloc[0] == 32 and len(diagonal.geometry.iloc[0].geoms) == 2
    holed = frame[frame.n_pixels == 128].geometry.iloc[0]
    assert holed.geom_type == "Polygon" and len(holed.interiors) == 1 and holed.area == 128 * 9
    assert (frame.scene_id == SCENE).all() and (frame.models == "notcvis,tcvis").all()  # sorted names
    assert (frame.year == 2022).all() and (frame.month == 8).all() and (frame.sensor == "PlanetScope").all()
    assert str(frame.acquired.dt.tz) == "UTC"
    np.testing.assert_allclose(frame.prob_mean, 0.9, atol=1e-6)
    geo = json.loads(pq.read_schema(l1).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and "covering" in geo["columns"]["geometry"]
    with rasterio.open(out / contract.mask_name(SCENE)) as mask:
        values = mask.read(1)
        assert mask.nodata == 255 and (values[60:70, 75:80] == 255).all()
        assert int((values == 1).sum()) == 32 + 32 + 100 + 128
    with rasterio.open(out / contract.prob_name(SCENE)) as prob:
        assert prob.tags()["RTS_MODEL"] == "notcvis,tcvis" and prob.scales == (0.01,)
    extent = geopandas.read_parquet(out / contract.extent_name(SCENE))
    assert list(extent.columns) == list(contract.EXTENT_COLUMNS)
    assert abs(extent.area.iloc[0] - (200 * 200 - 50) * 9) < 200 * 3 * 4  # within a pixel along the outline


def test_the_level1_file_records_the_models_with_their_hashes_and_the_threshold(tmp_path):
    """rts-infer tags each probability with its model file's SHA-256; the ensemble keeps
    "name@sha12" per model and its threshold in the Level-1 metadata, which
    rts-aggregate --schema darts turns into DARTS_AI_model_version and _threshold."""
    p, valid, _ = blob_field()
    digests = {"tcvis": "ab" * 32, "notcvis": "0123456789abcdef" * 4}
    paths = [write_prob(tmp_path / f"{SCENE}.{name}.prob.tif", p, valid, name,
                        **{contract.TAG_MODEL_SHA256: digest}) for name, digest in digests.items()]
    paths.append(write_prob(tmp_path / f"{SCENE}.old.prob.tif", p, valid, "old"))  # an older rts-infer: no hash
    done = run_script("rts-ensemble", *paths, "--threshold", "0.45", "-o", tmp_path / "l1")
    assert done.returncode == 0, done.stderr
    metadata = geoparquet.metadata_of(tmp_path / "l1" / contract.l1_name(SCENE))
    assert metadata[contract.PARQUET_MODEL_VERSION] == "notcvis@0123456789ab,old,tcvis@abababababab"
    assert metadata[contract.PARQUET_THRESHOLD] == "0.45"
    with rasterio.open(tmp_path / "l1" / contract.prob_name(SCENE)) as prob:
        assert prob.tags()[contract.TAG_MODEL_VERSION] == "notcvis@0123456789ab,old,tcvis@abababababab"


def test_without_water_the_water_blobs_survive_and_single_model_warns(inputs):
    root, a, _, _ = inputs
    done = run_script("rts-ensemble", a, "-o", root / "l1")
    assert done.returncode == 0
    assert "only one model" in done.stderr
    frame = geopandas.read_parquet(root / "l1" / contract.l1_name(SCENE))
    assert sorted(frame.n_pixels.tolist()) == [32, 32, 100, 100, 128]


def test_grid_mismatch_is_an_input_error(inputs, tmp_path):
    root, a, _, _ = inputs
    p, valid, _ = blob_field()
    other = write_prob(tmp_path / "other.tif", p[:150], valid[:150], "other")
    done = run_script("rts-ensemble", a, other, "-o", root / "bad")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not on the grid" in errors[0]
    assert not (root / "bad").exists() or not list((root / "bad").iterdir())


def test_weights(inputs, tmp_path):
    root, a, _, _ = inputs
    p, valid, _ = blob_field()
    low = write_prob(tmp_path / "low.tif", np.minimum(p, 0.2), valid, "notcvis")
    # equal weights: (0.9 + 0.2) / 2 = 0.55 > 0.5; notcvis=3: (0.9 + 0.6) / 4 = 0.375 < 0.5
    assert run_script("rts-ensemble", a, low, "-o", tmp_path / "eq").returncode == 0
    assert len(geopandas.read_parquet(tmp_path / "eq" / contract.l1_name(SCENE))) == 5
    assert run_script("rts-ensemble", a, low, "--weights", "notcvis=3", "-o", tmp_path / "w").returncode == 0
    assert len(geopandas.read_parquet(tmp_path / "w" / contract.l1_name(SCENE))) == 0


@pytest.mark.parametrize("name", ["water.geojson", "water.tif"])
def test_unreadable_water_file_is_one_error_line(inputs, name):
    root, a, b, _ = inputs
    water = root / name
    water.write_text("not a water file\n")
    done = run_script("rts-ensemble", a, b, "--water", water, "-o", root / "l1")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(water) in errors[0]
    assert "Traceback" not in done.stderr
    assert not (root / "l1").exists() or not list((root / "l1").iterdir())


def test_the_edge_zone_is_a_euclidean_disk_and_the_threshold_is_reached_at_equality(tmp_path):
    """DARTS grows no-data by skimage's disk(10) and keeps mean >= 0.5: a square at
    (8, 8) px from a no-data corner (Euclidean 11.3 px, chessboard 8 px) survives; one
    at (7, 7) (9.9 px) does not; means of exactly 0.5 count as slump."""
    low = np.full(SHAPE, 0.1, np.float32)
    high = low.copy()
    valid = np.ones(SHAPE, bool)
    valid[90:100, 90:100] = False  # a no-data hole, corner at (99, 99)
    high[107:113, 107:113] = 0.9  # nearest pixel (107, 107): 8 px down and right of (99, 99)
    high[80:86, 106:112] = 0.9  # nearest pixel (85, 106): 7 px right of the hole's side (90..99, 99)
    high[106:112, 78:84] = 0.9  # nearest pixel (106, 83): 7 px down and left of the corner (99, 90)
    high[20:26, 150:156] = 0.9  # far from everything: kept
    low[20:26, 150:156] = 0.1  # mean (0.9 + 0.1) / 2 = 0.5 exactly: kept (>=)
    high[150:156, 20:26] = 0.59  # mean (0.59 + 0.4) / 2 = 0.495: dropped
    low[150:156, 20:26] = 0.40
    high[150:156, 150:156] = 0.49  # (0.49 + 0.51) / 2 = 0.5: kept
    low[150:156, 150:156] = 0.51
    low[107:113, 107:113] = low[80:86, 106:112] = low[106:112, 78:84] = 0.9
    a = write_prob(tmp_path / "a.tif", high, valid, "tcvis")
    b = write_prob(tmp_path / "b.tif", low, valid, "notcvis")
    done = run_script("rts-ensemble", a, b, "--min-px", 30, "-o", tmp_path / "l1")
    assert done.returncode == 0, done.stderr
    frame = geopandas.read_parquet(tmp_path / "l1" / contract.l1_name(SCENE))
    corners = sorted((round((TRANSFORM.f - g.bounds[3]) / 3), round((g.bounds[0] - TRANSFORM.c) / 3))
                     for g in frame.geometry)
    # top-left pixels (row, col) of the survivors: a tie, the (8, 8) square, the other tie
    assert corners == [(20, 150), (107, 107), (150, 150)]


@pytest.mark.parametrize("edge_px", [0, 1, 4, 10])
def test_forbidden_zone_is_the_distance_transform_within_edge_px(edge_px):
    """Equal to a Euclidean distance transform with the outside of the image invalid."""
    from scipy import ndimage

    from rts_ensemble.cleanup import forbidden_zone

    rng = np.random.default_rng(edge_px)
    valid = np.ones((97, 131), bool)
    valid[rng.integers(0, 97, 12), rng.integers(0, 131, 12)] = False
    valid[40:60, 70:75] = False
    distance = ndimage.distance_transform_edt(np.pad(valid, 1))[1:-1, 1:-1]
    expected = distance <= edge_px if edge_px else ~valid
    np.testing.assert_array_equal(forbidden_zone(valid, edge_px), expected)
