"""rts-aggregate end to end: Level-1 files in two UTM zones -> every product, skips,
bad inputs and the year range."""

import shutil

import geopandas
import pandas
import pyogrio
import pytest
from shapely.geometry import box

from rts_core import contract, geoparquet
from tests.conftest import run_process, run_script

PRODUCTS = ["level1", "level2", "tracks", "coverage_level1", "coverage_level2", "coverage_union",
            "coverage_intersect", "h3"]
EXPECTED_COLUMNS = {"level1": contract.L1_COLUMNS, "level2": contract.LEVEL2_COLUMNS,
                    "tracks": contract.TRACK_COLUMNS, "h3": contract.H3_COLUMNS}
# Tuktoyaktuk straddles UTM zones 8 (EPSG:32608) and 7 (EPSG:32607); the same ground in both
ORIGIN = geopandas.GeoSeries.from_xy([-133.0], [69.45], crs="EPSG:4326")


def level1_rows(scene_id, acquired, boxes, sensor="PlanetScope"):
    stamp = pandas.Timestamp(acquired, tz="UTC")
    return [{"scene_id": scene_id, "acquired": stamp, "year": stamp.year, "month": stamp.month,
             "area_m2": b.area, "area_ha": b.area / 1e4, "n_pixels": int(b.area / 9), "prob_mean": 0.8,
             "prob_max": 0.95, "models": "tcvis,notcvis", "sensor": sensor, "geometry": b} for b in boxes]


def write_scene(folder, scene_id, acquired, boxes, epsg, footprint=(-5000, -5000, 5000, 5000), metadata=None,
                sensor="PlanetScope"):
    """Boxes and footprint in metres around ORIGIN in UTM zone 8, written in ``epsg``."""
    x0, y0 = ORIGIN.to_crs(32608).iloc[0].coords[0]
    shifted = list(geopandas.GeoSeries([box(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0) for b in boxes],
                                       crs=32608).to_crs(epsg))
    rows = level1_rows(scene_id, acquired, shifted, sensor)
    columns = list(contract.L1_COLUMNS)
    l1 = geopandas.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=epsg) if rows else \
        geopandas.GeoDataFrame({c: [] for c in columns[:-1]}, geometry=[], crs=epsg)
    geoparquet.write(l1, folder / contract.l1_name(scene_id), metadata=metadata)
    stamp = pandas.Timestamp(acquired, tz="UTC")
    f = footprint
    extent = geopandas.GeoDataFrame({"scene_id": [scene_id], "acquired": [stamp], "year": [stamp.year]},
                                    geometry=[box(f[0] + x0, f[1] + y0, f[2] + x0, f[3] + y0)], crs=32608)
    extent = extent.to_crs(epsg)
    geoparquet.write(extent, folder / contract.extent_name(scene_id))
    return folder / contract.l1_name(scene_id)


@pytest.fixture
def level1_files(tmp_path):
    folder = tmp_path / "level1"
    folder.mkdir()
    slump_2021, slump_2022 = (0, 0, 100, 100), (0, 0, 100, 160)  # grows upslope
    return [
        write_scene(folder, "20210701_200000_00_2416", "2021-07-01T20:00:00", [slump_2021], 32608),
        write_scene(folder, "20210720_200000_00_2416", "2021-07-20T20:00:00", [slump_2021, (900, 900, 950, 950)],
                    32607),  # another zone: reprojected on reading
        write_scene(folder, "20210801_200000_00_2416", "2021-08-01T20:00:00", [], 32608),  # clear, saw nothing
        write_scene(folder, "20220710_200000_00_2416", "2022-07-10T20:00:00", [slump_2022], 32608),
    ]


def test_all_products_with_contract_columns_in_epsg4326(level1_files, tmp_path):
    out = tmp_path / "products"
    result = run_script("rts-aggregate", *level1_files, "-o", out, "--gpkg", "--quiet")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split()
    assert printed == [str(out / f"{name}.parquet") for name in PRODUCTS] + [str(out / "rts.gpkg")]
    assert (out / "report.md").is_file()  # for people: not printed, as no stage reads it
    products = {name: geopandas.read_parquet(out / f"{name}.parquet") for name in PRODUCTS}
    for name, frame in products.items():
        assert frame.crs.to_epsg() == 4326, name
        assert frame.geometry.is_valid.all(), name
    for name, columns in EXPECTED_COLUMNS.items():
        assert list(products[name].columns) == list(columns), name
    assert len(products["level1"]) == 4
    level2 = products["level2"].sort_values(["year", "area_m2"], ascending=[True, False])
    assert list(level2.year) == [2021, 2021, 2022]
    big = level2.iloc[0]
    assert big.area_m2 == pytest.approx(100 * 100, rel=2e-3)  # UTM scale factor vs true area
    assert (big.n_observations, big.n_scenes, big.n_acquisitions) == (2, 2, 3)
    assert big.detection_ratio == pytest.approx(2 / 3)
    assert str(big.first_observed) == "2021-07-01" and str(big.last_observed) == "2021-07-20"
    assert level2.iloc[2].track_id == big.track_id != level2.iloc[1].track_id
    tracks = products["tracks"].set_index("track_id")
    assert tracks.loc[big.track_id, ["first_year", "last_year", "n_years"]].tolist() == [2021, 2022, 2]
    assert list(products["coverage_level2"].year) == [2021, 2022]
    assert products["coverage_level2"].area_km2.tolist() == pytest.approx([100, 100], rel=5e-3)
    assert products["coverage_intersect"].area_km2.iloc[0] == pytest.approx(100, rel=5e-3)
    h3 = products["h3"]
    assert h3.groupby("year").rts_area_m2.sum().tolist() == pytest.approx(
        level2.groupby("year").area_m2.sum().tolist(), rel=1e-9)
    layers = dict(pyogrio.list_layers(out / "rts.gpkg"))
    assert sorted(layers) == sorted(PRODUCTS)
    assert geopandas.read_file(out / "rts.gpkg", layer="level2").shape[0] == 3


def test_rerun_skips_and_overwrite_recomputes(level1_files, tmp_path):
    out = tmp_path / "products"
    assert run_script("rts-aggregate", *level1_files, "-o", out, "-q").returncode == 0
    before = (out / "level2.parquet").stat().st_mtime_ns
    again = run_script("rts-aggregate", *level1_files, "-o", out, "-q")
    assert again.returncode == 0 and len(again.stdout.split()) == len(PRODUCTS)
    assert (out / "level2.parquet").stat().st_mtime_ns == before
    fewer = run_script("rts-aggregate", *level1_files[:2], "-o", out, "-q")  # other inputs: recomputed
    assert fewer.returncode == 0 and (out / "level2.parquet").stat().st_mtime_ns != before
    assert len(geopandas.read_parquet(out / "level1.parquet")) == 3
    forced = run_script("rts-aggregate", *level1_files[:2], "-o", out, "-q", "--overwrite")
    assert forced.returncode == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_rerun_skips_before_reading_any_input(level1_files, tmp_path, monkeypatch):
    """An unchanged rerun is decided from file sizes and times: no input is loaded."""
    from click.testing import CliRunner

    from rts_aggregate import aggregation
    from rts_aggregate import cli as aggregate_cli

    out = tmp_path / "products"
    assert run_script("rts-aggregate", *level1_files, "-o", out, "-q").returncode == 0

    def no_loading(*_args):
        raise AssertionError("inputs loaded although the products are up to date")

    monkeypatch.setattr(aggregation, "scan_inputs", no_loading)
    result = CliRunner().invoke(aggregate_cli.main, [*map(str, level1_files), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / f"{name}.parquet") for name in PRODUCTS]


def test_stdin_and_years(level1_files, tmp_path):
    out = tmp_path / "products"
    listing = "\n".join(map(str, level1_files)) + "\n"
    result = run_script("rts-aggregate", "-", "-o", out, "--years", "2022", "-q", input=listing)
    assert result.returncode == 0, result.stderr
    level2 = geopandas.read_parquet(out / "level2.parquet")
    assert list(level2.year) == [2022]
    assert geopandas.read_parquet(out / "coverage_intersect.parquet").years.iloc[0] == "2022"
    missing_year = run_script("rts-aggregate", *level1_files, "-o", tmp_path / "p2", "--years", "2021-2023")
    assert missing_year.returncode == 0 and "coverage_intersect is empty" in missing_year.stderr
    assert geopandas.read_parquet(tmp_path / "p2" / "coverage_intersect.parquet").area_km2.iloc[0] == 0


def test_bad_inputs_one_line_each_and_nothing_written(level1_files, tmp_path):
    no_column = tmp_path / "bad" / "20210705_200000_00_2416.l1.parquet"
    no_column.parent.mkdir()
    frame = geopandas.read_parquet(level1_files[0]).drop(columns=["prob_max"])
    geoparquet.write(frame, no_column)
    no_crs = tmp_path / "bad" / "20210706_200000_00_2416.l1.parquet"
    frame = geopandas.read_parquet(level1_files[0]).set_crs(None, allow_override=True)
    frame.to_parquet(no_crs)
    (tmp_path / "bad" / "20210706_200000_00_2416.extent.parquet").write_bytes(b"")
    lonely = tmp_path / "bad" / "somewhere.parquet"
    geoparquet.write(geopandas.read_parquet(level1_files[0]), lonely)
    out = tmp_path / "products"
    result = run_script("rts-aggregate", *level1_files, no_column, no_crs, lonely, "-o", out)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert errors[0].startswith(f"error: {no_column}: ") and "prob_max" in errors[0]
    assert errors[1].startswith(f"error: {no_crs}: ") and "CRS" in errors[1]
    assert errors[2].startswith(f"error: {lonely}: ") and "--extents" in errors[2]
    assert result.stdout == "" and not out.exists()
    partial = run_script("rts-aggregate", *level1_files, no_column, "-o", out, "--partial", "-q")
    assert partial.returncode == 1 and len(partial.stdout.split()) == len(PRODUCTS)
    assert len(geopandas.read_parquet(out / "level1.parquet")) == 4
    # the lonely file aggregates once given its extents
    given = run_script("rts-aggregate", lonely, "--extents", level1_files[0].parent, "-o", tmp_path / "p3", "-q")
    assert given.returncode == 0, given.stderr


def test_no_inputs_is_a_usage_error(tmp_path):
    result = run_script("rts-aggregate", "-", "-o", tmp_path / "out", input="\n")
    assert result.returncode == 2 and "no input paths" in result.stderr
    assert not (tmp_path / "out").exists()


def test_planetscope_and_sentinel2_in_one_run_are_counted_per_sensor(tmp_path):
    """Level 1 keeps each feature's sensor; Level 2 counts the acquisitions covering a
    feature per sensor (the sensor read from the scene id), their sum n_acquisitions."""
    folder = tmp_path / "level1"
    folder.mkdir()
    slump = (0, 0, 100, 100)
    files = [write_scene(folder, "20210701_200000_00_2416", "2021-07-01T20:00:00", [slump], 32608),
             write_scene(folder, "S2A_T08WMC_20210705T200000", "2021-07-05T20:00:00", [slump], 32608,
                         sensor="Sentinel-2"),
             write_scene(folder, "S2B_T08WMC_20210712T200000", "2021-07-12T20:00:00", [], 32608,
                         sensor="Sentinel-2")]  # clear, saw nothing
    done = run_script("rts-aggregate", *files, "-o", tmp_path / "products")
    assert done.returncode == 0, done.stderr
    level1 = geopandas.read_parquet(tmp_path / "products" / "level1.parquet")
    assert sorted(level1["sensor"]) == ["PlanetScope", "Sentinel-2"]
    level2 = geopandas.read_parquet(tmp_path / "products" / "level2.parquet")
    assert list(level2.columns) == list(contract.LEVEL2_COLUMNS)
    (row,) = level2.itertuples()
    assert (row.n_acquisitions, row.n_acquisitions_planetscope, row.n_acquisitions_sentinel2) == (3, 1, 2)
    assert row.n_scenes == 2 and row.detection_ratio == pytest.approx(2 / 3)
    coverage = geopandas.read_parquet(tmp_path / "products" / "coverage_level1.parquet")
    assert dict(zip(coverage["scene_id"], coverage["sensor"], strict=True)) == {
        "20210701_200000_00_2416": "PlanetScope", "S2A_T08WMC_20210705T200000": "Sentinel-2",
        "S2B_T08WMC_20210712T200000": "Sentinel-2"}


def test_products_do_not_depend_on_the_order_of_the_inputs(level1_files, tmp_path):
    """A workflow engine hands the files over in its own order; Level 2 is dissolved in
    scene order, so its areas agree to the last digit."""
    forward = run_script("rts-aggregate", *level1_files, "-o", tmp_path / "forward")
    backward = run_script("rts-aggregate", *reversed(level1_files), "-o", tmp_path / "backward")
    assert forward.returncode == 0 and backward.returncode == 0
    for name in ("level1", "level2", "h3"):
        a = geopandas.read_parquet(tmp_path / "forward" / f"{name}.parquet")
        b = geopandas.read_parquet(tmp_path / "backward" / f"{name}.parquet")
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), name
        assert a.geometry.geom_equals_exact(b.geometry, 0).all(), name


@pytest.mark.parametrize("epsg", [3413, 32608, 4326])
def test_level1_areas_follow_the_one_equal_area_rule_whatever_the_input_crs(tmp_path, epsg):
    """Issue #29 item 4: rts-aggregate copied area_m2 from its input, so an inventory in
    polar stereographic carried areas 4.4 % too small into level1 while level2 was right.
    The file's own area_m2 (here that of its CRS's units) is replaced by the EASE-Grid
    2.0 area, the same as Level 2's for a feature seen once."""
    folder = tmp_path / "level1"
    folder.mkdir()
    path = write_scene(folder, "20210701_200000_00_2416", "2021-07-01T20:00:00", [(0, 0, 300, 200)], epsg)
    out = tmp_path / "products"
    assert run_script("rts-aggregate", path, "-o", out).returncode == 0
    level1, level2 = (geopandas.read_parquet(out / f"{name}.parquet") for name in ("level1", "level2"))
    written = geopandas.read_parquet(path)
    expected = written.to_crs(6931).area.iloc[0]
    assert level1["area_m2"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert level1["area_ha"].iloc[0] == pytest.approx(expected / 1e4, rel=1e-9)
    assert level2["area_m2"].iloc[0] == pytest.approx(expected, rel=1e-6)
    if epsg != 4326:  # the file's area in its own CRS differed (in degrees² for 4326)
        assert abs(written["area_m2"].iloc[0] / expected - 1) > 5e-4


def test_outlines_touching_at_a_point_stay_valid_in_epsg4326(tmp_path):
    """Issue #29 item 5: two slump outlines meeting at a point (a vertex on the other's
    edge), valid in EPSG:6931, were merged into a MultiPolygon that self-intersected
    once in longitude and latitude, in level2 and tracks."""
    from pyproj import Transformer
    from shapely.geometry import Polygon

    x0, y0 = Transformer.from_crs(4326, 6931, always_xy=True).transform(-133.0, 72.0)
    long_box = Polygon([(x0 - 20000, y0 - 300), (x0 + 20000, y0 - 300), (x0 + 20000, y0), (x0 - 20000, y0)])
    apex_down = Polygon([(x0, y0), (x0 + 200, y0 + 300), (x0 - 200, y0 + 300)])
    from shapely.geometry import MultiPolygon

    # one object whose parts touch at a point (8-connected, as rts-ensemble writes them), and the
    # same two outlines as two objects: rts-aggregate merges those (its union puts a vertex there)
    touching = MultiPolygon([long_box, apex_down])
    rows = level1_rows("20210701_200000_00_2416", "2021-07-01T20:00:00", [touching, long_box, apex_down])
    level1 = geopandas.GeoDataFrame(rows, geometry="geometry", crs=6931)
    assert level1.geometry.is_valid.all() and long_box.touches(apex_down)
    folder = tmp_path / "level1"
    folder.mkdir()
    geoparquet.write(level1, folder / contract.l1_name("20210701_200000_00_2416"))
    extent = geopandas.GeoDataFrame({"scene_id": ["20210701_200000_00_2416"],
                                     "acquired": [pandas.Timestamp("2021-07-01T20:00:00", tz="UTC")],
                                     "year": [2021]}, geometry=[long_box.buffer(5000)], crs=6931)
    geoparquet.write(extent, folder / contract.extent_name("20210701_200000_00_2416"))
    out = tmp_path / "products"
    done = run_script("rts-aggregate", folder / contract.l1_name("20210701_200000_00_2416"), "-o", out)
    assert done.returncode == 0, done.stderr
    for name in PRODUCTS:
        product = geopandas.read_parquet(out / f"{name}.parquet")
        assert product.crs.to_epsg() == 4326 and product.geometry.is_valid.all(), name
        assert set(product.geometry.geom_type) <= {"Polygon", "MultiPolygon"}, name
    level2 = geopandas.read_parquet(out / "level2.parquet")
    assert len(level2) == 1  # the outlines are one feature, as before
    assert level2.to_crs(6931).area.iloc[0] == pytest.approx(long_box.area + apex_down.area, rel=1e-4)


def test_one_acquisition_under_two_ids_is_counted_once(tmp_path):
    """Issue #29 item 3: a Sentinel-2 product named by its datatake start (a SAFE) and by
    its tile's sensing time (an Earth Search Item, older rtsmap) gave two scenes, and
    Level 2 counted the detection and the coverage twice. The same scene id from two
    folders too. The report says which inputs were left out."""
    folder = tmp_path / "level1"
    folder.mkdir()
    slump = [(0, 0, 100, 100)]
    kept = write_scene(folder, "S2A_T08WMC_20210701T201851", "2021-07-01T20:18:51", slump, 32608, sensor="Sentinel-2")
    later = write_scene(folder, "S2A_T08WMC_20210701T202532", "2021-07-01T20:25:32", slump, 32608, sensor="Sentinel-2")
    other_orbit = write_scene(folder, "S2A_T08WMC_20210701T220000", "2021-07-01T22:00:00", [], 32608,
                              sensor="Sentinel-2")  # one orbit later: another acquisition, saw nothing
    copy = tmp_path / "again"
    copy.mkdir()
    for name in (kept.name, kept.name.replace(".l1.", ".extent.")):
        shutil.copy(folder / name, copy / name)
    out = tmp_path / "products"
    done = run_process("rts-aggregate", kept, later, other_orbit, copy / kept.name, "-o", out)
    assert done.returncode == 0, done.stderr
    assert f"warning: {later}: the acquisition of scene S2A_T08WMC_20210701T201851" in done.stderr
    assert sum(f"warning: {path}: the acquisition of scene S2A_T08WMC_20210701T201851" in done.stderr
               for path in (kept, copy / kept.name)) == 1  # one of the two files of one id
    level2 = geopandas.read_parquet(out / "level2.parquet")
    assert len(level2) == 1
    row = level2.iloc[0]
    assert (row.n_observations, row.n_scenes, row.n_acquisitions, row.n_acquisitions_sentinel2) == (1, 1, 2, 2)
    assert row.detection_ratio == pytest.approx(0.5)
    assert len(geopandas.read_parquet(out / "level1.parquet")) == 1
    report_text = (out / "report.md").read_text()
    assert "One acquisition, counted once." in report_text and later.name in report_text
