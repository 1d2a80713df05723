"""rts-aggregate --schema darts: Level 1 and Level 2 with exactly the published DARTS v1
attributes and types, concatenating with a file in the DARTS layout."""

import re

import geopandas
import numpy as np
import pandas
import pytest
from shapely.geometry import box

from rts_aggregate.darts import geohash
from rts_core import contract
from tests.aggregate.test_cli import write_scene
from tests.conftest import run_script

TEXT = str(pandas.Series(["text"]).dtype)  # how this pandas reads text columns ("str" from pandas 3 on)
LEVEL1 = {"id": TEXT, "id_geohash": TEXT, "date": TEXT, "year": "int64", "area_m2": "float64",
          "area_ha": "float64", "DARTS_dataset_version": TEXT, "DARTS_AI_model_version": TEXT,
          "DARTS_AI_model_threshold": "float64", "feature_information": TEXT, "image_source": TEXT,
          "image_id": TEXT, "geometry": "geometry"}
LEVEL2 = {"id": TEXT, "id_geohash": TEXT, "year": "int64", "area_m2": "float64", "area_ha": "float64",
          "num_observations": "int64", "earliest_date": TEXT, "latest_date": TEXT,
          "DARTS_dataset_version": TEXT, "DARTS_AI_model_version": TEXT,
          "DARTS_AI_model_threshold": "float64", "feature_information": TEXT, "image_source": TEXT,
          "geometry": "geometry"}
VERSION = {contract.PARQUET_MODEL_VERSION: "notcvis@0123456789ab,tcvis@abababababab",
           contract.PARQUET_THRESHOLD: "0.5"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_geohash_of_known_points():
    hashes = geohash([10.40744, 0.0, -180.0, 180.0, -5.6], [57.64911, 0.0, -90.0, 90.0, 42.6])
    assert hashes[0].startswith("u4pruydqqvj")  # the example of the geohash's own description
    assert list(hashes[1:4]) == ["s00000000000", "000000000000", "zzzzzzzzzzzz"]
    assert hashes[4].startswith("ezs42")  # (42.6, -5.6): "ezs42" in the same description
    assert all(len(h) == 12 for h in hashes)


@pytest.fixture
def darts_run(tmp_path):
    folder = tmp_path / "level1"
    folder.mkdir()
    slump = (0, 0, 100, 100)
    files = [write_scene(folder, "20210701_200000_00_2416", "2021-07-01T20:00:00", [slump], 32608, metadata=VERSION),
             write_scene(folder, "20210720_200000_00_2416", "2021-07-20T20:00:00", [slump, (900, 900, 950, 950)],
                         32607, metadata=VERSION),
             write_scene(folder, "20220710_200000_00_2416", "2022-07-10T20:00:00", [(0, 0, 100, 160)], 32608)]
    done = run_script("rts-aggregate", *files, "--schema", "darts", "--dataset-version", "rtsmap-test-1",
                      "-o", tmp_path / "products")
    assert done.returncode == 0, done.stderr
    return (geopandas.read_parquet(tmp_path / "products" / "level1.parquet"),
            geopandas.read_parquet(tmp_path / "products" / "level2.parquet"))


def test_level1_records_have_the_published_columns_types_and_values(darts_run):
    level1, _ = darts_run
    assert {c: str(t) for c, t in level1.dtypes.items()} == LEVEL1  # names, order and types exactly
    assert level1.crs.to_epsg() == 4326 and len(level1) == 4
    assert level1["id"].map(UUID.match).all() and level1["id"].is_unique
    first = level1[level1["image_id"] == "20210701_200000_00_2416"].iloc[0]
    assert first["date"] == "2021-07-01" and first["year"] == 2021
    # the one area rule (EASE-Grid 2.0), not the file's 10,000 m² of UTM grid: 0.065 % more, 2° off the zone's meridian
    assert first["area_m2"] == pytest.approx(10_006.4997, rel=1e-6) and first["area_ha"] == pytest.approx(1.00064997)
    assert first["DARTS_dataset_version"] == "rtsmap-test-1"
    assert first["DARTS_AI_model_version"] == "notcvis@0123456789ab,tcvis@abababababab"
    assert first["DARTS_AI_model_threshold"] == 0.5
    assert first["feature_information"] == "RTS/ALD footprint - individual image - Level 1"
    assert first["image_source"] == "PlanetScope"
    centroid = geopandas.GeoSeries([first.geometry], crs=4326).to_crs(6931).centroid.to_crs(4326).iloc[0]
    assert first["id_geohash"] == geohash([centroid.x], [centroid.y])[0] and len(first["id_geohash"]) == 12
    older = level1[level1["image_id"] == "20220710_200000_00_2416"].iloc[0]  # no metadata: names, no threshold
    assert older["DARTS_AI_model_version"] == "tcvis,notcvis" and np.isnan(older["DARTS_AI_model_threshold"])


def test_level2_records_have_the_published_columns_types_and_values(darts_run):
    level1, level2 = darts_run
    assert {c: str(t) for c, t in level2.dtypes.items()} == LEVEL2
    assert sorted(level2["year"].tolist()) == [2021, 2021, 2022]
    slump = level2[(level2["year"] == 2021) & (level2["num_observations"] == 2)].iloc[0]
    assert slump["earliest_date"] == "2021-07-01" and slump["latest_date"] == "2021-07-20"
    assert slump["DARTS_AI_model_version"] == "notcvis@0123456789ab,tcvis@abababababab"
    assert slump["DARTS_AI_model_threshold"] == 0.5 and slump["image_source"] == "PlanetScope"
    assert slump["feature_information"] == "RTS/ALD footprint - annually aggregated - Level 2"
    assert slump["area_m2"] == pytest.approx(10_000, rel=1e-3)
    assert level2["id"].map(UUID.match).all() and not set(level2["id"]) & set(level1["id"])
    later = level2[level2["year"] == 2022].iloc[0]
    assert later["num_observations"] == 1 and later["DARTS_AI_model_version"] == "tcvis,notcvis"


def darts_layout_level1() -> geopandas.GeoDataFrame:
    """Two records as the DARTS v1 Level-1 files hold them (Supplementary Table S2)."""
    return geopandas.GeoDataFrame({
        "id": ["0b8c56a4-6d25-4a1b-9d0e-3f4f1c7e2a11", "5e0f1d3c-2b7a-4c8e-8f6d-1a2b3c4d5e6f"],
        "id_geohash": ["c7x8q2w3e4r5", "c7x8q2w3e4r6"], "date": ["2021-07-03", "2022-08-14"],
        "year": np.array([2021, 2022], np.int64), "area_m2": [5230.5, 812.0], "area_ha": [0.52305, 0.0812],
        "DARTS_dataset_version": ["v1.0", "v1.0"], "DARTS_AI_model_version": ["RTS_v6_tcvis", "RTS_v6_notcvis"],
        "DARTS_AI_model_threshold": [0.5, 0.5],
        "feature_information": ["RTS/ALD footprint - individual image - Level 1"] * 2,
        "image_source": ["PlanetScope", "PlanetScope"],
        "image_id": ["20210703_201024_44_2416", "20220814_195501_12_2421"],
    }, geometry=[box(-133.01, 69.45, -133.0, 69.451), box(-133.02, 69.46, -133.01, 69.461)], crs=4326)


def test_records_concatenate_with_a_file_in_the_darts_layout(darts_run, tmp_path):
    ours, _ = darts_run
    theirs_path = tmp_path / "darts_level1.gpkg"
    darts_layout_level1().to_file(theirs_path, driver="GPKG")
    theirs = geopandas.read_file(theirs_path)
    both = pandas.concat([theirs, ours.to_crs(theirs.crs)], ignore_index=True)
    assert list(both.columns) == list(LEVEL1) and len(both) == len(theirs) + len(ours)
    assert {c: str(t) for c, t in both.dtypes.items()} == {c: str(t) for c, t in theirs.dtypes.items()}
    assert both.drop(columns="DARTS_AI_model_threshold").notna().all().all()
    assert (both.groupby("year").size() == pandas.Series({2021: 4, 2022: 2})).all()
