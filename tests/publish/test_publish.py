"""rts-publish: the site's layout and reruns, its STAC catalogue valid against the
official schemas (offline) with relative links and true checksums, the PMTiles layers
with their display attributes and track histories, the range-request server, and bad
inputs as the contract has them."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import geopandas
import numpy as np
import pandas
import pyogrio
import pystac
import pytest
from affine import Affine
from onnx import helper
from PIL import Image
from rasterio.windows import Window
from rts_publish.serve import make_server, parse_range

from rts_core import contract, raster
from tests.aggregate.test_report import TUK, write_scene
from tests.conftest import run_script
from tests.infer.models import conv_model, save_model
from tests.publish.stac_validate import errors_of

SCENE = "20210701_200000_00_2416"
SLUMPS_2021 = [(0, 0, 100, 100), (900, 900, 950, 950)]


def write_rasters(folder: Path, scene_id: str, acquired: str) -> None:
    """A probability COG, a mask and a quicklook for ``scene_id`` around TUK (UTM 8N)."""
    x0, y0 = geopandas.GeoSeries.from_xy([TUK[0]], [TUK[1]], crs=4326).to_crs(TUK[2]).iloc[0].coords[0]
    transform = Affine(3.0, 0, x0 - 1500, 0, -3.0, y0 + 1500)
    tags = {"RTS_SCENE_ID": scene_id, "RTS_ACQUIRED": acquired, "RTS_SENSOR": "PlanetScope",
            "RTS_VERSION": "rts-ensemble 0.1.0", "RTS_MODEL": "tcvis", "RTS_THRESHOLD": "0.5"}
    values = np.random.default_rng(0).integers(0, 100, (1000, 1000), dtype=np.uint8)
    for name, data, scale in ((contract.prob_name(scene_id), values, 0.01),
                              (contract.mask_name(scene_id), (values > 50).astype(np.uint8), 1.0)):
        with raster.CogWriter(folder / name, width=1000, height=1000, count=1, dtype="uint8", crs=f"EPSG:{TUK[2]}",
                              transform=transform, nodata=255, tags=tags, scales=[scale], offsets=[0.0]) as out:
            out.write(data, window=Window(0, 0, 1000, 1000))
    Image.fromarray(np.full((64, 64, 3), 200, dtype=np.uint8)).save(folder / f"{scene_id}.quicklook.png")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("publish")
    level1 = root / "level1"
    level1.mkdir()
    files = [
        write_scene(level1, SCENE, "2021-07-01T20:00:00", TUK, SLUMPS_2021),
        write_scene(level1, "20220710_200000_00_2416", "2022-07-10T20:00:00", TUK, [(0, 0, 100, 160)]),
        write_scene(level1, "20230705_200000_00_2416", "2023-07-05T20:00:00", TUK, [(0, 0, 120, 170)]),
    ]
    write_rasters(level1, SCENE, "2021-07-01T20:00:00Z")
    done = run_script("rts-aggregate", *files, "-o", root / "products", "-q")
    assert done.returncode == 0, done.stderr
    model = conv_model(root / "model.onnx", name="tcvis", bands=("ndvi", "blue"))
    return root, model


@pytest.fixture(scope="module")
def site(inputs):
    root, model = inputs
    done = run_script("rts-publish", root / "products", "--level1", root / "level1", "--model", model, "-o",
                      root / "site", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(root / "site" / "index.html")]
    return root / "site"


def stac_objects(site: Path):
    catalog = pystac.Catalog.from_file(str(site / "catalog.json"))
    yield catalog
    for _, children, items in catalog.walk():
        yield from children
        yield from items


def test_site_holds_the_page_its_scripts_catalogue_and_tiles(site):
    for name in ("index.html", "app.js", "style.css", "catalog.json", "config.json",
                 "vendor/maplibre-gl/maplibre-gl.js", "vendor/maplibre-gl/LICENSE.txt", "vendor/pmtiles/pmtiles.js",
                 "vendor/pmtiles/LICENSE", "tiles/level2.pmtiles", "tiles/tracks.pmtiles", "tiles/coverage.pmtiles",
                 "tiles/h3.pmtiles", "tiles/track_index.json"):
        assert (site / name).is_file(), name
    page = (site / "index.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    config = json.loads((site / "config.json").read_text())
    assert config["years"] == [2021, 2022, 2023]
    assert [s["id"] for s in config["scenes"]] == [SCENE, "20220710_200000_00_2416", "20230705_200000_00_2416"]
    assert len(config["scenes"][0]["corners"]) == 4 and config["scenes"][0]["quicklook"].endswith(".quicklook.png")
    assert config["scenes"][1]["corners"] is None  # no probability COG: footprint from its extent, no image
    assert not list(site.parent.glob(".site-*"))  # no building folder left


def test_rerun_skips_and_overwrite_rebuilds(inputs, site):
    root, model = inputs
    before = (site / "config.json").stat().st_mtime_ns
    args = (root / "products", "--level1", root / "level1", "--model", model, "-o", site, "-q")
    again = run_script("rts-publish", *args)
    assert again.returncode == 0 and again.stdout.strip() == str(site / "index.html")
    assert (site / "config.json").stat().st_mtime_ns == before
    rebuilt = run_script("rts-publish", *args, "--overwrite")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (site / "config.json").stat().st_mtime_ns != before


def test_every_stac_object_is_valid_with_relative_links_and_true_checksums(site, tmp_path):
    kinds = {}
    for stac in stac_objects(site):
        data = stac.to_dict(transform_hrefs=False)
        assert errors_of(data) == [], stac.id
        kinds[data["type"]] = kinds.get(data["type"], 0) + 1
        raw = json.loads(Path(stac.get_self_href()).read_text())
        for link in raw["links"]:
            assert link["href"].startswith("./") or link["href"].startswith("../"), link
        for asset in raw.get("assets", {}).values():
            assert not asset["href"].startswith(("/", "file:")), asset["href"]
            path = (Path(stac.get_self_href()).parent / asset["href"]).resolve()
            assert path.is_file() and site.resolve() in path.parents
            assert asset["file:size"] == path.stat().st_size
            assert asset["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert kinds == {"Catalog": 1, "Collection": 6, "Feature": 3 + 4 + 1}  # scenes, products, a model
    moved = tmp_path / "elsewhere"
    shutil.copytree(site, moved)
    item = pystac.Catalog.from_file(str(moved / "catalog.json")).get_child("level1").get_item(SCENE)
    assert Path(item.assets["probability"].get_absolute_href()).is_file()
    assert str(moved) in item.assets["probability"].get_absolute_href()


def test_scene_and_model_items_carry_their_extensions(site):
    catalog = pystac.Catalog.from_file(str(site / "catalog.json"))
    scene = catalog.get_child("level1").get_item(SCENE).to_dict()
    probability = scene["assets"]["probability"]
    assert probability["proj:code"] == f"EPSG:{TUK[2]}" and probability["proj:shape"] == [1000, 1000]
    assert probability["raster:bands"][0]["nodata"] == 255 and probability["raster:bands"][0]["scale"] == 0.01
    assert probability["type"] == pystac.MediaType.COG
    assert scene["properties"]["processing:software"] == {"rts-ensemble": "0.1.0"}
    assert scene["properties"]["datetime"] == "2021-07-01T20:00:00Z"
    assert set(scene["assets"]) == {"probability", "mask", "polygons", "extent", "quicklook"}
    model = next(iter(catalog.get_child("models").get_items())).to_dict()
    assert model["properties"]["mlm:name"] == "tcvis"
    assert model["properties"]["mlm:input"][0]["bands"] == ["ndvi", "blue"]
    assert model["properties"]["mlm:input"][0]["input"]["shape"][1] == 2
    assert model["assets"]["model"]["mlm:artifact_type"] == "onnx"


def test_pmtiles_keep_display_attributes_and_each_track_history(inputs, site):
    root, _ = inputs
    level2 = geopandas.read_parquet(root / "products" / "level2.parquet")
    info = pyogrio.read_info(site / "tiles" / "level2.pmtiles")
    assert info["layer_name"] == "level2"
    assert {"track_id", "year", "area_m2", "detection_ratio", "history"} <= set(info["fields"])
    assert (info["dataset_metadata"]["minzoom"], info["dataset_metadata"]["maxzoom"]) == ("8", "15")
    tiles = pyogrio.read_dataframe(site / "tiles" / "level2.pmtiles")
    assert set(zip(tiles["track_id"], tiles["year"], strict=True)) == \
        set(zip(level2["track_id"], level2["year"], strict=True))
    grown = level2.loc[level2.groupby("track_id")["year"].transform("count").idxmax(), "track_id"]
    expected = [[int(y), round(a)] for y, a in level2[level2.track_id == grown].sort_values("year")[["year", "area_m2"]]
                .itertuples(index=False)]
    assert json.loads(tiles.loc[tiles.track_id == grown, "history"].iloc[0]) == expected
    assert len(expected) == 3
    tracks = pyogrio.read_dataframe(site / "tiles" / "tracks.pmtiles")
    assert set(tracks["track_id"]) == set(level2["track_id"])


@pytest.fixture
def server(site):
    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch(url, byte_range=None):
    request = urllib.request.Request(url, headers={"Range": byte_range} if byte_range else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def test_server_answers_range_requests_inside_the_site_only(site, server):
    archive = (site / "tiles" / "level2.pmtiles").read_bytes()
    status, headers, body = fetch(f"{server}/tiles/level2.pmtiles", "bytes=0-126")
    assert status == 206 and body == archive[:127] and body.startswith(b"PMTiles")
    assert headers["Content-Range"] == f"bytes 0-126/{len(archive)}"
    assert fetch(f"{server}/tiles/level2.pmtiles", "bytes=-10")[2] == archive[-10:]
    assert fetch(f"{server}/tiles/level2.pmtiles", f"bytes={len(archive) - 5}-")[2] == archive[-5:]
    assert fetch(f"{server}/tiles/level2.pmtiles", f"bytes={len(archive)}-")[0] == 416
    status, headers, body = fetch(f"{server}/tiles/level2.pmtiles")
    assert status == 200 and body == archive and headers["Accept-Ranges"] == "bytes"
    assert fetch(f"{server}/../publish0/products/level2.parquet")[0] == 404
    assert parse_range("bytes=5-2", 10) is None and parse_range("bytes=0-1,4-5", 10) is None
    assert parse_range("bytes=3-100", 10) == (3, 9)


def test_bad_inputs_one_line_and_no_partial_site(inputs, tmp_path):
    root, _ = inputs
    broken = tmp_path / "products"
    shutil.copytree(root / "products", broken)
    (broken / "level2.parquet").unlink()
    done = run_script("rts-publish", broken, "-o", tmp_path / "site")
    assert done.returncode == 2 and done.stdout == ""
    assert [line for line in done.stderr.splitlines() if line.startswith("error")] == \
        [f"error: {broken}: no level2.parquet in the products folder (rts-aggregate's output)"]
    assert not (tmp_path / "site").exists() and not list(tmp_path.glob(".site-*"))

    level1 = tmp_path / "level1"
    shutil.copytree(root / "level1", level1)
    (level1 / contract.prob_name(SCENE)).write_bytes(b"not a tiff")
    done = run_script("rts-publish", root / "products", "--level1", level1, "-o", tmp_path / "site", "-q")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {level1 / contract.prob_name(SCENE)}: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout.strip() == str(tmp_path / "site" / "index.html")
    scenes = json.loads((tmp_path / "site" / "config.json").read_text())["scenes"]
    assert [scene["id"] for scene in scenes] == ["20220710_200000_00_2416", "20230705_200000_00_2416"]
    again = run_script("rts-publish", root / "products", "--level1", level1, "-o", tmp_path / "site", "-q")
    assert again.returncode == 1 and again.stderr == done.stderr  # tried again, not skipped as complete

    strange_model = save_model(tmp_path / "strange.onnx", [helper.make_node("Identity", ["input"], ["output"])], [],
                               1, {"name": "strange", "bands": "ndvi"})
    done = run_script("rts-publish", root / "products", "--model", strange_model, "-o", tmp_path / "site-2", "-q")
    assert done.returncode == 1
    assert done.stderr == (f"error: {strange_model}: its rts record's bands is not a list of band names "
                           "(CONTRACT.md section 4)\n")
    assert not (tmp_path / "site-2" / "models").exists() and (tmp_path / "site-2" / "index.html").is_file()

    textual = tmp_path / "textual"
    shutil.copytree(root / "products", textual)
    level2 = geopandas.read_parquet(textual / "level2.parquet")
    level2.assign(year=level2["year"].astype(str)).to_parquet(textual / "level2.parquet")
    done = run_script("rts-publish", textual, "-o", tmp_path / "site-3")
    assert done.returncode == 2 and not (tmp_path / "site-3").exists()
    assert f"error: {textual}: level2.parquet: its year column holds string, not whole years" in done.stderr

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    done = run_script("rts-publish", root / "products", "-o", stranger)
    assert done.returncode == 2 and "not a site of rts-publish" in done.stderr
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]


def test_volume_of_the_longest_pair_joins_the_tracks_and_no_tile_is_over_500_kb(inputs, site, tmp_path):
    from pmtiles.reader import MmapSource, all_tiles
    from rts_publish import publish_site

    root, _ = inputs
    tracks = geopandas.read_parquet(root / "products" / "tracks.parquet")
    ids = tracks["track_id"].astype(str).tolist()
    volume = pandas.DataFrame({
        "feature_id": ids + ids[:1], "date_before": ["2021-07-01"] * len(ids) + ["2022-07-01"],
        "date_after": ["2023-07-01"] * len(ids) + ["2023-07-01"], "volume_change_m3": [-1000.0] * len(ids) + [-5.0],
        "volume_change_sigma_m3": [100.0] * (len(ids) + 1), "volume_loss_m3": [900.0] * (len(ids) + 1),
        "dh_mean_m": [-0.5] * (len(ids) + 1)})
    (tmp_path / "volume").mkdir()
    volume.to_parquet(tmp_path / "volume" / "volume.parquet")
    result = publish_site(root / "products", tmp_path / "site", volume=tmp_path / "volume")
    assert result.failed == [] and not result.skipped
    tiles = pyogrio.read_dataframe(result.site / "tiles" / "tracks.pmtiles")
    assert set(tiles["volume_change_m3"]) == {-1000.0}  # the longest pair, not the later one-year pair
    assert json.loads((result.site / "config.json").read_text())["layers"]["tracks"]["volume"] is True
    assert (result.site / "files" / "volume" / "volume.parquet").is_file()
    for layer in ("level2", "tracks", "coverage", "h3"):
        with open(site / "tiles" / f"{layer}.pmtiles", "rb") as stream:
            sizes = [len(data) for _, data in all_tiles(MmapSource(stream))]
        assert sizes and max(sizes) <= 500_000


def empty_products(inputs, folder: Path) -> Path:
    """The test products with every feature removed: a region observed without a slump."""
    root, _ = inputs
    folder.mkdir()
    for path in (root / "products").glob("*.parquet"):
        geopandas.read_parquet(path).iloc[:0].to_parquet(folder / path.name)
    return folder


def test_products_without_features_publish_a_page_over_the_arctic(inputs, tmp_path):
    products = empty_products(inputs, tmp_path / "products")
    done = run_script("rts-publish", products, "-o", tmp_path / "site", "-q")
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "site" / "config.json").read_text())
    assert config["layers"] == {} and config["years"] == [] and config["bounds"] == [-180.0, 60.0, 180.0, 84.0]
    assert not list((tmp_path / "site" / "tiles").glob("*.pmtiles"))
    for stac in stac_objects(tmp_path / "site"):
        assert errors_of(stac.to_dict(transform_hrefs=False)) == [], stac.id
