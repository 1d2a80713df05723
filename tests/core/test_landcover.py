"""rts_core.landcover: the one land-cover reader (classes on a grid, the majority class
under a polygon) and the one water rule (a water class, or no class at all)."""

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import transform_bounds
from shapely.geometry import box

from rts_core.errors import InputError
from rts_core.landcover import LandCover, water

# 10 m classes in UTM 8N: water (1) in the west half, bare ground (8) in the east, no data (0) in the last row
CLASSES = np.where(np.arange(20)[None, :] < 10, 1, 8).repeat(20, axis=0).astype(np.uint8)
CLASSES[-1] = 0
TRANSFORM = from_origin(500_000, 7_600_200, 10, 10)


@pytest.fixture
def landcover_path(tmp_path):
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="uint8", crs="EPSG:32608",
                       transform=TRANSFORM, nodata=0) as dataset:
        dataset.write(CLASSES, 1)
    return path


def test_the_water_rule_counts_no_class_as_water():
    classes = np.array([1.0, 8.0, np.nan, 2.0], np.float32)
    assert water(classes, (1,)).tolist() == [True, False, True, False]
    assert water(classes, (1, 2)).tolist() == [True, False, True, True]


def test_classes_on_another_grid_are_the_nearest_and_nan_outside(landcover_path):
    landcover = LandCover(landcover_path)
    # a 5 m grid over the raster's north-west corner and 50 m beyond its west edge
    transform = from_origin(499_950, 7_600_200, 5, 5)
    classes = landcover.classes((4, 40), transform, "EPSG:32608")
    assert np.isnan(classes[:, :10]).all()  # west of the raster: no class
    assert (classes[:, 10:30] == 1).all() and (classes[:, 30:] == 8).all()
    assert landcover.water((4, 40), transform, "EPSG:32608", (1,))[:, :30].all()
    # in geographic coordinates, through the reprojection: water west, bare ground east
    west, south, east, north = transform_bounds("EPSG:32608", "EPSG:4326", 500_000, 7_600_000, 500_200, 7_600_200)
    geographic = landcover.classes((10, 10), from_bounds(west, south, east, north, 10, 10), "EPSG:4326")
    assert (geographic[2:8, 1] == 1).all() and (geographic[2:8, 8] == 8).all()


def test_the_majority_under_each_polygon(landcover_path):
    landcover = LandCover(landcover_path)
    polygons = [box(500_000, 7_600_100, 500_080, 7_600_200),  # water only
                box(500_050, 7_600_100, 500_170, 7_600_200),  # 5 columns of water, 7 of bare ground
                box(500_122, 7_600_152, 500_124, 7_600_154),  # smaller than a pixel: the pixel it touches
                box(500_000, 7_600_000, 500_200, 7_600_010),  # on the no-data row only
                None]
    assert landcover.majority(polygons, "EPSG:32608") == [1, 8, 8, None, None]


def test_a_raster_without_crs_or_unreadable_is_an_input_error_naming_it(tmp_path):
    bare = tmp_path / "bare.tif"
    with rasterio.open(bare, "w", driver="GTiff", width=2, height=2, count=1, dtype="uint8") as dataset:
        dataset.write(np.ones((2, 2), np.uint8), 1)
    with pytest.raises(InputError, match="no CRS") as error:
        LandCover(bare)
    assert error.value.source == bare
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a raster")
    with pytest.raises(InputError, match="cannot read the land cover"):
        LandCover(broken)
