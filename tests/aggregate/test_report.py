"""report.md of rts-aggregate: figures that decode, and each figure's data equal to the
products it is drawn from (H3 density, features per year, sizes, detection ratios,
coverage), also with empty products."""

import re
import shutil

import geopandas
import numpy as np
import pandas
import pytest
from matplotlib.image import imread
from shapely.geometry import box

from rts_aggregate.report import write_report
from rts_core import contract, geoparquet
from tests.conftest import run_script

FIGURES = ["h3_density", "per_year", "size_distribution", "detection_ratio", "coverage"]
# (longitude, latitude, UTM EPSG): Tuktoyaktuk, and Chukotka right on the antimeridian
TUK, CHUKOTKA = (-133.0, 69.45, 32608), (180.0, 66.0, 32660)


def write_scene(folder, scene_id, acquired, place, boxes, half=5000):
    """Level-1 boxes (metres around ``place`` in its UTM zone) and a square footprint."""
    lon, lat, epsg = place
    x0, y0 = geopandas.GeoSeries.from_xy([lon], [lat], crs=4326).to_crs(epsg).iloc[0].coords[0]
    stamp = pandas.Timestamp(acquired, tz="UTC")
    geometries = [box(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0) for b in boxes]
    rows = {"scene_id": scene_id, "acquired": stamp, "year": stamp.year, "month": stamp.month, "prob_mean": 0.8,
            "prob_max": 0.95, "models": "tcvis", "sensor": "PlanetScope"}
    level1 = geopandas.GeoDataFrame(
        {**{k: [v] * len(geometries) for k, v in rows.items()}, "area_m2": [g.area for g in geometries],
         "area_ha": [g.area / 1e4 for g in geometries], "n_pixels": [int(g.area / 9) for g in geometries]},
        geometry=geometries, crs=epsg)[list(contract.L1_COLUMNS)]
    geoparquet.write(level1, folder / contract.l1_name(scene_id))
    extent = geopandas.GeoDataFrame({"scene_id": [scene_id], "acquired": [stamp], "year": [stamp.year]},
                                    geometry=[box(x0 - half, y0 - half, x0 + half, y0 + half)], crs=epsg)
    geoparquet.write(extent, folder / contract.extent_name(scene_id))
    return folder / contract.l1_name(scene_id)


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folder = root / "level1"
    folder.mkdir()
    slumps = [(0, 0, 100, 100), (900, 900, 950, 950), (-3000, 2000, -2400, 2500), (2000, -2000, 2012, -1988)]
    files = [
        write_scene(folder, "20210701_200000_00_2416", "2021-07-01T20:00:00", TUK, slumps),
        write_scene(folder, "20210720_200000_00_2416", "2021-07-20T20:00:00", TUK, slumps[:2]),
        write_scene(folder, "20210801_200000_00_2416", "2021-08-01T20:00:00", TUK, []),  # clear, saw nothing
        write_scene(folder, "20220710_200000_00_2416", "2022-07-10T20:00:00", TUK, [(0, 0, 100, 160)]),
        write_scene(folder, "20220712_220000_00_2416", "2022-07-12T22:00:00", CHUKOTKA,
                    [(-300, 0, 300, 200), (1000, 1000, 1100, 1100)], half=20000),  # across 180°
        write_scene(folder, "20230705_200000_00_2416", "2023-07-05T20:00:00", TUK, []),  # covered, no RTS
    ]
    out = root / "products"
    done = run_script("rts-aggregate", *files, "-o", out, "-q")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def report(products):
    return write_report(products)


def read(products, name):
    return geopandas.read_parquet(products / f"{name}.parquet")


def csv(products, name):
    return pandas.read_csv(products / "report" / f"{name}.csv", float_precision="round_trip")


def test_report_links_every_figure_and_each_png_decodes(products, report):
    assert report[-1] == products / "report.md"
    assert sorted(report[:-1]) == sorted([products / "report" / f"{n}.{s}" for n in FIGURES for s in ("png", "csv")])
    text = (products / "report.md").read_text()
    assert text.startswith("# ")
    for name in FIGURES:
        assert f"](report/{name}.png)" in text and f"](report/{name}.csv)" in text
        image = imread(products / "report" / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] >= 200 and image.shape[1] >= 400, name
        assert image[..., :3].std() > 0.01, name  # not blank
    assert "over 3 years (2021, 2022, 2023)" in text


def test_density_data_are_the_h3_product(products, report):
    h3 = read(products, "h3")
    assert (h3.geometry.geom_type == "MultiPolygon").any()  # a cell split at 180° is drawn too
    assert (h3["affected_pct"] == 0).any() and (h3["affected_pct"] > 0).any()
    data = csv(products, "h3_density")
    assert list(data.columns) == ["year", "h3_cell", "affected_pct", "rts_area_m2", "covered_area_m2"]
    expected = pandas.DataFrame(h3[list(data.columns)]).reset_index(drop=True)
    expected["year"] = expected["year"].astype(np.int64)
    pandas.testing.assert_frame_equal(data, expected, check_exact=True, check_dtype=False)


def test_features_per_year_are_a_groupby_of_level2(products, report):
    level2 = read(products, "level2")
    years = sorted(set(read(products, "coverage_level2")["year"]))
    assert years == [2021, 2022, 2023]
    grouped = level2.groupby("year")["area_ha"]
    data = csv(products, "per_year")
    assert data["year"].tolist() == years
    assert data["n_features"].tolist() == grouped.size().reindex(years, fill_value=0).tolist()
    assert data["area_ha"].tolist() == grouped.sum().reindex(years, fill_value=0.0).tolist()
    assert data["n_features"].iloc[-1] == 0  # 2023: covered, nothing found


def test_histograms_count_every_level2_feature(products, report):
    level2 = read(products, "level2")
    sizes = csv(products, "size_distribution")
    assert sizes["n_features"].sum() == len(level2) == 7
    edges = np.append(sizes["bin_low_m2"].to_numpy(), sizes["bin_high_m2"].iloc[-1])
    assert sizes["n_features"].tolist() == np.histogram(level2["area_m2"], edges)[0].tolist()
    per_year = level2.groupby("year").size()
    for year, count in per_year.items():
        assert sizes[f"n_{year}"].sum() == count
    ratios = csv(products, "detection_ratio")
    assert ratios["n_features"].sum() == len(level2)
    edges = np.append(ratios["bin_low"].to_numpy(), ratios["bin_high"].iloc[-1])
    assert edges[0] == 0 and edges[-1] == 1
    assert ratios["n_features"].tolist() == np.histogram(level2["detection_ratio"], edges)[0].tolist()


def test_coverage_data_are_coverage_level2(products, report):
    coverage = read(products, "coverage_level2")
    data = csv(products, "coverage")
    assert data["year"].tolist() == coverage["year"].tolist()
    assert data["area_km2"].tolist() == coverage["area_km2"].tolist()
    assert "2022: " in (products / "report.md").read_text()


def test_rerun_gives_identical_files(products, report, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(products, again, ignore=shutil.ignore_patterns("report*"))
    written = write_report(again)
    for first, second in zip(report, written, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


@pytest.mark.parametrize("keep_coverage", [False, True], ids=["nothing", "covered-without-features"])
def test_empty_products_still_give_a_report(products, tmp_path, keep_coverage):
    for name in contract.PRODUCTS:
        frame = read(products, name)
        if not (keep_coverage and name.startswith("coverage")):
            frame = frame.iloc[:0]
        if keep_coverage and name == "h3":  # the covered cells, at 0 %
            frame = read(products, name).query("year == 2023")
        geoparquet.write(frame, tmp_path / f"{name}.parquet")
    written = write_report(tmp_path)
    text = (tmp_path / "report.md").read_text()
    for name in FIGURES:
        assert f"](report/{name}.png)" in text
        assert imread(tmp_path / "report" / f"{name}.png").shape[0] > 100
    assert len(written) == 2 * len(FIGURES) + 1
    assert csv(tmp_path, "size_distribution")["n_features"].sum() == 0
    if keep_coverage:
        assert csv(tmp_path, "per_year")["n_features"].tolist() == [0, 0, 0]
        assert len(csv(tmp_path, "coverage")) == 3
        assert re.search(r"0 Level-2 features .* over 3 years", text)
    else:
        assert "Nothing to report" in text
        assert all(len(csv(tmp_path, name)) == 0 for name in FIGURES)
