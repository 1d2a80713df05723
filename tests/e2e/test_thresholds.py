"""`make demo` ends with threshold optimisation on its held-apart scenes, composed from
the production tools: the object sweep's Level 1 at 0.5 is the demo's own Level 1."""

import json

import geopandas
import pytest

from tests.e2e.conftest import THRESHOLDS

pytestmark = pytest.mark.slow  # the demo run



def test_the_demo_sweeps_thresholds_with_the_production_clean_up(demo_run):
    tests = [line.split(",")[0] for line in (demo_run / "world" / "scenes.csv").read_text().splitlines()[1:]
             if line.split(",")[4] == "test"]
    assert tests
    for scene in tests:  # the sweep at the default threshold reproduces the demo's Level 1 exactly
        swept = geopandas.read_parquet(demo_run / "thresholds" / "level1" / "0.5" / f"{scene}.l1.parquet")
        demo = geopandas.read_parquet(demo_run / "level1" / f"{scene}.l1.parquet")
        assert swept.geometry.equals(demo.geometry) and swept["area_m2"].tolist() == demo["area_m2"].tolist()
    compared = json.loads((demo_run / "thresholds" / "compare" / "metrics.json").read_text())
    assert [run["run"] for run in compared["runs"]] == list(THRESHOLDS)
    assert compared["best"] in THRESHOLDS and compared["overall"]["f1"] == max(r["f1"] for r in compared["runs"])
    pixels = json.loads((demo_run / "thresholds" / "pixels" / "metrics.json").read_text())
    assert len(pixels["thresholds"]) == 19 and 0 < pixels["overall"]["f1"] <= 1
    assert pixels["overall"]["f1"] == max(row["f1"] for row in pixels["thresholds"])
