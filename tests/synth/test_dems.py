"""rts-synth --dems: dated ArcticDEM-style strips with known errors and the truth of each
slump's volume change, and rts-volume measuring them within the issue's targets."""

import csv
from datetime import date

import geopandas
import numpy as np
import pandas
import pytest
import rasterio
from rts_volume.dems import date_from_name

from tests.conftest import run_script

ARGS = ["--scenes", "6", "--size", "512", "-q"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("dems") / "world"
    assert run_script("rts-synth", "-o", out, *ARGS).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (out / "truth").iterdir()}
    done = run_script("rts-synth", "-o", out, *ARGS, "--dems", "2")
    assert done.returncode == 0, done.stderr
    return out, before


def test_strips_are_named_dated_and_carry_their_errors(world):
    out, _ = world
    strips = sorted((out / "dems").glob("*_dem.tif"))
    assert len(strips) == 2
    dates = [date_from_name(p.name) for p in strips]
    assert dates == [date(2021, 7, 1), date(2023, 8, 20)]
    rows = list(csv.DictReader(open(out / "truth" / "dem_strips.csv")))
    assert [r["name"] for r in rows] == [p.name for p in strips]
    for row, path in zip(rows, strips, strict=True):
        assert 1.0 <= np.hypot(float(row["shift_x_m"]), float(row["shift_y_m"])) <= 4.0
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 3413 and src.res == (2.0, 2.0) and src.nodata == -9999
            values = src.read(1)
        height, width = values.shape
        centre = values[height // 4:3 * height // 4, width // 4:3 * width // 4]  # inside the world
        void = centre == -9999
        assert 0.005 < void.mean() < 0.4  # blobs where matching failed, lakes, perhaps the strip's edge
        assert 10 < np.median(centre[~void]) < 80  # metres of tundra


def test_adding_strips_leaves_the_world_alone(world):
    out, before = world
    for path, stamp in before.items():
        assert path.stat().st_mtime_ns == stamp, f"{path.name} was rewritten"


def test_truth_volume_is_loss_where_slumps_deepen_and_grow(world):
    out, _ = world
    truth = geopandas.read_parquet(out / "truth" / "volume.parquet")
    features = geopandas.read_parquet(out / "truth" / "features.parquet")
    slumps = features[features["kind"] == "slump"]
    assert set(truth["site_id"]) <= set(slumps["feature_id"])
    assert (truth["volume_change_m3"] <= 0).all() and (truth["volume_change_m3"] < 0).mean() > 0.8
    # a slump deepens by 10 % of its depth a year: for two years, at least a fifth of its
    # depth times half its area (the floor shallows to the toe)
    joined = truth.merge(slumps[["feature_id", "depth_m", "start_year"]], left_on="site_id", right_on="feature_id")
    old = joined[joined["start_year"] <= 2021]
    floor = 0.2 * old["depth_m"] * 0.5 * old["area_m2"] * 0.5
    assert (-old["volume_change_m3"] >= floor).all()


def test_rts_volume_measures_the_strips_within_the_targets(world, tmp_path):
    out, _ = world
    features = geopandas.read_parquet(out / "truth" / "features.parquet")
    slumps = features[features["kind"] == "slump"][["feature_id", "geometry"]].rename(columns={"feature_id": "id"})
    slumps.to_parquet(tmp_path / "slumps.parquet")
    done = run_script("rts-volume", out / "dems", "--features", tmp_path / "slumps.parquet", "-o", tmp_path / "v",
                      "-q")
    assert done.returncode == 0, done.stderr
    measured = geopandas.read_parquet(tmp_path / "v" / "volume.parquet")
    truth = geopandas.read_parquet(out / "truth" / "volume.parquet")
    for frame in (measured, truth):
        for column in ("date_before", "date_after"):
            frame[column] = pandas.to_datetime(frame[column]).dt.date
    joined = measured.drop(columns="geometry").merge(truth.drop(columns="geometry"), left_on=["feature_id",
                                                     "date_before", "date_after"],
                                                     right_on=["site_id", "date_before", "date_after"],
                                                     suffixes=("", "_true"))
    error = joined["volume_change_m3"] - joined["volume_change_m3_true"]
    large = joined["area_m2_true"] >= 1e4
    assert large.sum() >= 3
    assert (error[large].abs() / joined.loc[large, "volume_change_m3_true"].abs()).median() <= 0.10
    assert 0.5 <= (error.abs() <= joined["volume_change_sigma_m3"]).mean() <= 0.95
    # the shift applied is the later strip's misregistration less the earlier one's
    rows = list(csv.DictReader(open(out / "truth" / "dem_strips.csv")))
    expected = [float(rows[1][k]) - float(rows[0][k]) for k in ("shift_x_m", "shift_y_m")]
    assert abs(measured["coreg_shift_x_m"].iloc[0] - expected[0]) < 1.0
    assert abs(measured["coreg_shift_y_m"].iloc[0] - expected[1]) < 1.0
