"""rts-aggregate --volume: rts-volume's rows joined to tracks and Level 2, and the
report's volume figures drawn from them."""

from datetime import date

import geopandas
import numpy as np
import pandas
import pytest
from matplotlib.image import imread

from tests.aggregate.test_report import TUK, write_scene
from tests.conftest import run_script

PAIRS = [(date(2019, 8, 1), date(2021, 7, 15)), (date(2019, 8, 1), date(2022, 8, 2)),
         (date(2021, 7, 15), date(2022, 8, 2))]


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    root = tmp_path_factory.mktemp("volume")
    folder = root / "level1"
    folder.mkdir()
    files = [write_scene(folder, "20210701_200000_00_2416", "2021-07-01T20:00:00", TUK, [(0, 0, 100, 100),
                                                                                         (900, 900, 950, 950)]),
             write_scene(folder, "20220710_200000_00_2416", "2022-07-10T20:00:00", TUK, [(0, 0, 100, 160)])]
    plain = root / "plain"
    assert run_script("rts-aggregate", *files, "-o", plain, "-q").returncode == 0
    tracks = geopandas.read_parquet(plain / "tracks.parquet")
    big = tracks.loc[tracks.geometry.to_crs(6931).area.idxmax(), "track_id"]
    small = tracks.loc[tracks.geometry.to_crs(6931).area.idxmin(), "track_id"]
    rows = []
    for track, scale in ((big, 1.0), (small, 0.1)):
        for (before, after), change in zip(PAIRS, (-1000.0, -2500.0, -1500.0), strict=True):
            rows.append({"feature_id": track, "date_before": before, "date_after": after,
                         "dh_mean_m": change / 1e4, "volume_change_m3": change * scale,
                         "volume_loss_m3": -change * scale, "volume_change_sigma_m3": 100.0 * scale})
    volume = geopandas.GeoDataFrame(rows, geometry=[tracks.geometry.iloc[0]] * len(rows), crs=4326)
    volume.to_parquet(root / "volume.parquet")
    out = root / "products"
    done = run_script("rts-aggregate", *files, "-o", out, "-q", "--volume", root / "volume.parquet")
    assert done.returncode == 0, done.stderr
    return {"out": out, "big": big, "small": small, "root": root, "files": files}


def test_tracks_get_the_longest_pair_and_level2_the_pair_ending_in_its_year(joined):
    tracks = geopandas.read_parquet(joined["out"] / "tracks.parquet").set_index("track_id")
    big = tracks.loc[joined["big"]]
    assert big.volume_change_m3 == -2500.0 and big.volume_change_sigma_m3 == 100.0
    assert (big.volume_date_before, big.volume_date_after) == PAIRS[1]
    assert tracks.loc[joined["small"], "volume_change_m3"] == pytest.approx(-250.0)
    level2 = geopandas.read_parquet(joined["out"] / "level2.parquet")
    mine = level2[level2.track_id == joined["big"]].set_index("year")
    assert mine.loc[2022, "volume_change_m3"] == -1500.0  # 2021-07-15 to 2022-08-02: the latest start
    assert mine.loc[2021, "volume_change_m3"] == -1000.0
    assert (mine.loc[2022, "volume_date_before"], mine.loc[2022, "volume_date_after"]) == PAIRS[2]
    kept = geopandas.read_parquet(joined["out"] / "volume.parquet")
    assert len(kept) == 6 and kept.crs.to_epsg() == 4326


def test_report_sums_volume_per_pair_and_draws_track_growth(joined):
    report = (joined["out"] / "report.md").read_text()
    assert "Volume change per pair of DEM dates" in report and "Growth of the largest tracks" in report
    pairs = pandas.read_csv(joined["out"] / "report" / "volume_pairs.csv")
    assert pairs.volume_change_m3.tolist() == pytest.approx([-1100.0, -2750.0, -1650.0])
    assert pairs.volume_change_sigma_m3.iloc[0] == pytest.approx(np.hypot(100.0, 10.0))
    growth = pandas.read_csv(joined["out"] / "report" / "track_growth.csv")
    own = growth[(growth.track_id == joined["big"]) & growth.date.notna()]
    assert own.volume_change_m3.tolist() == [0.0, -1000.0, -2500.0]
    for name in ("volume_pairs", "track_growth"):
        assert imread(joined["out"] / "report" / f"{name}.png").shape[2] in (3, 4)


def test_a_file_that_is_not_rts_volumes_is_a_usage_error(joined, tmp_path):
    geopandas.GeoDataFrame({"x": [1]}, geometry=geopandas.points_from_xy([0], [0]), crs=4326).to_parquet(
        tmp_path / "other.parquet")
    done = run_script("rts-aggregate", *joined["files"], "-o", tmp_path / "out", "--volume", tmp_path / "other.parquet")
    assert done.returncode == 2 and "not an rts-volume product" in done.stderr
    assert not (tmp_path / "out").exists()
