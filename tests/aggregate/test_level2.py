"""Level 2, tracks and coverage on hand-built cases and on real multi-temporal labels."""

from datetime import date

import geopandas
import numpy as np
import pandas
import pytest
from shapely.geometry import box

from rts_aggregate.coverage import coverage
from rts_aggregate.geometry import WORK_CRS
from rts_aggregate.level2 import level2
from rts_aggregate.tracks import tracks
from tests.conftest import DATA


def frame(rows):
    return geopandas.GeoDataFrame(rows, geometry="geometry", crs=WORK_CRS)


def when(text):
    return pandas.Timestamp(text, tz="UTC")


def test_counts_dates_acquisitions_and_detection_ratio():
    l1 = frame([
        {"scene_id": "s1", "acquired": when("2021-07-01"), "year": 2021, "geometry": box(0, 0, 100, 100)},
        {"scene_id": "s2", "acquired": when("2021-07-10"), "year": 2021, "geometry": box(50, 0, 150, 100)},
        {"scene_id": "s1", "acquired": when("2021-07-01"), "year": 2021, "geometry": box(1000, 0, 1100, 100)},
    ])
    extents = frame([
        {"scene_id": "s1", "year": 2021, "geometry": box(-500, -500, 2000, 500)},
        {"scene_id": "s2", "year": 2021, "geometry": box(-500, -500, 500, 500)},  # does not cover B
        {"scene_id": "s3", "year": 2021, "geometry": box(-500, -500, 2000, 500)},  # clear, saw nothing
        {"scene_id": "s4", "year": 2021, "geometry": box(120, -500, 2000, 500)},  # cuts through A: not covering
        {"scene_id": "s5", "year": 2022, "geometry": box(-500, -500, 2000, 500)},  # another year
    ])
    result = level2(l1, extents).sort_values("area_m2", ascending=False).reset_index(drop=True)
    assert len(result) == 2
    a, b = result.iloc[0], result.iloc[1]
    assert a.area_m2 == pytest.approx(150 * 100) and b.area_m2 == pytest.approx(100 * 100)
    assert (a.n_observations, a.n_scenes, a.n_acquisitions) == (2, 2, 3)
    assert a.detection_ratio == pytest.approx(2 / 3)
    assert (a.first_observed, a.last_observed) == (date(2021, 7, 1), date(2021, 7, 10))
    assert (b.n_observations, b.n_scenes, b.n_acquisitions) == (1, 1, 3)  # s1, s3, s4
    assert b.detection_ratio == pytest.approx(1 / 3)
    assert b.first_observed == b.last_observed == date(2021, 7, 1)


def test_tracks_chain_a_three_year_growth_and_keep_others_apart():
    l2 = frame([
        {"year": 2021, "geometry": box(0, 0, 10, 10)},
        {"year": 2022, "geometry": box(5, 0, 20, 10)},  # grows upslope, overlaps 2021
        {"year": 2023, "geometry": box(15, 0, 30, 10)},  # overlaps 2022 only: same slump by chaining
        {"year": 2022, "geometry": box(100, 0, 110, 10)},  # another slump, one year
        {"year": 2023, "geometry": box(10, 0, 15, 10)},  # touches 2022 only along... inside it: same track
    ])
    track_id, table = tracks(l2)
    assert track_id[0] == track_id[1] == track_id[2] == track_id[4] != track_id[3]
    growing = table[table.track_id == track_id[0]].iloc[0]
    assert (growing.first_year, growing.last_year, growing.n_years) == (2021, 2023, 3)
    assert growing.geometry.area == pytest.approx(300)
    lone = table[table.track_id == track_id[3]].iloc[0]
    assert (lone.first_year, lone.last_year, lone.n_years) == (2022, 2022, 1)
    assert sorted(table.track_id) == [1, 2]


def test_coverage_products():
    km = 1000
    extents = frame([
        {"scene_id": "a", "year": 2021, "geometry": box(0, 0, 10 * km, 10 * km)},
        {"scene_id": "b", "year": 2022, "geometry": box(5 * km, 0, 15 * km, 10 * km)},
        {"scene_id": "c", "year": 2023, "geometry": box(5 * km, 5 * km, 20 * km, 20 * km)},
        {"scene_id": "d", "year": 2023, "geometry": box(0, 0, 6 * km, 6 * km)},
    ])
    annual, union, intersect = coverage(extents)
    assert list(annual.year) == [2021, 2022, 2023]
    np.testing.assert_allclose(annual.area_km2, [100, 100, 225 + 36 - 1])
    # 2021 and 2022 share box(5, 0, 10, 10); 2023 covers box(5, 5, 10, 10) and box(5, 0, 6, 6) of it
    assert intersect.area_km2.iloc[0] == pytest.approx(25 + 6 - 1)
    _, _, two = coverage(extents, years=[2021, 2022])
    assert two.area_km2.iloc[0] == pytest.approx(50)
    assert union.area_km2.iloc[0] == pytest.approx(annual.geometry.union_all().area / 1e6)


def real_level1():
    """The real Lena/Herschel labels as Level 1: image_id as scene, image_date as acquisition."""
    labels = geopandas.read_file(DATA / "rts_labels_lena_herschel.gpkg")
    l1 = labels.rename(columns={"image_id": "scene_id"}).to_crs(WORK_CRS)
    l1["acquired"] = pandas.to_datetime(l1["image_date"], utc=True)
    l1["year"] = l1["acquired"].dt.year
    return l1


def test_real_labels_match_an_independent_dissolve():
    l1 = real_level1()
    extents = geopandas.GeoDataFrame({"scene_id": [], "year": []}, geometry=[], crs=WORK_CRS)
    assert not l1.geometry.is_valid.all()  # the real data has a few invalid polygons: repaired
    result = level2(l1, extents)
    l1["geometry"] = l1.geometry.make_valid()
    reference = l1[["year", "geometry"]].dissolve(by="year").explode(index_parts=False).reset_index()
    assert len(result) == len(reference)
    assert result.area_m2.sum() == pytest.approx(reference.area.sum(), rel=1e-3)
    for year in (2018, 2019):
        assert (result.year == year).sum() == (reference.year == year).sum()
    assert result.n_observations.sum() == len(l1)  # every Level-1 feature lands in exactly one part
    assert (result.n_scenes >= 1).all() and (result.n_acquisitions >= result.n_scenes).all()


def test_corner_touching_parts_stay_one_level2_feature():
    """Objects are 8-connected: two squares meeting at a corner are one Level-2 feature
    and the Level-1 feature holding both is counted once."""
    from shapely.geometry import MultiPolygon

    corner = MultiPolygon([box(0, 0, 10, 10), box(10, 10, 20, 20)])
    l1 = frame([
        {"scene_id": "s1", "acquired": when("2021-07-01"), "year": 2021, "geometry": corner},
        {"scene_id": "s2", "acquired": when("2021-07-02"), "year": 2021, "geometry": box(100, 0, 110, 10)},
    ])
    no_extents = geopandas.GeoDataFrame({"scene_id": [], "year": []}, geometry=[], crs=WORK_CRS)
    result = level2(l1, no_extents).sort_values("area_m2", ascending=False)
    assert len(result) == 2
    assert result.iloc[0].geometry.geom_type == "MultiPolygon" and result.iloc[0].area_m2 == pytest.approx(200)
    assert list(result.n_observations) == [1, 1]
