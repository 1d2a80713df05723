"""rts-prep on Sentinel-2 L2A: SAFE folders (JPEG 2000), STAC items and folders of COGs;
reflectance on both sides of baseline 04.00 and when a catalogue applied the offset
already; validity from each SCL class; one error line per bad product."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rts_core import contract
from rts_prep.sentinel2 import INVALID_SCL
from tests.conftest import run_script
from tests.prep.builders import (
    S2_SCENE_ID,
    S2_SIZE,
    s2_dn,
    write_cog_folder,
    write_dem,
    write_safe,
    write_scene,
    write_stac_item,
    write_tcvis,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aux(tmp_path):
    return (write_dem(tmp_path / "dem.tif", lambda x, y: 200 + 0.05 * (x - x.mean()) + 0.0 * y),
            write_tcvis(tmp_path / "tcvis.tif"))


def prep(aux, out, *scenes, options=()):
    dem, tcvis = aux
    return run_script("rts-prep", *scenes, "--dem", dem, "--tcvis", tcvis, *options, "-o", out)


def read_stack(path):
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.dataset_mask() > 0, dataset.tags(), dataset.res, dataset.descriptions


@pytest.mark.parametrize("baseline, offset_dn", [("05.09", -1000), ("03.01", 0)])
def test_safe_reflectance_follows_the_products_offset(tmp_path, aux, baseline, offset_dn):
    dn = s2_dn()
    safe = write_safe(tmp_path / "in", dn=dn, baseline=baseline)
    done = prep(aux, tmp_path / "out", safe)
    assert done.returncode == 0, done.stderr
    stack = tmp_path / "out" / contract.stack_name(S2_SCENE_ID)
    assert done.stdout.split() == [str(stack)]
    stored, valid, tags, resolution, names = read_stack(stack)
    assert resolution == (10.0, 10.0) and stored.shape[1:] == S2_SIZE and valid.all()
    assert names[:4] == contract.SPECTRAL_BANDS
    # reflectance = (DN + offset) / 10000, stored in units of 1e-4: exactly DN + offset
    np.testing.assert_array_equal(stored[:4], dn.astype(int) + offset_dn)
    red, nir = (dn[2].astype(float) + offset_dn), (dn[3].astype(float) + offset_dn)
    np.testing.assert_allclose(stored[4], np.round((nir - red) / (nir + red) / 1e-4), atol=1)  # last digit
    assert tags[contract.TAG_SENSOR] == "Sentinel-2" and tags[contract.TAG_SCENE_ID] == S2_SCENE_ID
    assert tags[contract.TAG_ACQUIRED].startswith("2023-07-15T20:18:51")
    record = json.loads(tags[contract.TAG_PREPROCESSING])
    assert record["sensor"] == "Sentinel-2" and record["pixel_size_m"] == 10.0
    assert record["validity_rule"] == "sentinel2_scl_invalid_0-1-2-3-8-9-10-11"


def test_each_scl_class_sets_validity_and_the_classes_are_configurable(tmp_path, aux):
    scl = np.full((S2_SIZE[0] // 2, S2_SIZE[1] // 2), 4, np.uint8)
    for code in range(12):
        scl[2 * code: 2 * code + 2, :5] = code  # 2 x 5 cells of 20 m: 4 x 10 pixels of 10 m each
    safe = write_safe(tmp_path / "in", scl=scl)
    assert prep(aux, tmp_path / "out", safe).returncode == 0
    _, valid, *_ = read_stack(tmp_path / "out" / contract.stack_name(S2_SCENE_ID))
    for code in range(12):
        block = valid[4 * code: 4 * code + 4, :10]
        assert block.all() == (code not in INVALID_SCL) and block.any() == (code not in INVALID_SCL), code
    assert valid[:, 10:].all()
    # only no data and defective pixels invalid: clouds, shadows and snow kept
    assert prep(aux, tmp_path / "loose", safe, options=("--scl-invalid", "0,1")).returncode == 0
    _, loose, *_ = read_stack(tmp_path / "loose" / contract.stack_name(S2_SCENE_ID))
    assert not loose[:8, :10].any() and loose[8:, :10].all()


@pytest.mark.parametrize("applied, expected_offset", [(None, -1000), (False, -1000), (True, 0)])
def test_a_stac_item_with_relative_assets_and_its_offset_flag(tmp_path, aux, applied, expected_offset):
    dn = s2_dn()
    item = write_stac_item(tmp_path / "in", dn=dn, offset_applied=applied)
    done = prep(aux, tmp_path / "out", item)
    assert done.returncode == 0, done.stderr
    stored, valid, tags, *_ = read_stack(tmp_path / "out" / contract.stack_name(S2_SCENE_ID))
    np.testing.assert_array_equal(stored[:4], dn.astype(int) + expected_offset)
    assert tags[contract.TAG_SENSOR] == "Sentinel-2"


def test_copernicus_asset_names_without_raster_bands_follow_the_baseline(tmp_path, aux):
    dn = s2_dn()
    item = write_stac_item(tmp_path / "in", dn=dn, keys=("B02_10m", "B03_10m", "B04_10m", "B08_10m", "SCL_20m"),
                           raster_bands=False)
    assert prep(aux, tmp_path / "out", item).returncode == 0
    stored, *_ = read_stack(tmp_path / "out" / contract.stack_name(S2_SCENE_ID))
    np.testing.assert_array_equal(stored[:4], dn.astype(int) - 1000)  # baseline 05.09


def test_a_folder_of_cogs_and_bounds_give_a_window_of_the_tile(tmp_path, aux):
    dn = s2_dn()
    folder = write_cog_folder(tmp_path / "in", dn=dn, baseline="03.00")
    x0, y0 = 580_000.0, 7_710_000.0
    bounds = f"{x0 + 105},{y0 - 300},{x0 + 400},{y0 - 95}"  # snapped outward to the 10 m grid
    done = prep(aux, tmp_path / "out", folder, options=("--bounds", bounds))
    assert done.returncode == 0, done.stderr
    stored, _, _, _, _ = read_stack(tmp_path / "out" / contract.stack_name(S2_SCENE_ID))
    with rasterio.open(tmp_path / "out" / contract.stack_name(S2_SCENE_ID)) as dataset:
        assert dataset.bounds == (x0 + 100, y0 - 300, x0 + 400, y0 - 90)
    np.testing.assert_array_equal(stored[:4], dn[:, 9:30, 10:40].astype(int))  # baseline 03.00: no offset


def test_bad_products_one_line_each_and_the_good_ones_complete(tmp_path, aux):
    good = write_safe(tmp_path / "good")
    no_band = write_safe(tmp_path / "no_band", skip=("B08",), tile="08WMD")
    no_scl = write_safe(tmp_path / "no_scl", skip=("SCL",), tile="08WME")
    no_mtd = write_safe(tmp_path / "no_mtd", skip=("MTD",), tile="08WMF")
    broken = write_safe(tmp_path / "broken", tile="08WMG")
    (broken / "MTD_MSIL2A.xml").write_text("<not xml")
    entities = write_safe(tmp_path / "entities", tile="08WMH")
    (entities / "MTD_MSIL2A.xml").write_text('<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>')
    wrong_grid = write_cog_folder(tmp_path / "wrong_grid", tile="08WMJ")
    band = next(wrong_grid.glob("*B03*"))
    with rasterio.open(band) as dataset:
        data, profile = dataset.read(), dataset.profile
    profile.update(transform=dataset.transform * rasterio.Affine.translation(1, 0))
    with rasterio.open(band, "w", **profile) as dataset:
        dataset.write(data)
    unreadable = write_stac_item(tmp_path / "unreadable", hrefs={"B04": "./missing.tif"}, tile="08WMK")
    escaping = write_stac_item(tmp_path / "escaping", hrefs={"B04": "../../../etc/passwd"}, tile="08WML")
    twice = write_stac_item(tmp_path / "twice")  # the good product's scene again, as an item
    planet = write_scene(tmp_path / "planet" / "20220714_201530_42_24a3")
    bad = [no_band, no_scl, no_mtd, broken, entities, wrong_grid, unreadable, escaping, twice]
    done = prep(aux, tmp_path / "out", good, *bad, planet.parent)
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    errors = [line for line in errors if line.startswith("error:")]
    assert len(errors) == len(bad)
    for path, reason in zip(bad, ["band B08", "SCL", "metadata file", "unreadable metadata", "entities",
                                  "not on the grid of band B02", "missing.tif", "outside the item's folder",
                                  "earlier in this run"],
                            strict=True):
        line = next(line for line in errors if str(path) in line)
        assert reason in line, line
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == sorted([contract.stack_name(S2_SCENE_ID), contract.stack_name("20220714_201530_42_24a3")])


def test_a_planetscope_model_refuses_a_sentinel2_stack_whatever_the_options(tmp_path, aux):
    assert prep(aux, tmp_path / "stacks", write_safe(tmp_path / "in")).returncode == 0
    stack = tmp_path / "stacks" / contract.stack_name(S2_SCENE_ID)
    model = ROOT / "models" / "demo" / "tcvis.onnx"  # trained on PlanetScope stacks at 3 m
    for extra in ([], ["--allow-preprocessing-mismatch"]):
        done = run_script("rts-infer", stack, "--model", model, *extra, "-o", tmp_path / "probs")
        assert done.returncode == 1
        assert "sensor 'Sentinel-2' in the stack but 'PlanetScope' in model tcvis" in done.stderr
        assert "no option overrides this" in done.stderr
    assert not (tmp_path / "probs").exists() or not any((tmp_path / "probs").iterdir())
