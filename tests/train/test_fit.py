"""rts-train fit on a small synthetic world, on CPU."""

import csv
import json
import shutil
import sys
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
from rasterio import features

from rts_train.export import read_metadata
from tests.conftest import run_script, synth_and_prep

pytestmark = pytest.mark.slow  # fits networks on CPU

BIN = Path(sys.executable).parent
SMALL = ["--encoder", "resnet18", "--encoder-depth", "3", "--decoder-channels", "64,32,16", "--tile-size", "128",
         "--batch-size", "8", "--seed", "1",
         "--threads", "1"]  # one core: make test runs two workers


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    root = tmp_path_factory.mktemp("fitworld")
    world, stacks = synth_and_prep(root, "--scenes 6 --size 320 --years 2022,2023,2024 --seed 5")
    return root, world, stacks


def constant_f1(world: Path, stack: str) -> float:
    """F1 of predicting "slump" everywhere on the labelled pixels of a scene."""
    with rasterio.open(stack) as dataset:
        scene_id = dataset.tags()["RTS_SCENE_ID"]
        truth = geopandas.read_parquet(world / "truth" / "rts.parquet")
        mine = truth[truth.scene_id == scene_id].to_crs(dataset.crs)
        slump = features.rasterize(mine.geometry, out_shape=dataset.shape, transform=dataset.transform)
        valid = dataset.dataset_mask() > 0
    share = (slump[valid] > 0).mean()
    return 2 * share / (1 + share)


def test_fit_learns_far_better_than_a_constant(stacks):
    root, world, paths = stacks
    out = root / "model"
    val = Path(paths[-1]).name.split(".")[0]
    done = run_script("rts-train", "fit", *paths, "--labels", world / "truth" / "rts.parquet", "--footprints",
                      world / "truth" / "extent.parquet", "--bands", "notcvis", "--epochs", "3", "--steps", "12",
                      "--val-scenes", val, "-o", out, *SMALL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(out / "notcvis.onnx")]
    assert {p.name for p in out.iterdir()} == {"notcvis.onnx", "checkpoint.pt", "metrics.csv", "training.png"}
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "val_loss", "precision", "recall", "f1", "iou"} <= set(rows[0])
    best = max(float(r["f1"]) for r in rows)
    baseline = constant_f1(world, paths[-1])
    assert baseline < 0.15
    assert best > 0.4 and best > 4 * baseline, (best, baseline)
    # the model carries what its training stacks were made with
    with rasterio.open(paths[0]) as dataset:
        record = json.loads(dataset.tags()["RTS_PREPROCESSING"])
    assert read_metadata(out / "notcvis.onnx").preprocessing == record
    assert record["tpi_radius_m"] == 100.0 and record["slope_method"] == "horn"
    # rerun with the same inputs and options: skipped, same path printed
    args = [*paths, "--labels", world / "truth" / "rts.parquet", "--footprints", world / "truth" / "extent.parquet",
            "--bands", "notcvis", "--epochs", "3", "--steps", "12", "--val-scenes", val, "-o", out, *SMALL]
    before = (out / "notcvis.onnx").stat().st_mtime_ns
    again = run_script("rts-train", "fit", *args)
    assert again.returncode == 0 and again.stdout.strip() == str(out / "notcvis.onnx")
    assert (out / "notcvis.onnx").stat().st_mtime_ns == before and "skipped" in again.stderr
    # with other options the model is fitted again (CONTRACT §1: complete means made from these options)
    other = run_script("rts-train", "fit", *args[:-len(SMALL) - 2], "--epochs", "1", "--steps", "1", "-o", out, *SMALL)
    assert other.returncode == 0, other.stderr
    assert (out / "notcvis.onnx").stat().st_mtime_ns != before
    assert len((out / "metrics.csv").read_text().splitlines()) == 2  # one epoch


def test_fit_is_deterministic_on_cpu(stacks, tmp_path):
    root, world, paths = stacks
    results = []
    for name in ("a", "b"):
        done = run_script("rts-train", "fit", *paths[:3], "--labels", world / "truth" / "rts.parquet",
                          "--epochs", "1", "--steps", "2", "--val-fraction", "0.3", "-o", tmp_path / name, *SMALL)
        assert done.returncode == 0, done.stderr
        results.append((tmp_path / name / "metrics.csv").read_text().splitlines()[1])
    assert results[0] == results[1]


def test_stacks_made_differently_cannot_train_one_model(stacks, tmp_path):
    root, world, paths = stacks
    odd = tmp_path / Path(paths[0]).name
    shutil.copy(paths[0], odd)
    with rasterio.open(odd, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        record = json.loads(dataset.tags()["RTS_PREPROCESSING"])
        dataset.update_tags(RTS_PREPROCESSING=json.dumps({**record, "tpi_radius_m": 50.0}))
    done = run_script("rts-train", "fit", odd, *paths[1:], "--labels", world / "truth" / "rts.parquet",
                      "--epochs", "1", "--steps", "1", "-o", tmp_path / "m", *SMALL)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the training stacks were made differently: tpi_radius_m" in errors[0]
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").glob("*.onnx"))


def test_bad_inputs(stacks, tmp_path):
    root, world, paths = stacks
    other = geopandas.read_parquet(world / "truth" / "rts.parquet")
    other["scene_id"] = "20200101_000000_00_0000"
    other.to_parquet(tmp_path / "elsewhere.parquet")
    done = run_script("rts-train", "fit", *paths, "--labels", tmp_path / "elsewhere.parquet", "-o", tmp_path / "m",
                      *SMALL)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no label matches any stack" in errors[0]
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())

    with rasterio.open(paths[0]) as src:
        profile = src.profile
        data = src.read()[:7]
        tags = src.tags()
        names = src.descriptions[:7]
    short = tmp_path / Path(paths[0]).name
    profile.update(count=7)
    with rasterio.open(short, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(**tags)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
    done = run_script("rts-train", "fit", short, *paths[1:], "--labels", world / "truth" / "rts.parquet",
                      "--bands", "tcvis", "--epochs", "1", "--steps", "1", "-o", tmp_path / "m2", *SMALL)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {short}: stack lacks band(s) tc_brightness, tc_greenness, tc_wetness "
                      "needed by the model"]
    assert done.returncode == 1  # the other stacks still trained a model
    assert (tmp_path / "m2" / "tcvis.onnx").exists()
    assert np.isfinite(float((tmp_path / "m2" / "metrics.csv").read_text().splitlines()[1].split(",")[1]))
