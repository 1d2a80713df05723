import csv
from datetime import UTC, datetime

import pytest

from rts_core.sceneid import (
    SceneIdError,
    acquired_from_scene_id,
    format_acquired,
    is_scene_id,
    parse_acquired,
    parse_scene_id,
)
from tests.conftest import DATA


def real_ids():
    with open(DATA / "RTS_stats_image.csv") as handle:
        return [(row["image_id"], row["image_date"]) for row in csv.DictReader(handle)]


def test_every_real_id_parses_from_every_product_name():
    ids = real_ids()
    assert len(ids) == 198
    for scene_id, date in ids:
        assert is_scene_id(scene_id), scene_id
        for name in (f"{scene_id}_3B_AnalyticMS_SR.tif", f"{scene_id}_3B_udm2.tif",
                     f"{scene_id}_metadata.json", f"{scene_id}_BGRN_SR.tif",
                     f"{scene_id}.stack.tif", f"/data/x/{scene_id}.tcvis.prob.tif", scene_id):
            assert parse_scene_id(name) == scene_id
        # five rows of the source CSV carry a garbled date ("202-00-722"): the id is right
        expected = date if len(date.split("-")[0]) == 4 else scene_id[:8]
        assert acquired_from_scene_id(scene_id).strftime("%Y%m%d") == expected.replace("-", "")


@pytest.mark.parametrize("scene_id, expected", [
    ("20180703_192559_1006", datetime(2018, 7, 3, 19, 25, 59, tzinfo=UTC)),
    ("20230715_201234_12_24a3", datetime(2023, 7, 15, 20, 12, 34, tzinfo=UTC)),
    ("20190727_160820_1_1020", datetime(2019, 7, 27, 16, 8, 20, tzinfo=UTC)),
    ("4764314_1760817_2021-07-20_2416", datetime(2021, 7, 20, tzinfo=UTC)),
])
def test_acquisition_time_from_id(scene_id, expected):
    assert acquired_from_scene_id(scene_id) == expected
    assert parse_scene_id(f"{scene_id}_3B_AnalyticMS_SR.tif") == scene_id


@pytest.mark.parametrize("name", ["dem.tif", "2018070_192559_1006_SR.tif",
                                  "20180703_192559_100g.tif", "x20180703_192559_1006.tif",
                                  "20180703_192559_10061.tif"])
def test_names_without_an_id_are_refused(name):
    with pytest.raises(SceneIdError, match="no PlanetScope scene id"):
        parse_scene_id(name)


def test_acquired_text_round_trips_in_utc():
    moment = datetime(2023, 7, 15, 20, 12, 34, 123456, tzinfo=UTC)
    assert format_acquired(moment) == "2023-07-15T20:12:34.123456Z"
    assert parse_acquired("2023-07-15T20:12:34.123456Z") == moment
    assert parse_acquired("2023-07-15T22:12:34.123456+02:00") == moment
    assert format_acquired(datetime(2021, 7, 20)) == "2021-07-20T00:00:00Z"
