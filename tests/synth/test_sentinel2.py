"""rts-synth --sensor sentinel2: the world as Sentinel-2 L2A products that rts-prep reads,
SAFE folders and STAC items, both sides of baseline 04.00, SCL from the scene's clouds."""

import subprocess
import sys
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
import shapely
import yaml

from rts_core import contract
from tests.conftest import run_script

ROOT = Path(__file__).resolve().parents[2]
WORLD_ARGS = ["--scenes", "4", "--size", "320", "--years", "2021,2022", "--seed", "3"]


@pytest.fixture(scope="module")
def sentinel2_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2world")
    done = run_script("rts-synth", "-o", root / "world", "--sensor", "sentinel2", *WORLD_ARGS)
    assert done.returncode == 0, done.stderr
    products = done.stdout.split()
    world = root / "world"
    prepped = run_script("rts-prep", *products, "--dem", world / "aux" / "dem.tif", "--tcvis",
                         world / "aux" / "tcvis.tif", "-o", root / "stacks")
    assert prepped.returncode == 0, prepped.stderr
    return world, products, prepped.stdout.split()


def test_products_take_both_forms_and_both_baselines(sentinel2_world):
    world, products, stacks = sentinel2_world
    assert len(products) == 4 and len(stacks) == 4
    assert sum(p.endswith(".SAFE") for p in products) == 2 and sum(p.endswith("item.json") for p in products) == 2
    assert any("_N0301_" in p for p in products) and any("_N0509_" in p for p in products)
    ids = [line.split(",")[0] for line in (world / "scenes.csv").read_text().splitlines()[1:]]
    assert sorted(ids) == sorted(s.split("/")[-1].removesuffix(contract.STACK_SUFFIX) for s in stacks)
    truth = geopandas.read_parquet(world / "truth" / "rts.parquet")
    assert set(truth["scene_id"]) <= set(ids) and (truth.to_crs(6931).area >= 1000 - 1).all()  # 10 px at 10 m
    for stack in stacks:
        with rasterio.open(stack) as dataset:
            assert dataset.res == (10.0, 10.0) and dataset.tags()[contract.TAG_SENSOR] == "Sentinel-2"


def test_reflectance_is_the_same_on_both_sides_of_the_baseline(sentinel2_world):
    """A product from 04.00 on stores DN = reflectance x 10000 + 1000; the stack takes the
    offset off again, so stacks of both baselines hold reflectance of the same world."""
    world, products, stacks = sentinel2_world
    product = Path(next(p for p in products if "_N0509_" in p))
    folder = product if product.name.endswith(".SAFE") else product.parent  # a SAFE folder or a STAC item's
    satellite, _, when, _, _, tile, _ = folder.name.removesuffix(".SAFE").split("_")
    stack = next(s for s in stacks if Path(s).name == f"{satellite}_{tile}_{when}{contract.STACK_SUFFIX}")
    (band,) = folder.glob("GRANULE/*/IMG_DATA/R10m/*_B04_10m.jp2") if folder is product else [folder / "B04.tif"]
    with rasterio.open(band) as dataset:
        dn = dataset.read(1).astype(int)
    with rasterio.open(stack) as dataset:
        stored, valid = dataset.read(3).astype(int), dataset.dataset_mask() > 0
    assert valid.mean() > 0.5
    np.testing.assert_array_equal(stored[valid], dn[valid] - 1000)
    means = []
    for path in stacks:
        with rasterio.open(path) as dataset:
            red, ok = dataset.read(3).astype(int), dataset.dataset_mask() > 0
        means.append(red[ok].mean() * 1e-4)
    assert all(0.02 < m < 0.12 for m in means), means  # tundra's red reflectance, neither shifted by 0.1


def test_clouds_of_the_scene_are_invalid_in_its_stack(sentinel2_world):
    world, products, stacks = sentinel2_world
    conditions = geopandas.read_parquet(world / "truth" / "conditions.parquet")
    clouds = conditions[conditions["kind"] == "cloud"]
    checked = 0
    for scene_id, group in clouds.groupby("scene_id"):
        stack = next(s for s in stacks if scene_id in s)
        with rasterio.open(stack) as dataset:
            valid = dataset.dataset_mask() > 0
            core = shapely.union_all(group.to_crs(dataset.crs).geometry.values).buffer(-30)
            rows, cols = np.indices(valid.shape)
            xs, ys = rasterio.transform.xy(dataset.transform, rows.ravel(), cols.ravel())
            inside = shapely.contains_xy(core, np.asarray(xs), np.asarray(ys)).reshape(valid.shape)
        if inside.any():
            assert not valid[inside].any(), scene_id
            checked += 1
    assert checked >= 1


def test_the_workflow_names_each_product_as_rts_prep_does(sentinel2_world, tmp_path):
    """workflow/Snakefile takes SAFE folders and STAC items and plans each stack under the
    scene id rts-prep gives it (a dry run: nothing executes)."""
    world, products, stacks = sentinel2_world
    listed = tmp_path / "products.txt"
    listed.write_text("\n".join(products) + "\n")
    config = {"scenes": str(listed), "dem": str(world / "aux" / "dem.tif"), "tcvis": str(world / "aux" / "tcvis.tif"),
              "models": {"tcvis": str(ROOT / "models" / "demo-s2" / "tcvis.onnx")}, "out": str(tmp_path / "run")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"),
                           "--configfile", str(tmp_path / "config.yaml"), "-n"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    planned = {Path(line.split("output:")[1].strip()).name for line in done.stdout.splitlines()
               if "output:" in line and line.strip().endswith(contract.STACK_SUFFIX)}
    assert planned == {Path(s).name for s in stacks}
