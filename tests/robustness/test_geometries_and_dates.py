"""Issue #28's causes 7 and 8 past rts-prep: degenerate geometries (empty, null, NaN,
Points and GeometryCollections in Level-1 files and validation inputs) and impossible
dates (years 1800, 3000 and 1; a date a week from its scene id) at every boundary."""

import json

import geopandas
import numpy as np
import pandas
import pytest
import rasterio
from shapely.geometry import GeometryCollection, LineString, Point, Polygon, box

from rts_core import contract, geoparquet
from tests.aggregate.test_cli import write_scene
from tests.conftest import run_process
from tests.robustness.conftest import check, copy, run

GOOD_ID, BAD_ID = "20210701_200000_00_2416", "20210720_200000_00_2416"


def two_scenes(folder):
    """A good Level-1 file and one whose second feature the test replaces (UTM 8)."""
    folder.mkdir(parents=True)
    good = write_scene(folder, GOOD_ID, "2021-07-01T20:00:00", [(0, 0, 100, 100)], 32608)
    bad = write_scene(folder, BAD_ID, "2021-07-20T20:00:00", [(0, 0, 100, 100), (300, 300, 400, 400)], 32608)
    return good, bad


def replace(path, **columns):
    frame = geopandas.read_parquet(path)
    for name, values in columns.items():
        frame[name] = values
    geoparquet.write(frame, path)


def nan_polygon(frame):
    ring = frame.geometry.iloc[1].exterior.coords
    return Polygon([(x, y) if i != 1 else (np.nan, y) for i, (x, y) in enumerate(ring)])


@pytest.mark.parametrize("case, reason", [
    ("point", "1 Point geometry among its features: only Polygons and MultiPolygons are RTS footprints"),
    ("collection", "1 GeometryCollection geometry among its features"),
    ("line", "1 LineString geometry among its features"),
    ("nan", "1 NaN or infinite coordinate(s) in its geometries"),
    ("infinite", "NaN or infinite coordinate(s) in its geometries"),
    ("beyond its CRS", "geometries outside the area its CRS 'EPSG:32608' can place"),
])
def test_level1_geometries_that_are_no_footprints_stop_the_aggregation(tmp_path, case, reason):
    """They reached level1 and level2 (a GeometryCollection), level1 (a Point), or ended
    the run with "error: <out>: 'bbox'" naming the output folder."""
    good, bad = two_scenes(tmp_path / "in")
    frame = geopandas.read_parquet(bad)
    first = frame.geometry.iloc[0]
    replaced = {"point": Point(first.centroid.x, first.centroid.y),
                "collection": GeometryCollection([first, first.centroid]),
                "line": LineString(list(first.exterior.coords)[:2]),
                "nan": nan_polygon(frame),
                "infinite": box(first.bounds[0], first.bounds[1], np.inf, first.bounds[3]),
                "beyond its CRS": box(1e13, 1e13, 1e13 + 100, 1e13 + 100)}[case]
    replace(bad, geometry=[first, replaced])
    out = tmp_path / "products"
    done = run("aggregate", good, bad, "-o", out)
    check(done, 1, bad, absent=[out])
    assert reason in done.errors[0], done.errors


def test_empty_and_null_level1_geometries_are_dropped_with_a_count(tmp_path):
    good, bad = two_scenes(tmp_path / "in")
    frame = geopandas.read_parquet(bad)
    rows = pandas.concat([frame, frame.iloc[:1]], ignore_index=True)
    geoparquet.write(geopandas.GeoDataFrame(rows, geometry=[frame.geometry.iloc[0], Polygon(), None], crs=frame.crs),
                     bad)
    out = tmp_path / "products"
    done = run_process("rts-aggregate", good, bad, "-o", out)  # its reading workers' warnings too
    assert done.returncode == 0, done.stderr
    assert f"warning: {bad}: 2 null or empty geometries dropped" in done.stderr
    level1 = geopandas.read_parquet(out / "level1.parquet")
    assert len(level1) == 2 and level1.geometry.notna().all() and not level1.geometry.is_empty.any()
    assert set(level1.geometry.geom_type) == {"Polygon"}
    level2 = geopandas.read_parquet(out / "level2.parquet")
    assert len(level2) == 1 and level2["n_observations"].iloc[0] == 2


@pytest.mark.parametrize("case, reason", [
    ("1800", "acquired of scene 20210720_200000_00_2416 1800-07-20 is outside 1990-2100"),
    ("3000", "acquired of scene 20210720_200000_00_2416 3000-07-20 is outside 1990-2100"),
    ("a week off", "is more than a day from the scene id's 2021-07-20 20:00"),
    ("year 1", "year 1 is outside 1990-2100"),
    ("year 2022", "year 2022 disagrees with acquired 2021-07-20"),
    ("extent year 3000", "year 3000 is outside 1990-2100"),
])
def test_impossible_level1_dates_stop_the_aggregation(tmp_path, case, reason):
    """Years 3000 and 1 failed deep in rts-aggregate with "Out of bounds nanosecond
    timestamp"; 1800 gave Level 2 the year 1800."""
    good, bad = two_scenes(tmp_path / "in")
    frame = geopandas.read_parquet(bad)
    if case in ("1800", "3000"):  # stored as Parquet timestamps (microseconds): years 1800 and 3000 fit
        acquired = pandas.Series([pandas.Timestamp(f"{case}-07-20T20:00:00").as_unit("us").tz_localize("UTC")] * 2)
        replace(bad, acquired=acquired, year=[int(case)] * 2)
    elif case == "a week off":
        replace(bad, acquired=frame["acquired"] + pandas.Timedelta(days=7))
    elif case.startswith("year 1") or case == "year 2022":
        replace(bad, year=[int(case.split()[1])] * 2)
    else:  # the extent beside it, without acquired: the year alone is checked
        extent = bad.with_name(contract.extent_name(BAD_ID))
        frame = geopandas.read_parquet(extent).drop(columns="acquired")
        frame["year"] = 3000
        geoparquet.write(frame, extent)
        bad = extent
    out = tmp_path / "products"
    done = run("aggregate", good, bad if bad.name.endswith(contract.L1_SUFFIX) else good.with_name(
        contract.l1_name(BAD_ID)), "-o", out)
    check(done, 1, bad, absent=[out])
    assert reason in done.errors[0], done.errors


def test_a_level1_geopackage_with_a_date_pandas_cannot_hold(tmp_path):
    """Dates as text in a GeoPackage: year 3000 does not fit pandas' nanoseconds."""
    good, bad = two_scenes(tmp_path / "in")
    frame = geopandas.read_parquet(bad)
    frame["acquired"] = "3000-07-20T20:00:00Z"
    gpkg = tmp_path / "in" / f"{BAD_ID}.l1.gpkg"
    frame.to_file(gpkg, engine="pyogrio")
    out = tmp_path / "products"
    done = run("aggregate", good, gpkg, "--extents", tmp_path / "in", "-o", out)
    check(done, 1, gpkg, absent=[out])
    assert "acquired" in done.errors[0] and "1990-2100" in done.errors[0], done.errors


@pytest.mark.parametrize("tool", ["infer", "ensemble"])
@pytest.mark.parametrize("when", ["1800-07-20T20:00:00Z", "3000-01-01T00:00:00Z", "a week off"])
def test_impossible_acquisition_tags_are_errors_of_their_raster(chain, tmp_path, tool, when):
    """Years 3000 and 1 passed rts-infer and rts-ensemble before breaking rts-aggregate."""
    inputs = copy(chain.stacks if tool == "infer" else chain.probs, tmp_path / "in")
    bad = inputs[0]
    with rasterio.open(bad, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        acquired = dataset.tags()[contract.TAG_ACQUIRED]
        if when == "a week off":
            when = (pandas.Timestamp(acquired) + pandas.Timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        dataset.update_tags(**{contract.TAG_ACQUIRED: when})
    scene = bad.name.split(".")[0]
    out = tmp_path / "out"
    args = ["--model", chain.models[0], "--model", chain.models[1]] if tool == "infer" else []
    done = run(tool, *inputs, *args, "-o", out)
    assert done.returncode == 1 and len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {tmp_path / 'in' / scene}.")
    assert "RTS_ACQUIRED" in done.errors[0] and ("outside 1990-2100" in done.errors[0] or
                                                "more than a day from the scene id's" in done.errors[0])
    written = {p.name.split(".")[0] for p in out.iterdir() if not p.is_dir()}
    assert scene not in written and len(written) == len(chain.stacks) - 1


def validation_inputs(chain, folder):
    """Predictions (the truth's first half, as a perfect predictor would draw it) and
    references (the truth), in files of their own."""
    truth = geopandas.read_parquet(chain.world / "truth" / "rts.parquet")
    folder.mkdir(parents=True)
    prediction, reference = folder / "predicted.parquet", folder / "reference.parquet"
    geoparquet.write(truth.iloc[: len(truth) // 2 + 1], prediction)
    geoparquet.write(truth, reference)
    return prediction, reference


def with_extra_row(path, geometry):
    frame = geopandas.read_parquet(path)
    extra = frame.iloc[:1].copy() if len(frame) else None
    if extra is None:
        raise AssertionError(f"{path} has no feature to copy")
    extra["geometry"] = [geometry]
    geoparquet.write(geopandas.GeoDataFrame(pandas.concat([frame, extra], ignore_index=True), crs=frame.crs), path)


def test_empty_geometries_are_not_counted_by_object_validation(chain, tmp_path):
    """An empty prediction was a false positive, an empty reference a miss."""
    prediction, reference = validation_inputs(chain, tmp_path / "plain")
    clean = run("validate", "objects", prediction, reference, "-o", tmp_path / "v_plain")
    assert clean.returncode == 0, clean.stderr
    with_extra_row(prediction, Polygon())
    with_extra_row(reference, None)
    done = run("validate", "objects", prediction, reference, "-o", tmp_path / "v_empty")
    assert done.returncode == 0, done.stderr
    assert "1 null or empty geometry dropped" in done.stderr and "(predictions)" in done.stderr
    assert "(references)" in done.stderr
    overall = json.loads((tmp_path / "v_empty" / "metrics.json").read_text())["overall"]
    expected = json.loads((tmp_path / "v_plain" / "metrics.json").read_text())["overall"]
    assert overall["n_pred"] > 0 and overall["n_ref"] > 0
    for key in ("n_pred", "n_ref", "tp", "fp", "fn", "precision", "recall", "f1"):
        assert overall[key] == expected[key], key


@pytest.mark.parametrize("side", ["prediction", "reference"])
@pytest.mark.parametrize("kind, reason", [
    ("collection", "1 GeometryCollection geometry among its features: only points, lines and polygons can be matched"),
    ("nan", "1 NaN or infinite coordinate(s) in its geometries")])
def test_geometries_validation_cannot_match_are_an_error_of_their_file(chain, tmp_path, side, kind, reason):
    """Points and lines are matched (references with --buffer-m); a GeometryCollection or
    a NaN coordinate is an error of its file."""
    prediction, reference = validation_inputs(chain, tmp_path / "in")
    bad = prediction if side == "prediction" else reference
    first = geopandas.read_parquet(bad).geometry.iloc[0]
    with_extra_row(bad, GeometryCollection([first, first.centroid]) if kind == "collection" else
                   Polygon([(0, 0), (np.nan, 0), (1, 1), (0, 0)]))
    out = tmp_path / "v"
    done = run("validate", "objects", prediction, reference, "-o", out)
    check(done, 1, bad, absent=[out])
    assert reason in done.errors[0], done.errors


@pytest.mark.parametrize("threshold", ["nan", "inf", "1.5", "half"])
def test_a_level1_threshold_that_is_no_probability_stops_the_aggregation(tmp_path, threshold):
    """The file's recorded threshold goes into the DARTS records; NaN went through."""
    good, bad = two_scenes(tmp_path / "in")
    geoparquet.write(geopandas.read_parquet(bad), bad, metadata={contract.PARQUET_THRESHOLD: threshold})
    out = tmp_path / "products"
    done = run("aggregate", good, bad, "--schema", "darts", "-o", out)
    check(done, 1, bad, absent=[out])
    assert f"rts:threshold={threshold!r} is no probability in 0-1" in done.errors[0], done.errors
