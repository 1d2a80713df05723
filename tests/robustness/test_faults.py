"""The robustness corpus: named bad inputs and faults across all the tools.

Each case asserts the exit status, the one error line naming the input at fault, that
nothing of it is left behind, and that the other inputs of the run completed. The
fault classes (docs/robustness.md): untrusted names, damaged files and verified
completeness, missing tags and partial ensembles, NaN and infinity, run-level options,
edge runs, and checkpoints that would run code.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
import torch

from rts_core import contract
from tests.infer.models import SCENE_ID, conv_model, write_stack
from tests.prep.builders import SCENE_ID as SCENE_ID_PREP
from tests.prep.builders import write_dem, write_scene, write_tcvis
from tests.robustness.conftest import check, copy, run


def rewrite(source: Path, target: Path, drop=(), values=None, dtype=None, nodata="drop", **tags) -> Path:
    """A copy of a raster with tags set or dropped, values replaced (plain GeoTIFF); with
    ``dtype`` its nodata value is dropped unless ``nodata="keep"``."""
    with rasterio.open(source) as src:
        profile = dict(src.profile, driver="GTiff")
        data = src.read() if values is None else values
        kept = {k: v for k, v in src.tags().items() if k not in drop}
        descriptions, scales, offsets = src.descriptions, src.scales, src.offsets
    if dtype is not None:
        profile.update(dtype=dtype, **({} if nodata == "keep" else {"nodata": None}))
        data = data.astype(dtype)
    for key in ("blockxsize", "blockysize", "tiled", "compress", "interleave"):
        profile.pop(key, None)
    target.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(**{**kept, **tags})
        for index, description in enumerate(descriptions, start=1):
            if description:
                dst.set_band_description(index, description)
        dst.scales, dst.offsets = scales, offsets
    return target


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def scene_of(path: Path) -> str:
    return Path(path).name.split(".")[0]


def probs_of(chain, index: int) -> list[Path]:
    scene = scene_of(chain.stacks[index])
    return [p for p in chain.probs if p.name.startswith(scene)]


# --- untrusted names -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../evil", "a/b", "v1.2"], ids=["climbs out", "slash", "dot"])
def test_a_model_name_that_is_no_file_name(chain, tmp_path, name):
    model = conv_model(tmp_path / "hostile.onnx", name=name)
    out = tmp_path / "deep" / "out"
    done = run("infer", *chain.stacks, "--model", model, "-o", out)
    check(done, 2, model, absent=[out, tmp_path / "evil.prob.tif"])
    assert "cannot be part of a file name" in done.errors[0]
    assert not [p for p in tmp_path.rglob("*.prob.tif")]


def test_a_stack_whose_scene_id_climbs_out(chain, tmp_path):
    bad = rewrite(chain.stacks[0], tmp_path / "in" / "bad.stack.tif", RTS_SCENE_ID="../../escaped")
    good = copy([chain.stacks[1]], tmp_path / "in")[0]
    out = tmp_path / "out"
    done = run("infer", bad, good, "--model", chain.models[0], "-o", out)
    check(done, 1, bad, out, present=[out / f"{scene_of(good)}.tcvis.prob.tif"])
    assert not list(tmp_path.rglob("escaped*"))


def test_probabilities_whose_scene_id_climbs_out(chain, tmp_path):
    bad = [rewrite(p, tmp_path / "in" / p.name, RTS_SCENE_ID="../x") for p in probs_of(chain, 0)]
    good = copy(probs_of(chain, 1), tmp_path / "in")
    out = tmp_path / "out"
    done = run("ensemble", *bad, *good, "-o", out)
    check(done, 1, bad[0], out,
          present=[out / contract.l1_name(scene_of(chain.stacks[1]))])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        name(scene_of(chain.stacks[1])) for name in (contract.prob_name, contract.mask_name, contract.l1_name,
                                                      contract.extent_name))


def test_a_probability_whose_model_name_climbs_out(chain, tmp_path):
    first, second = probs_of(chain, 0)
    bad = rewrite(first, tmp_path / "in" / first.name, RTS_MODEL="../m")
    good = copy([second, *probs_of(chain, 1)], tmp_path / "in")
    out = tmp_path / "out"
    done = run("ensemble", bad, *good, "-o", out)
    check(done, 1, bad, out, absent=[out / contract.l1_name(scene_of(first))],
          present=[out / contract.l1_name(scene_of(chain.stacks[1]))])
    assert "is not written" in done.errors[0]


def test_a_training_model_name_that_is_no_file_name(chain, tmp_path):
    done = run("train", "fit", *chain.stacks, "--labels", chain.world / "truth" / "rts.parquet", "--name", "../x",
               "-o", tmp_path / "m")
    assert done.returncode == 2 and "cannot be part of a file name" in done.stderr
    assert not (tmp_path / "m").exists()


# --- damaged files and verified completeness -------------------------------------------

def test_a_zero_byte_stack_under_its_final_name_is_made_again(chain, tmp_path):
    out = tmp_path / "stacks"
    first = run("prep", chain.scenes[0], "--dem", chain.world / "aux/dem.tif", "--tcvis",
                chain.world / "aux/tcvis.tif", "-o", out)
    assert first.returncode == 0, first.stderr
    stack = Path(first.stdout.strip())
    stack.write_bytes(b"")
    again = run("prep", chain.scenes[0], "--dem", chain.world / "aux/dem.tif", "--tcvis",
                chain.world / "aux/tcvis.tif", "-o", out)
    assert again.returncode == 0 and f"{stack} is damaged (an empty file); computing it again" in again.stderr
    with rasterio.open(stack) as dataset:
        assert dataset.count == 10


@pytest.mark.parametrize("damage", ["truncated", "zero bytes"])
def test_a_damaged_probability_is_made_again(chain, tmp_path, damage):
    out = tmp_path / "probs"
    args = (chain.stacks[0], "--model", chain.models[0], "-o", out)
    assert run("infer", *args).returncode == 0
    target = out / f"{scene_of(chain.stacks[0])}.tcvis.prob.tif"
    truncate(target) if damage == "truncated" else target.write_bytes(b"")
    again = run("infer", *args)
    assert again.returncode == 0 and f"{target} is damaged" in again.stderr
    with rasterio.open(target) as dataset:
        assert dataset.read(1).shape == (160, 160)


@pytest.mark.parametrize("which", [contract.l1_name, contract.mask_name], ids=["level1", "mask"])
def test_a_damaged_level1_output_is_made_again(chain, tmp_path, which):
    out = tmp_path / "level1"
    probs = probs_of(chain, 0)
    assert run("ensemble", *probs, "-o", out).returncode == 0
    target = out / which(scene_of(probs[0]))
    target.write_bytes(b"PAR1")
    again = run("ensemble", *probs, "-o", out)
    assert again.returncode == 0 and f"{target} is damaged" in again.stderr
    assert geopandas.read_parquet(out / contract.l1_name(scene_of(probs[0]))).crs is not None


@pytest.mark.parametrize("damage", ["truncated", "not a raster"])
def test_a_damaged_stack_among_good_ones(chain, tmp_path, damage):
    bad = copy([chain.stacks[0]], tmp_path / "in")[0]
    truncate(bad) if damage == "truncated" else bad.write_text("not a raster\n")
    good = copy([chain.stacks[1]], tmp_path / "in")[0]
    out = tmp_path / "out"
    done = run("infer", bad, good, "--model", chain.models[0], "-o", out)
    check(done, 1, bad, out, absent=[out / f"{scene_of(bad)}.tcvis.prob.tif"],
          present=[out / f"{scene_of(good)}.tcvis.prob.tif"])


def test_a_truncated_probability_among_good_ones(chain, tmp_path):
    first, second = copy(probs_of(chain, 0), tmp_path / "in")
    truncate(first)
    good = copy(probs_of(chain, 1), tmp_path / "in")
    out = tmp_path / "out"
    done = run("ensemble", first, second, *good, "-o", out)
    check(done, 1, first, out, absent=[out / contract.l1_name(scene_of(first))],
          present=[out / contract.l1_name(scene_of(good[0]))])


def test_a_truncated_level1_file_stops_the_aggregation(chain, tmp_path):
    files = copy(chain.level1 + [p.with_name(p.name.replace(".l1.", ".extent.")) for p in chain.level1],
                 tmp_path / "in")
    truncate(files[0])
    done = run("aggregate", *files[:2], "-o", tmp_path / "products")
    check(done, 1, files[0], absent=[tmp_path / "products"])


def test_a_truncated_reference_for_validation(chain, tmp_path):
    reference = copy([chain.world / "truth" / "rts.parquet"], tmp_path)[0]
    truncate(reference)
    done = run("validate", "objects", chain.level1[0], reference, "-o", tmp_path / "v")
    check(done, 1, reference, absent=[tmp_path / "v"])


@pytest.mark.parametrize("tool, change", [
    ("infer", ["--overlap", "16"]), ("ensemble", ["--threshold", "0.7"]), ("prep", ["--tpi-radius", "50"])])
def test_a_rerun_with_other_options_computes_again(chain, tmp_path, tool, change):
    out = tmp_path / "out"
    if tool == "infer":
        args = [chain.stacks[0], "--model", chain.models[0]]
    elif tool == "ensemble":
        args = probs_of(chain, 0)
    else:
        args = [chain.scenes[0], "--dem", chain.world / "aux/dem.tif", "--tcvis", chain.world / "aux/tcvis.tif"]
    first = run(tool, *args, "-o", out)
    assert first.returncode == 0, first.stderr
    target = Path(first.stdout.split()[0])
    before = target.stat().st_mtime_ns
    assert run(tool, *args, "-o", out).returncode == 0 and target.stat().st_mtime_ns == before  # same: skipped
    again = run(tool, *args, *change, "-o", out)
    assert again.returncode == 0 and target.stat().st_mtime_ns != before
    assert "made from other inputs or options" in again.stderr


def test_a_changed_input_is_prepped_again(chain, tmp_path):
    scene = copy([chain.scenes[0]], tmp_path / "scene")[0]
    args = [scene, "--dem", chain.world / "aux/dem.tif", "--tcvis", chain.world / "aux/tcvis.tif", "-o", tmp_path / "s"]
    target = Path(run("prep", *args).stdout.strip())
    before = target.stat().st_mtime_ns
    os.utime(scene, ns=(before + 10**9, before + 10**9))
    assert run("prep", *args).returncode == 0 and target.stat().st_mtime_ns != before


# --- missing tags and partial ensembles ------------------------------------------------

def test_a_probability_without_its_model_tag_is_no_one_model_ensemble(chain, tmp_path):
    first, second = probs_of(chain, 0)
    untagged = rewrite(first, tmp_path / "in" / first.name, drop=[contract.TAG_MODEL])
    good = copy([second, *probs_of(chain, 1)], tmp_path / "in")
    out = tmp_path / "out"
    done = run("ensemble", untagged, *good, "-o", out)
    check(done, 1, untagged, out, absent=[out / contract.l1_name(scene_of(first))],
          present=[out / contract.l1_name(scene_of(good[1]))])
    again = run("ensemble", untagged, *good, "-o", out)  # a rerun does not skip it as complete
    assert again.returncode == 1 and not (out / contract.l1_name(scene_of(first))).exists()


def test_a_scene_lacking_one_of_the_runs_models(chain, tmp_path):
    lone = probs_of(chain, 0)[0]
    out = tmp_path / "out"
    done = run("ensemble", lone, *probs_of(chain, 1), "-o", out)
    check(done, 1, lone, out, absent=[out / contract.l1_name(scene_of(lone))],
          present=[out / contract.l1_name(scene_of(chain.stacks[1]))])
    assert "lacks the probabilities of model(s)" in done.errors[0]
    partial = run("ensemble", lone, *probs_of(chain, 1), "--allow-partial", "-o", tmp_path / "partial")
    assert partial.returncode == 0 and "--allow-partial" in partial.stderr
    frame = geopandas.read_parquet(tmp_path / "partial" / contract.l1_name(scene_of(lone)))
    assert list(frame.columns) == list(contract.L1_COLUMNS)


def test_models_named_by_the_run_that_a_scene_lacks(chain, tmp_path):
    probs = probs_of(chain, 0)
    done = run("ensemble", *probs, "--models", "tcvis,notcvis,third", "-o", tmp_path / "out")
    check(done, 1, min(probs), absent=[tmp_path / "out" / contract.l1_name(scene_of(probs[0]))])
    assert "third" in done.errors[0]


@pytest.mark.parametrize("fault, tags, reason", [
    ("no scene id", {"drop": [contract.TAG_SCENE_ID]}, "lacks the tag"),
    ("bad acquisition time", {"RTS_ACQUIRED": "yesterday"}, "Invalid isoformat"),
    ("broken preprocessing record", {contract.TAG_PREPROCESSING: "{not json"}, "not JSON"),
])
def test_a_stack_with_a_bad_tag(chain, tmp_path, fault, tags, reason):
    bad = rewrite(chain.stacks[0], tmp_path / "in" / chain.stacks[0].name, **tags)
    good = copy([chain.stacks[1]], tmp_path / "in")[0]
    out = tmp_path / "out"
    done = run("infer", bad, good, "--model", chain.models[0], "-o", out)
    check(done, 1, bad, out, present=[out / f"{scene_of(good)}.tcvis.prob.tif"])
    assert reason in done.errors[0]


def test_a_stack_lacking_a_band(chain, tmp_path):
    short = write_stack(tmp_path / "in" / f"{SCENE_ID}.stack.tif", shape=(40, 40), bands=("blue", "red"))
    good = copy([chain.stacks[1]], tmp_path / "in")[0]
    out = tmp_path / "out"
    done = run("infer", short, good, "--model", chain.models[0], "-o", out)
    check(done, 1, short, out, present=[out / f"{scene_of(good)}.tcvis.prob.tif"])
    assert "lacks band(s) ndvi" in done.errors[0]


# --- NaN and infinity ------------------------------------------------------------------

def test_a_float_stack_full_of_nan_is_all_no_data(chain, tmp_path):
    with rasterio.open(chain.stacks[0]) as dataset:
        nan = np.full((dataset.count, *dataset.shape), np.nan, np.float32)
    stack = rewrite(chain.stacks[0], tmp_path / chain.stacks[0].name, values=nan, dtype="float32")
    done = run("infer", stack, "--model", chain.models[0], "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    with rasterio.open(Path(done.stdout.strip())) as dataset:
        assert (dataset.read(1) == contract.PROB_NODATA).all()


def test_nan_in_float_probabilities_is_no_data(chain, tmp_path):
    rewritten = []
    for path in probs_of(chain, 0):
        with rasterio.open(path) as dataset:
            values = dataset.read().astype(np.float32) * 0.01
            values[dataset.read_masks() == 0] = np.nan
        values[:, :, :40] = np.nan
        rewritten.append(rewrite(path, tmp_path / "in" / path.name, values=values, dtype="float32"))
    for path in rewritten:
        with rasterio.open(path, "r+") as dataset:
            dataset.scales, dataset.offsets = (1.0,), (0.0,)
    done = run("ensemble", *rewritten, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    scene = scene_of(rewritten[0])
    with rasterio.open(tmp_path / "out" / contract.mask_name(scene)) as mask:
        assert (mask.read(1)[:, :40] == contract.MASK_NODATA).all()
        transform = mask.transform
    extent = geopandas.read_parquet(tmp_path / "out" / contract.extent_name(scene))
    assert extent.total_bounds[0] >= transform.c + 40 * 3 - 3.01  # NaN columns outside (simplified within a pixel)


def nan_stripes(path: Path, target: Path, width_px: int, value=np.nan) -> Path:
    """A float copy of a raster with every other stripe of ``width_px`` columns set to
    ``value`` (its nodata value kept)."""
    with rasterio.open(path) as dataset:
        values = dataset.read().astype(np.float32)
    values[..., (np.arange(values.shape[-1]) // width_px) % 2 == 0] = value
    return rewrite(path, target, values=values, dtype="float32", nodata="keep")


@pytest.mark.parametrize("which, value, stripe_px", [("dem", np.nan, 50), ("tcvis", np.inf, 4)])
def test_nan_or_infinity_in_an_auxiliary_raster_is_invalid(chain, tmp_path, which, value, stripe_px):
    aux = chain.world / "aux"
    rasters = {"dem": aux / "dem.tif", "tcvis": aux / "tcvis.tif"}
    rasters[which] = nan_stripes(rasters[which], tmp_path / f"{which}.tif", stripe_px, value)  # 100 m, 120 m
    done = run("prep", chain.scenes[0], "--dem", rasters["dem"], "--tcvis", rasters["tcvis"], "-o", tmp_path / "s")
    assert done.returncode == 0, done.stderr
    with rasterio.open(Path(done.stdout.strip())) as dataset:
        valid = dataset.dataset_mask() > 0
    with rasterio.open(chain.stacks[0]) as original:
        before = original.dataset_mask() > 0
    assert 0 < valid.sum() < 0.8 * before.sum() and not (valid & ~before).any()


def test_nan_in_the_land_cover_counts_as_water(chain, tmp_path):
    aux = chain.world / "aux"
    landcover = nan_stripes(aux / "landcover.tif", tmp_path / "lc.tif", 10**6)  # one stripe: all of it
    done = run("prep", chain.scenes[0], "--dem", aux / "dem.tif", "--tcvis", aux / "tcvis.tif", "--landcover",
               landcover, "-o", tmp_path / "s")
    assert done.returncode == 0, done.stderr
    with rasterio.open(Path(done.stdout.strip())) as dataset:
        water = dataset.read(dataset.descriptions.index("water") + 1, masked=True)
    assert (water.compressed() == 1).all()


@pytest.mark.parametrize("side", ["prediction", "reference"])
def test_nan_in_a_validation_raster_is_not_counted(chain, tmp_path, side):
    prob = probs_of(chain, 0)[0]
    with rasterio.open(prob) as dataset:
        values = dataset.read().astype(np.float32) * 0.01
        values[dataset.read_masks() == 0] = 0
        total = dataset.width * dataset.height
    values[:, :80] = np.nan
    nan_raster = rewrite(prob, tmp_path / "nan.tif", values=values, dtype="float32")
    with rasterio.open(nan_raster, "r+") as dataset:
        dataset.scales = (1.0,)
    plain = rewrite(prob, tmp_path / "plain.tif", values=np.nan_to_num(values), dtype="float32")
    with rasterio.open(plain, "r+") as dataset:
        dataset.scales = (1.0,)
    pred, ref = (nan_raster, plain) if side == "prediction" else (plain, nan_raster)
    done = run("validate", "pixels", pred, ref, "-o", tmp_path / "v")
    assert done.returncode == 0, done.stderr
    overall = json.loads((tmp_path / "v" / "metrics.json").read_text())["overall"]
    assert overall["tp"] + overall["fp"] + overall["fn"] + overall["tn"] == total - 80 * 160


# --- run-level options: one line, exit 2, no input touched -----------------------------

def test_an_unknown_device(chain, tmp_path):
    done = run("infer", *chain.stacks, "--model", chain.models[0], "--device", "tpu", "-o", tmp_path / "out")
    check(done, 2, "--device tpu", absent=[tmp_path / "out"])


def test_an_unreadable_model(chain, tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x01 not a model")
    done = run("infer", *chain.stacks, "--model", chain.models[0], "--model", garbage, "-o", tmp_path / "out")
    check(done, 2, garbage, absent=[tmp_path / "out"])


def test_two_models_of_one_name(chain, tmp_path):
    twin = conv_model(tmp_path / "twin.onnx", name="tcvis")
    done = run("infer", *chain.stacks, "--model", chain.models[0], "--model", twin, "-o", tmp_path / "out")
    check(done, 2, f"{chain.models[0]}, {twin}", absent=[tmp_path / "out"])


@pytest.mark.parametrize("option", ["--dem", "--tcvis"])
def test_an_unusable_auxiliary_raster(chain, tmp_path, option):
    aux = chain.world / "aux"
    rasters = {"--dem": aux / "dem.tif", "--tcvis": aux / "tcvis.tif"}
    broken = tmp_path / "broken.tif"
    if option == "--dem":
        broken.write_text("not a raster")
    else:
        with rasterio.open(broken, "w", driver="GTiff", width=4, height=4, count=3, dtype="uint8") as dst:
            dst.write(np.zeros((3, 4, 4), np.uint8))  # no CRS
    rasters[option] = broken
    done = run("prep", *chain.scenes, "--dem", rasters["--dem"], "--tcvis", rasters["--tcvis"], "-o", tmp_path / "s")
    check(done, 2, f"{option} {broken}", absent=[tmp_path / "s"])


@pytest.mark.parametrize("water", ["broken.tif", "missing.gpkg"])
def test_an_unusable_water_layer(chain, tmp_path, water):
    path = tmp_path / water
    if water == "broken.tif":
        path.write_text("not a raster")
    done = run("ensemble", *chain.probs, "--water", path, "-o", tmp_path / "out")
    check(done, 2, f"--water {path}", absent=[tmp_path / "out"])


@pytest.mark.parametrize("tool", ["prep", "infer", "ensemble", "aggregate", "validate"])
def test_an_output_folder_below_a_plain_file(chain, tmp_path, tool):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    out = blocker / "out"
    args = {"prep": [chain.scenes[0], "--dem", chain.world / "aux/dem.tif", "--tcvis", chain.world / "aux/tcvis.tif"],
            "infer": [chain.stacks[0], "--model", chain.models[0]],
            "ensemble": probs_of(chain, 0),
            "aggregate": chain.level1,
            "validate": ["objects", chain.level1[0], chain.world / "truth" / "rts.parquet"]}[tool]
    done = run(tool, *args, "-o", out)
    check(done, 2, out)
    assert "is not a folder" in done.errors[0]


# --- edge runs -------------------------------------------------------------------------

def empty_level1(chain, folder: Path) -> list[Path]:
    files = []
    for path in chain.level1:
        frame = geopandas.read_parquet(path)
        files.append(folder / path.name)
        folder.mkdir(parents=True, exist_ok=True)
        frame.iloc[:0].to_parquet(files[-1])
        copy([path.with_name(path.name.replace(".l1.", ".extent."))], folder)
    return files


PRODUCT_COLUMNS = {"level1": list(contract.L1_COLUMNS), "level2": list(contract.LEVEL2_COLUMNS),
                   "tracks": list(contract.TRACK_COLUMNS), "h3": list(contract.H3_COLUMNS)}


@pytest.mark.parametrize("case", ["no detections", "years without data", "a single scene"])
def test_edge_runs_give_products_with_the_full_schema(chain, tmp_path, case):
    inputs = empty_level1(chain, tmp_path / "in") if case == "no detections" else chain.level1
    extra = ["--years", "1999-2000"] if case == "years without data" else []
    if case == "a single scene":
        inputs = inputs[:1]
    done = run("aggregate", *inputs, *extra, "-o", tmp_path / "products")
    assert done.returncode == 0 and not done.errors, done.stderr
    for name, columns in PRODUCT_COLUMNS.items():
        frame = geopandas.read_parquet(tmp_path / "products" / f"{name}.parquet")
        assert list(frame.columns) == columns and frame.crs.to_epsg() == 4326
        if case != "a single scene":
            assert len(frame) == 0 or name == "h3"


def test_an_all_invalid_scene_gives_empty_level1(chain, tmp_path):
    rewritten = []
    for path in probs_of(chain, 0):
        with rasterio.open(path) as dataset:
            nodata = np.full((1, *dataset.shape), contract.PROB_NODATA, np.uint8)
        rewritten.append(rewrite(path, tmp_path / "in" / path.name, values=nodata))
    done = run("ensemble", *rewritten, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    scene = scene_of(rewritten[0])
    level1 = geopandas.read_parquet(tmp_path / "out" / contract.l1_name(scene))
    extent = geopandas.read_parquet(tmp_path / "out" / contract.extent_name(scene))
    assert len(level1) == 0 and list(level1.columns) == list(contract.L1_COLUMNS)
    assert list(extent.columns) == list(contract.EXTENT_COLUMNS) and extent.geometry.iloc[0].is_empty


def test_pixel_validation_of_rasters_that_do_not_overlap(chain, tmp_path):
    prob = probs_of(chain, 0)[0]
    with rasterio.open(prob) as dataset:
        far = dataset.transform * dataset.transform.translation(100_000, 0)
    elsewhere = rewrite(prob, tmp_path / "elsewhere.tif")
    with rasterio.open(elsewhere, "r+") as dataset:
        dataset.transform = far
    done = run("validate", "pixels", prob, elsewhere, "-o", tmp_path / "v")
    check(done, 1, elsewhere, absent=[tmp_path / "v"])
    assert "do they overlap" in done.errors[0]


def test_object_validation_without_predictions(chain, tmp_path):
    empty = empty_level1(chain, tmp_path / "in")[0]
    done = run("validate", "objects", empty, chain.world / "truth" / "rts.parquet", "-o", tmp_path / "v")
    assert done.returncode == 0, done.stderr
    overall = json.loads((tmp_path / "v" / "metrics.json").read_text())["overall"]
    assert overall["n_pred"] == 0 and overall["tp"] == 0 and overall["precision"] == 0


def test_a_scene_with_no_valid_pixel(tmp_path):
    udm2 = np.zeros((8, 40, 48), np.uint8)
    udm2[5] = 1  # cloud everywhere
    scene = write_scene(tmp_path / "cloudy", size=(40, 48), udm2=udm2)  # SCENE_ID_PREP
    good = write_scene(tmp_path / "clear", size=(40, 48), scene_id="20220714_201531_42_24a3")
    dem = write_dem(tmp_path / "dem.tif", lambda x, y: 10 + 0.01 * x + 0 * y)
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    done = run("prep", scene.parent, good, "--dem", dem, "--tcvis", tcvis, "-o", tmp_path / "s")
    check(done, 1, scene.parent, tmp_path / "s", absent=[tmp_path / "s" / contract.stack_name(SCENE_ID_PREP)],
          present=[tmp_path / "s" / "20220714_201531_42_24a3.stack.tif"])
    assert "no valid pixel" in done.errors[0]


# --- checkpoints that would run code ---------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    _Payload.marker = tmp_path / "pwned"
    checkpoint = tmp_path / "evil.pt"
    with open(checkpoint, "wb") as handle:
        pickle.dump({"config": {"name": "x", "bands": ["ndvi"]}, "state_dict": _Payload()}, handle)
    done = run("train", "export", checkpoint, "-o", tmp_path / "m.onnx")
    check(done, 1, checkpoint, absent=[tmp_path / "m.onnx", tmp_path / "pwned"])
    assert "refused" in done.errors[0] and "run code" in done.errors[0]


def test_a_checkpoint_that_is_no_checkpoint(tmp_path):
    checkpoint = tmp_path / "garbage.pt"
    checkpoint.write_bytes(b"\x80\x04 not a pickle")
    done = run("train", "export", checkpoint, "-o", tmp_path / "m.onnx")
    check(done, 1, checkpoint, absent=[tmp_path / "m.onnx"])
    torch.save({"config": {"name": "x"}, "state_dict": {}}, tmp_path / "plain.pt")  # plain data loads fine
    plain = run("train", "export", tmp_path / "plain.pt", "-o", tmp_path / "p.onnx")
    assert plain.returncode == 1 and "refused" not in plain.stderr
