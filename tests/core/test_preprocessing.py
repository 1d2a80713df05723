"""The preprocessing record: parsed defensively, compared with tolerances."""

import pytest

from rts_core import preprocessing
from rts_core.preprocessing import RecordError, common, mismatches, parse

RECORD = {"tpi_radius_m": 100.0, "slope_method": "horn", "terrain_resampling": "cubic",
          "validity_rule": "udm2_darts_v1", "sensor": "PlanetScope", "pixel_size_m": 3.0}


def test_records_round_trip_and_absent_records_are_none():
    assert parse(preprocessing.dumps(RECORD)) == RECORD
    assert parse(None) is None and parse("") is None
    assert set(preprocessing.DARTS_V1) == set(preprocessing.KEYS) == set(RECORD)


@pytest.mark.parametrize("text, reason", [
    ("[1, 2]", "not a JSON object"),
    ("{not json", "not JSON"),
    ('{"../../etc": 1}', "unusable key"),
    ('{"Sensor": "x"}', "unusable key"),
    ('{"sensor": {"nested": 1}}', "not a short string"),
    ('{"sensor": [1]}', "not a short string"),
    ('{"sensor": "' + "x" * 500 + '"}', "not a short string"),
    ('{"tpi_radius_m": NaN}', "not finite"),
])
def test_hostile_records_are_refused(text, reason):
    with pytest.raises(RecordError, match=reason):
        parse(text)


def test_mismatches_name_the_key_and_both_values_within_tolerances():
    assert mismatches(RECORD, dict(RECORD)) == []
    assert mismatches({**RECORD, "pixel_size_m": 3.125}, RECORD) == []  # PSOrthoTile vs PSScene
    assert mismatches({**RECORD, "pixel_size_m": 10.0}, RECORD) == [("pixel_size_m", 10.0, 3.0)]
    assert mismatches({**RECORD, "tpi_radius_m": 50}, RECORD) == [("tpi_radius_m", 50, 100.0)]
    assert mismatches({**RECORD, "slope_method": "four_neighbour", "extra": 1}, {"slope_method": "horn"}) == [
        ("slope_method", "four_neighbour", "horn")]  # keys on one side only are not compared
    text = preprocessing.describe([("slope_method", "four_neighbour", "horn")], "tcvis")
    assert text == "slope_method 'four_neighbour' in the stack but 'horn' in model tcvis"


def test_training_stacks_must_agree():
    assert common([RECORD, {**RECORD, "pixel_size_m": 3.125}]) == RECORD
    assert common([]) == {}
    with pytest.raises(RecordError, match="tpi_radius_m 50.0 vs 100.0"):
        common([RECORD, {**RECORD, "tpi_radius_m": 50.0}])
