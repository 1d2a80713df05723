"""Issue #29 items 2, 3 and 6: real STAC Items as the catalogues serve them, paired
with synthetic band files. tests/data/stac/ holds, byte for byte, an Earth Search v0
Item (``sentinel-s2-l2a-cogs``) and a Planetary Computer Item from odc-stac's test data
(opendatacube/odc-stac, tests/data, Apache License 2.0: LICENSE-odc-stac beside them).

One acquisition is one scene whichever way it was fetched: the id and time come from
the datatake start in the product's name, as for a SAFE (Earth Search's ``datetime`` is
the tile's sensing time, 3 min 31 s later in the v0 Item)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rts_core import contract
from tests.conftest import run_script
from tests.prep.builders import S2_SIZE, s2_dn, write_dem, write_s2_raster, write_safe, write_tcvis

DATA = Path(__file__).resolve().parents[1] / "data" / "stac"
EARTH_SEARCH_V0 = DATA / "S2A_28QCH_20200714_0_L2A.json"
PLANETARY_COMPUTER = DATA / "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json"
BAND_KEYS = {EARTH_SEARCH_V0: ("B02", "B03", "B04", "B08", "SCL"),
             PLANETARY_COMPUTER: ("B02", "B03", "B04", "B08", "SCL")}


@pytest.fixture
def aux(tmp_path):
    return (write_dem(tmp_path / "dem.tif", lambda x, y: 200 + 0.05 * (x - x.mean()) + 0.0 * y),
            write_tcvis(tmp_path / "tcvis.tif"))


def prep(aux, out, *scenes):
    dem, tcvis = aux
    return run_script("rts-prep", *scenes, "--dem", dem, "--tcvis", tcvis, "-o", out)


def bands_beside(folder: Path, dn) -> dict[str, str]:
    """Synthetic band files (the builders' grid) under ``folder``: name -> relative href."""
    scl = np.full((S2_SIZE[0] // 2, S2_SIZE[1] // 2), 4, np.uint8)
    for name, data, pixel in zip(("B02", "B03", "B04", "B08", "SCL"), [*dn, scl], (10.0,) * 4 + (20.0,), strict=True):
        write_s2_raster(folder / f"{name}.tif", data, pixel)
    return {name: f"./{name}.tif" for name in ("B02", "B03", "B04", "B08", "SCL")}


def local_item(real: Path, folder: Path, dn) -> dict:
    """The real Item, its band assets pointed at synthetic files beside it (nothing else
    changed)."""
    item = json.loads(real.read_text())
    hrefs = bands_beside(folder, dn)
    for key in BAND_KEYS[real]:
        item["assets"][key]["href"] = hrefs[key]
    return item


def read(stack):
    with rasterio.open(stack) as dataset:
        return dataset.read(), dataset.dataset_mask() > 0, dataset.tags()


@pytest.mark.parametrize("real, scene_id, acquired, baseline", [
    (EARTH_SEARCH_V0, "S2A_T28QCH_20200714T115221", "2020-07-14T11:52:21Z", "02.14"),
    (PLANETARY_COMPUTER, "S2B_T06VVN_20190629T212529", "2019-06-29T21:25:29Z", "02.12")])
def test_real_items_give_the_datatake_id_and_time(tmp_path, aux, real, scene_id, acquired, baseline):
    """Earth Search v0 Items were refused ("names no Sentinel-2 platform and MGRS tile");
    the tile and baseline are in their sentinel:product_id."""
    dn = s2_dn()
    folder = tmp_path / "item"
    path = folder / real.name
    path.write_text(json.dumps(local_item(real, folder, dn)))
    done = prep(aux, tmp_path / "out", path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "out" / contract.stack_name(scene_id))]
    stored, valid, tags = read(done.stdout.split()[0])
    assert tags[contract.TAG_ACQUIRED] == acquired and tags[contract.TAG_SENSOR] == "Sentinel-2"
    assert json.loads(tags[contract.TAG_PREPROCESSING])["sensor"] == "Sentinel-2"
    assert valid.all()
    np.testing.assert_array_equal(stored[:4], dn.astype(int))  # before baseline 04.00: no offset
    assert "pystac" not in done.stderr and "Warning" not in done.stderr


def test_an_item_and_a_safe_of_one_product_are_one_scene(tmp_path, aux):
    """A SAFE's time was its PRODUCT_START_TIME, an Item's its datetime: one product got
    two ids (...T115221 and ...T115552) and Level 2 would count it twice."""
    dn = s2_dn()
    folder = tmp_path / "item"
    item_path = folder / EARTH_SEARCH_V0.name
    item_path.write_text(json.dumps(local_item(EARTH_SEARCH_V0, folder, dn)))
    built = write_safe(tmp_path / "built", dn=dn, baseline="02.14", tile="28QCH")
    name = "S2A_MSIL2A_20200714T115221_N0214_R123_T28QCH_20200714T191310.SAFE"
    safe = tmp_path / "safe" / name
    safe.parent.mkdir()
    shutil.move(built, safe)
    mtd = safe / "MTD_MSIL2A.xml"
    mtd.write_text(mtd.read_text().replace(built.name, name).replace(
        "2023-07-15T20:18:51.024Z", "2020-07-14T11:52:21.024Z"))
    by_item = prep(aux, tmp_path / "from_item", item_path)
    by_safe = prep(aux, tmp_path / "from_safe", safe)
    assert by_item.returncode == 0 and by_safe.returncode == 0, by_item.stderr + by_safe.stderr
    item_stack, safe_stack = Path(by_item.stdout.split()[0]), Path(by_safe.stdout.split()[0])
    assert item_stack.name == safe_stack.name == contract.stack_name("S2A_T28QCH_20200714T115221")
    (item_values, item_valid, item_tags), (safe_values, safe_valid, safe_tags) = read(item_stack), read(safe_stack)
    assert item_tags[contract.TAG_ACQUIRED] == safe_tags[contract.TAG_ACQUIRED] == "2020-07-14T11:52:21Z"
    np.testing.assert_array_equal(item_values, safe_values)
    np.testing.assert_array_equal(item_valid, safe_valid)


@pytest.mark.parametrize("form", ["ItemCollection", "list"])
def test_a_collection_of_items_is_one_scene_per_item(tmp_path, aux, form):
    """An ItemCollection was refused, and a JSON list leaked "'list' object has no
    attribute 'get'". Each Item is a scene of its own; a broken one is an error of its
    own (named FILE#<item id>), and the others complete."""
    folder = tmp_path / "items"
    first = local_item(EARTH_SEARCH_V0, folder / "a", s2_dn(seed=3))
    second = local_item(PLANETARY_COMPUTER, folder / "b", s2_dn(seed=4))
    for item, sub in ((first, "a"), (second, "b")):  # hrefs relative to the collection's folder
        for key in ("B02", "B03", "B04", "B08", "SCL"):
            item["assets"][key]["href"] = f"./{sub}/{key}.tif"
    broken = json.loads(json.dumps(second))
    broken["id"] = "S2B_broken"
    broken["properties"]["s2:product_uri"] = "S2B_MSIL2A_20190630T212529_N0212_R043_T06VVP_20201006T080531.SAFE"
    del broken["assets"]["SCL"]
    items = [first, second, broken]
    document = {"type": "FeatureCollection", "features": items} if form == "ItemCollection" else items
    path = folder / "items.json"
    path.write_text(json.dumps(document))
    done = prep(aux, tmp_path / "out", path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}#S2B_broken: the STAC item has no asset for SCL (looked for scl, SCL, "
                      "SCL_20m, scl_20m)"]
    assert sorted(Path(p).name for p in done.stdout.split()) == sorted(
        contract.stack_name(s) for s in ("S2A_T28QCH_20200714T115221", "S2B_T06VVN_20190629T212529"))


def test_an_earth_search_v0_item_without_its_product_name_falls_back_to_its_tile_fields():
    """sentinel:utm_zone + latitude_band + grid_square name the tile; without a product
    name the time is the Item's datetime (the tile's sensing time)."""
    from rts_core.sceneid import sentinel2_id_from_item

    item = json.loads(EARTH_SEARCH_V0.read_text())
    del item["properties"]["sentinel:product_id"]
    item["id"] = "an-item"
    assert sentinel2_id_from_item(item) is None  # the fixture has no sentinel:utm_zone
    item["properties"]["sentinel:utm_zone"] = 28
    assert sentinel2_id_from_item(item) == "S2A_T28QCH_20200714T115552"


SAFES = Path(__file__).resolve().parents[1] / "data" / "safe"


def real_safe(tmp_path: Path, product: str, dn) -> Path:
    """A SAFE folder: the real MTD_MSIL2A.xml of ``product``, synthetic bands."""
    safe = tmp_path / f"{product}.SAFE"
    safe.mkdir(parents=True)
    shutil.copy(SAFES / safe.name / "MTD_MSIL2A.xml", safe / "MTD_MSIL2A.xml")
    tile = product.split("_")[5]
    granule = safe / "GRANULE" / f"L2A_{tile}_A000000_{product.split('_')[2]}" / "IMG_DATA"
    stamp = product.split("_")[2]
    for name, data in zip(("B02", "B03", "B04", "B08"), dn, strict=True):
        write_s2_raster(granule / "R10m" / f"{tile}_{stamp}_{name}_10m.jp2", data, 10.0, "JP2OpenJPEG")
    write_s2_raster(granule / "R20m" / f"{tile}_{stamp}_SCL_20m.jp2",
                    np.full((S2_SIZE[0] // 2, S2_SIZE[1] // 2), 4, np.uint8), 20.0, "JP2OpenJPEG")
    return safe


@pytest.mark.parametrize("product, scene_id, acquired, offset_dn", [
    ("S2A_MSIL2A_20190212T192651_N0212_R013_T07HFE_20201007T160857", "S2A_T07HFE_20190212T192651",
     "2019-02-12T19:26:51Z", 0),
    ("S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126", "S2B_T33XWJ_20220413T150759",
     "2022-04-13T15:07:59Z", -1000),
    ("S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825", "S2A_T01KAB_20230821T221941",
     "2023-08-21T22:19:41Z", -1000)])
def test_real_safe_metadata_of_three_baselines(tmp_path, aux, product, scene_id, acquired, offset_dn):
    """BOA_ADD_OFFSET and BOA_QUANTIFICATION_VALUE as ESA writes them (none before
    04.00); the id and time from the datatake start, as for the Items above."""
    dn = s2_dn()
    done = prep(aux, tmp_path / "out", real_safe(tmp_path / "in", product, dn))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "out" / contract.stack_name(scene_id))]
    stored, valid, tags = read(done.stdout.split()[0])
    assert tags[contract.TAG_ACQUIRED] == acquired and valid.all()
    np.testing.assert_array_equal(stored[:4], dn.astype(int) + offset_dn)


def test_pystacs_warnings_stay_off_standard_error(tmp_path, aux):
    """pystac warns while migrating an Item (here: the projection extension's proj:epsg
    beside a proj:code that disagrees); rts-prep printed such a UserWarning for every
    Earth Search Item. It goes to the debug log."""
    import warnings

    import pystac

    item = local_item(EARTH_SEARCH_V0, tmp_path / "item", s2_dn())
    item["properties"]["proj:code"] = "EPSG:32629"  # proj:epsg says 32628
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pystac.Item.from_dict(item, preserve_dict=True)
    assert any(issubclass(w.category, UserWarning) for w in caught)  # the case warns
    path = tmp_path / "item" / "item.json"
    path.write_text(json.dumps(item))
    done = prep(aux, tmp_path / "out", path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "proj:epsg" not in done.stderr
