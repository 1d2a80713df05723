"""rts_core.crs.project: the one reprojection of bare geometries, against geopandas'
to_crs (which goes through the same pyproj), and the one area rule built on it."""

import geopandas
import numpy as np
import pytest
import shapely
from pyproj import CRS

from rts_core.crs import equal_area_m2, project


def test_project_equals_geopandas_to_crs_for_arrays_and_single_geometries():
    squares = shapely.box(np.arange(5) * 1000 + 500_000, 7_600_000, np.arange(5) * 1000 + 500_500, 7_600_700)
    squares[2] = None
    expected = geopandas.GeoSeries(squares, crs="EPSG:32608").to_crs("EPSG:6931").values
    for source in ("EPSG:32608", 32608, CRS.from_epsg(32608)):
        projected = project(squares, source, "EPSG:6931")
        assert projected[2] is None
        present = [0, 1, 3, 4]
        assert shapely.equals_exact(projected[present], np.asarray(expected)[present], tolerance=1e-6).all()
    one = project(shapely.Point(500_000, 7_600_000), "EPSG:32608", "EPSG:4326")
    assert one.x == pytest.approx(-135.0) and 68 < one.y < 69  # UTM 8N's central meridian


def test_areas_are_measured_in_ease_grid_whatever_the_crs():
    square = shapely.box(500_000, 7_600_000, 500_100, 7_600_100)  # 1 ha on UTM 8N's central meridian
    in_utm = equal_area_m2([square], "EPSG:32608")[0]
    in_polar = equal_area_m2(project([square], "EPSG:32608", "EPSG:3413"), "EPSG:3413")[0]
    assert in_utm == pytest.approx(in_polar, rel=1e-9)
    # UTM shrinks distances by 0.9996 on its central meridian: the true area is 0.08 % larger
    assert in_utm / 10_000 == pytest.approx(1 / 0.9996 ** 2, rel=1e-4)
    assert equal_area_m2([None, shapely.Polygon()], "EPSG:32608").tolist() == [0.0, 0.0]
