"""H3 density and the antimeridian: areas add up, cells tile, nothing wraps the globe."""

import geopandas
import h3
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from rts_aggregate.coverage import coverage
from rts_aggregate.geometry import WORK_CRS
from rts_aggregate.hexagons import cell_polygons, density, overlay
from rts_aggregate.level2 import level2
from rts_core.crs import to_geographic
from tests.aggregate.test_level2 import real_level1


def real_level2():
    l1 = real_level1()
    no_extents = geopandas.GeoDataFrame({"scene_id": [], "year": []}, geometry=[], crs=WORK_CRS)
    return level2(l1, no_extents)


def hull_coverage(l2):
    """A coverage per year: that year's features buffered by 2 km."""
    rows = [{"scene_id": f"s{year}", "year": year, "geometry": group.buffer(2000).union_all()}
            for year, group in l2.groupby("year")]
    annual, _, _ = coverage(geopandas.GeoDataFrame(rows, geometry="geometry", crs=WORK_CRS))
    return annual


@pytest.mark.parametrize("resolution", [4, 9])
def test_h3_areas_per_year_sum_to_the_level2_area(resolution):
    """At resolution 9 (cells of about 0.1 km2) many slumps are cut by cell edges."""
    l2 = real_level2()
    cells = density(l2, hull_coverage(l2), resolution)
    by_year = cells.groupby("year").rts_area_m2.sum()
    expected = l2.groupby("year").area_m2.sum()
    assert list(by_year.index) == list(expected.index) == [2018, 2019]
    np.testing.assert_allclose(by_year.to_numpy(), expected.to_numpy(), rtol=5e-3)
    np.testing.assert_allclose(by_year.to_numpy(), expected.to_numpy(), rtol=1e-9)  # exact, in fact
    assert (cells.resolution == resolution).all()
    assert all(h3.get_resolution(c) == resolution for c in cells.h3_cell)
    assert (cells.rts_area_m2 <= cells.covered_area_m2 * (1 + 1e-9)).all()  # features lie in the coverage
    assert (cells.covered_area_m2 <= shapely.area(cells.geometry.values) * (1 + 1e-9)).all()
    with_rts = cells[cells.rts_area_m2 > 0]
    np.testing.assert_allclose(with_rts.affected_pct, 100 * with_rts.rts_area_m2 / with_rts.covered_area_m2)
    if resolution == 9:
        assert (cells.n_features > 0).sum() > l2.shape[0] / 2  # many cells, some features split
        assert cells.groupby("year").n_features.sum().gt(l2.groupby("year").size()).all()


def test_cells_tile_without_gaps_or_overlaps():
    centre = h3.latlng_to_cell(69.5, -133.0, 6)
    disk = h3.grid_disk(centre, 2)
    polygons = cell_polygons(disk, WORK_CRS)
    union = shapely.union_all(polygons)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # no gaps between neighbours
    assert union.area == pytest.approx(shapely.area(polygons).sum(), rel=1e-9)  # no overlaps
    # close to H3's own cell area, which is on a sphere (ours is on the WGS 84 ellipsoid)
    assert shapely.area(polygons).sum() == pytest.approx(sum(h3.cell_area(c, "m^2") for c in disk), rel=1e-2)


def test_a_polygon_larger_than_many_cells_is_cut_completely():
    x, y = geopandas.GeoSeries.from_xy([-133.0], [69.5], crs="EPSG:4326").to_crs(WORK_CRS).iloc[0].coords[0]
    big = shapely.Point(x, y).buffer(20_000)  # 1,257 km2 against cells of 36 km2 at resolution 6
    pieces = overlay([big], 6, WORK_CRS)
    assert pieces.area_m2.sum() == pytest.approx(big.area, rel=1e-9)
    assert pieces.h3_cell.is_unique and len(pieces) > 30


def chukotka_square(lon_west=179.99, lon_east=-179.99, lat=67.0, half_height=0.005):
    """A small polygon straddling 180° near Chukotka, built in the work CRS."""
    lonlat = [(lon_west, lat - half_height), (lon_east + 360, lat - half_height),
              (lon_east + 360, lat + half_height), (lon_west, lat + half_height)]
    points = geopandas.GeoSeries.from_xy([p[0] for p in lonlat], [p[1] for p in lonlat], crs="EPSG:4326")
    return Polygon([(p.x, p.y) for p in points.to_crs(WORK_CRS)])


def test_antimeridian_polygons_are_split_not_wrapped():
    square = chukotka_square()
    assert square.bounds[0] < 0 < square.bounds[2]  # it does cross x = 0, y > 0 in EPSG:6931
    away = box(1e5, -2e6, 1.1e5, -1.99e6)  # an ordinary polygon elsewhere
    frame = geopandas.GeoDataFrame({"name": ["cross", "away"]}, geometry=[square, away], crs=WORK_CRS)
    out = to_geographic(frame)
    assert out.crs.to_epsg() == 4326
    crossing = out.geometry.iloc[0]
    assert crossing.geom_type == "MultiPolygon" and len(crossing.geoms) == 2
    west, east = sorted(crossing.geoms, key=lambda g: g.bounds[0])
    assert west.bounds[0] == pytest.approx(-180) and west.bounds[2] == pytest.approx(-179.99, abs=1e-6)
    assert east.bounds[0] == pytest.approx(179.99, abs=1e-6) and east.bounds[2] == pytest.approx(180)
    # the parts together have the original area (back in the equal-area CRS)
    back = geopandas.GeoSeries([west, east], crs="EPSG:4326").to_crs(WORK_CRS).area.sum()
    assert back == pytest.approx(square.area, rel=1e-4)
    assert out.geometry.iloc[1].geom_type == "Polygon"  # untouched elsewhere


def test_h3_across_the_antimeridian():
    square = chukotka_square(lon_west=179.9, lon_east=-179.9, half_height=0.05)
    l2 = geopandas.GeoDataFrame({"year": [2022]}, geometry=[square], crs=WORK_CRS)
    l2["area_m2"] = l2.area
    annual = geopandas.GeoDataFrame({"year": [2022]}, geometry=[square.buffer(1000)], crs=WORK_CRS)
    cells = density(l2, annual, 7)
    assert cells.rts_area_m2.sum() == pytest.approx(square.area, rel=1e-9)
    longitudes = [h3.cell_to_latlng(c)[1] for c in cells.h3_cell[cells.rts_area_m2 > 0]]
    assert min(longitudes) < -179.5 and max(longitudes) > 179.5  # cells on both sides
    geographic = to_geographic(cells)
    parts = geographic.geometry.explode(index_parts=False)
    assert (parts.bounds.maxx - parts.bounds.minx).max() < 1  # no part wraps round the globe
    split = geographic.geometry.geom_type == "MultiPolygon"
    assert split.sum() >= 1  # cells on the antimeridian come in two parts meeting at ±180°
    assert all(sorted(round(p.bounds[i], 9) for p in g.geoms for i in (0, 2))[::3] == [-180, 180]
               for g in geographic.geometry[split])
