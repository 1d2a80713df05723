"""Issue #28's causes 5 and 6: a folder named like a dead run's temporary file, and NaN
in a model's metadata or outputs."""

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio
from onnx import TensorProto, helper

from rts_core import atomic, contract
from rts_prep.encoding import NODATA
from tests.infer.golden import TCVIS, conv_over, stack
from tests.infer.models import save_model
from tests.robustness.conftest import run

SCENE = "20230715_201234_12_24a3"


@pytest.mark.parametrize("key, value, reason", [
    ("scale", [float("nan")] * 10, "metadata scale"), ("offset", [float("inf")] + [0.0] * 9, "metadata offset"),
    ("clip", [float("nan"), 1.0], "metadata clip"), ("clip", [1.0, 0.0], "is no range")])
def test_nan_or_nonsense_in_a_models_metadata_stops_the_run(tmp_path, key, value, reason):
    path = stack(tmp_path / f"{SCENE}.stack.tif", (80, 90), seed=1)
    model = conv_over(tmp_path / "m.onnx", "m", TCVIS, 1)
    proto = onnx.load(str(model))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["rts"])
    meta[key] = value
    helper.set_model_props(proto, {"rts": json.dumps(meta)})  # json writes NaN and Infinity
    onnx.save(proto, str(model))
    done = run("infer", path, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 2 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {model}: ") and reason in done.errors[0]
    assert not (tmp_path / "out").exists()


def test_a_model_whose_output_is_nan_writes_no_data_there_not_values(tmp_path):
    """Log of the normalised NDVI: NaN where it is negative. Those pixels are no-data
    (they used to be written as 0, valid); the others keep the model's value."""
    path = stack(tmp_path / f"{SCENE}.stack.tif", (150, 170), seed=2)
    nodes = [helper.make_node("Log", ["input"], ["output"])]
    model = save_model(tmp_path / "log.onnx", nodes, [], 1, {"name": "log", "bands": ["ndvi"], "scale": [50.0],
                                                             "offset": [0.0], "tile_size": 64, "overlap": 16})
    done = run("infer", path, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "model log gave" in done.stderr and "NaN or infinite: written as no-data" in done.stderr
    with rasterio.open(path) as dataset:
        ndvi = dataset.read(dataset.descriptions.index("ndvi") + 1) * dataset.scales[
            dataset.descriptions.index("ndvi")]
    with rasterio.open(tmp_path / "out" / f"{SCENE}.log.prob.tif") as dataset:
        stored = dataset.read(1)
    negative, positive = ndvi * 50 < -1e-6, ndvi * 50 > 1e-6
    assert negative.mean() > 0.05 and positive.mean() > 0.5
    assert (stored[negative] == 255).all()  # no-data where the model gave NaN
    interior = positive.copy()
    interior[:8], interior[-8:], interior[:, :8], interior[:, -8:] = False, False, False, False
    assert (stored[interior] <= 100).mean() > 0.9  # the rest scored (overlaps with NaN tiles aside)


def test_a_folder_named_like_a_dead_runs_temporary_is_left_alone(tmp_path):
    path = stack(tmp_path / f"{SCENE}.stack.tif", (60, 60), seed=1)
    model = conv_over(tmp_path / "m.onnx", "m", TCVIS, 1)
    out = tmp_path / "out"
    folder = atomic.temporary_path(out / f"{SCENE}.m.prob.tif")
    folder = folder.with_name(folder.name.replace(f"-{os.getpid()}-", "-999999-"))  # a writer that is gone
    folder.mkdir(parents=True)
    done = run("infer", path, "--model", model, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "is named like a temporary file of an interrupted run but is a folder: left alone" in done.stderr
    assert folder.is_dir() and (out / f"{SCENE}.m.prob.tif").exists()
    with rasterio.open(out / f"{SCENE}.m.prob.tif") as dataset:
        assert dataset.read(1).max() <= 100  # written whole and valid


def test_onnx_runtimes_own_lines_stay_off_standard_error(tmp_path):
    """Cause 15: a model that fails while running (a Reshape to a fixed shape) gives the
    input's one error line, without ONNX Runtime's ANSI-coloured log line beside it."""
    path = stack(tmp_path / f"{SCENE}.stack.tif", (200, 200), seed=1)
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"])]
    shape = [helper.make_tensor("shape", TensorProto.INT64, [4], [1, 1, 64, 64])]
    model = save_model(tmp_path / "reshape.onnx", nodes, shape, 1, {"name": "rs", "bands": ["ndvi"],
                                                                     "tile_size": 128, "overlap": 32})
    done = run("infer", path, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 1 and len(done.errors) == 1 and "cannot be reshaped" in done.errors[0]
    assert "\x1b[" not in done.stderr and "onnxruntime:" not in done.stderr.replace(done.errors[0], "")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def scene_copy(chain, folder, metadata_text=None):
    """A copy of the chain's first scene folder (SR, udm2, metadata), its metadata replaced."""
    import shutil

    source = chain.scenes[0].parent
    target = folder / source.name
    shutil.copytree(source, target)
    if metadata_text is not None:
        [metadata] = target.glob("*metadata*.json")
        metadata.write_text(metadata_text)
    return target / chain.scenes[0].name


@pytest.mark.parametrize("case", ["1800", "3000", "a week off", "huge"])
def test_impossible_dates_and_huge_metadata_are_errors_of_their_scene(chain, tmp_path, case):
    """Causes 8 and 14 at rts-prep: a metadata date outside 1990-2100 or more than a day
    from the scene id's is an error for that scene (Level 2 got the year 1800; 3000
    failed in rts-aggregate), and so is a PlanetScope metadata file of megabytes (1 GB
    cost 2.2 GB of memory); the good scene beside it completes."""
    [metadata] = chain.scenes[0].parent.glob("*metadata*.json")
    document = json.loads(metadata.read_text())
    acquired = document["properties"]["acquired"]
    text = {"1800": json.dumps({**document, "properties": {**document["properties"],
                                                          "acquired": "1800" + acquired[4:]}}),
            "3000": json.dumps({**document, "properties": {**document["properties"],
                                                          "acquired": "3000" + acquired[4:]}}),
            "a week off": json.dumps({**document, "properties": {
                **document["properties"], "acquired": acquired[:8] + f"{(int(acquired[8:10]) + 7) % 28 + 1:02d}"
                + acquired[10:]}}),
            "huge": json.dumps({**document, "padding": "x" * 2_000_000})}[case]
    bad = scene_copy(chain, tmp_path / "bad", text)
    good = chain.scenes[1]
    out = tmp_path / "stacks"
    done = run("prep", bad, good, "--dem", chain.world / "aux/dem.tif", "--tcvis", chain.world / "aux/tcvis.tif",
               "-o", out)
    assert done.returncode == 1 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {bad}: ")
    reason = {"1800": "outside 1990-2100", "3000": "outside 1990-2100", "a week off": "more than a day from",
              "huge": "implausibly large"}[case]
    assert reason in done.errors[0], done.errors[0]
    assert [p.name for p in out.iterdir()] == [f"{good.parent.name}.stack.tif"]


def test_two_stack_bands_of_one_name_are_an_error_of_that_stack(tmp_path):
    """Cause 11: the first of two bands named ndvi won, silently."""
    good = stack(tmp_path / f"{SCENE}.stack.tif", (60, 60), seed=1)
    other = "20230716_201234_12_24a3"
    twice = stack(tmp_path / f"{other}.stack.tif", (60, 60), seed=2, scene_id=other)
    with rasterio.open(twice, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        dataset.set_band_description(dataset.descriptions.index("blue") + 1, "ndvi")
    model = conv_over(tmp_path / "m.onnx", "m", TCVIS[:1], 1)  # ndvi alone
    done = run("infer", twice, good, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 1 and done.errors == [f"error: {twice}: stack has two bands named ndvi"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{SCENE}.m.prob.tif"]


def test_a_udm2_in_another_crs_than_its_sr_is_an_error_of_that_scene(tmp_path):
    """Cause 10: shape and transform were compared, the CRS was not."""
    from tests.prep.builders import write_dem, write_scene, write_tcvis

    good = write_scene(tmp_path / "good" / "20220714_201530_42_24a3")
    bad = write_scene(tmp_path / "bad" / "20220715_201530_42_24a3", scene_id="20220715_201530_42_24a3")
    [udm2] = bad.parent.glob("*udm2*.tif")
    with rasterio.open(udm2, "r+") as dataset:
        dataset.crs = "EPSG:32609"  # the SR's numbers, a zone to the east
    plane = write_dem(tmp_path / "plane.tif", lambda x, y: 10 + 0.01 * x + 0 * y)
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    out = tmp_path / "out"
    done = run("prep", bad, good, "--dem", plane, "--tcvis", tcvis, "-o", out)
    assert done.returncode == 1 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {bad}: udm2 {udm2.name} is in EPSG:32609, the SR in EPSG:")
    assert [p.name for p in out.iterdir()] == ["20220714_201530_42_24a3.stack.tif"]


def test_a_report_folder_that_leads_out_of_the_output_folder_is_refused(chain, tmp_path):
    """Cause 4: rts-aggregate wrote its report's figures through a report/ link to
    another folder, replacing the files there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "per_year.png").write_bytes(b"someone else's figure")
    out = tmp_path / "products"
    out.mkdir()
    (out / "report").symlink_to(elsewhere, target_is_directory=True)
    done = run("aggregate", *chain.level1, "-o", out)
    assert done.returncode != 0 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {out / 'report'}: ") and "leads out of the output folder" in \
        done.errors[0]
    assert (elsewhere / "per_year.png").read_bytes() == b"someone else's figure"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["per_year.png"]
    assert not (out / "level2.parquet").exists()


@pytest.mark.parametrize("tag, value", [("RTS_ACQUIRED", "two hours later"), ("RTS_SENSOR", "Sentinel-2")])
def test_ensemble_members_that_disagree_on_their_acquisition(chain, tmp_path, tag, value):
    """Cause 9: members of one scene with other acquisition times or sensors were written
    with the first member's values, without a word."""
    import shutil

    folder = tmp_path / "probs"
    folder.mkdir()
    copies = [Path(shutil.copy(p, folder)) for p in chain.probs]
    odd = next(p for p in copies if ".notcvis." in p.name)
    with rasterio.open(odd, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        if value == "two hours later":  # within a day of its scene id: a plausible time, not the other's
            from datetime import timedelta

            from rts_core.sceneid import format_acquired, parse_acquired
            value = format_acquired(parse_acquired(dataset.tags()[tag]) + timedelta(hours=2))
        dataset.update_tags(**{tag: value})
    scene = odd.name.split(".")[0]
    out = tmp_path / "level1"
    done = run("ensemble", *copies, "-o", out)
    assert done.returncode == 1 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {folder / scene}.")  # one of the scene's rasters
    assert f"not one acquisition; scene {scene} is not written" in done.errors[0] and value in done.errors[0]
    written = sorted(p.name.split(".")[0] for p in out.iterdir())
    assert scene not in written and len(set(written)) == len(chain.probs) // 2 - 1


@pytest.mark.parametrize("source, value", [("SAFE", "NaN"), ("SAFE", "inf"), ("SAFE", "-1e9"), ("SAFE", "20000"),
                                           ("STAC", float("nan")), ("STAC", "-0.1x")])
def test_a_nan_or_absurd_sentinel2_offset_is_an_error_of_its_product(tmp_path, source, value):
    """Cause 12: a SAFE's NaN BOA_ADD_OFFSET stored no-data that the mask called valid,
    and rts-infer scored it; the STAC path checked the offset's range, the SAFE path not."""
    from tests.prep.builders import write_dem, write_safe, write_stac_item, write_tcvis

    good = write_safe(tmp_path / "good", tile="08WMC")
    if source == "SAFE":
        bad = write_safe(tmp_path / "bad", tile="08WMD", offset=value)
    else:
        bad = write_stac_item(tmp_path / "bad", tile="08WMD", offset=value)
    dem = write_dem(tmp_path / "dem.tif", lambda x, y: 200 + 0.05 * (x - x.mean()) + 0.0 * y)
    out = tmp_path / "stacks"
    done = run("prep", bad, good, "--dem", dem, "--tcvis", write_tcvis(tmp_path / "tcvis.tif"), "-o", out)
    assert done.returncode == 1 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {bad}: ")
    reason = "is not a number" if value in ("NaN", "-0.1x") else "implausible reflectance scale"
    if source == "SAFE" and value == "NaN":
        reason = "implausible reflectance scale 0.0001 or offset nan"  # float("NaN") parses: the range check says it
    assert reason in done.errors[0], done.errors
    assert [p.name for p in out.iterdir()] == [contract.stack_name("S2A_T08WMC_20230715T201851")]


def test_nan_and_infinity_in_a_float_planetscope_sr_are_invalid(tmp_path):
    """Cause 13: they were stored as 0 or 32767 and stayed valid."""
    from tests.prep.builders import write_dem, write_scene, write_tcvis

    rows, cols = 60, 80
    dn = np.random.default_rng(3).integers(100, 4000, size=(4, rows, cols)).astype(np.float32)
    dn[0, 5:10] = np.nan
    dn[1, :, 20:24] = -np.inf
    dn[3, 40:44] = np.inf
    sr = write_scene(tmp_path / "scene", size=(rows, cols))
    with rasterio.open(sr) as dataset:
        profile = dict(dataset.profile, dtype="float32", nodata=None)
    with rasterio.open(sr, "w", **profile) as dataset:
        dataset.write(dn)
    plane = write_dem(tmp_path / "plane.tif", lambda x, y: 10 + 0.01 * x + 0 * y, size=(rows, cols))
    out = tmp_path / "out"
    done = run("prep", sr, "--dem", plane, "--tcvis", write_tcvis(tmp_path / "tcvis.tif"), "-o", out)
    assert done.returncode == 0, done.stderr
    with rasterio.open(Path(done.stdout.split()[0])) as dataset:
        stored, valid = dataset.read(), dataset.dataset_mask() > 0
    not_finite = ~np.isfinite(dn).all(axis=0)
    assert not_finite.sum() == 5 * cols + 4 * rows + 4 * cols - 5 * 4 - 4 * 4
    assert not valid[not_finite].any() and (stored[:, not_finite] == NODATA).all()
    rest = ~not_finite & valid
    assert rest.sum() > 0.8 * (~not_finite).sum()
    assert (stored[:4][:, rest] == dn[:, rest].astype(int)).all()  # the DN, as for an integer SR
