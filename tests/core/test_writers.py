import json

import geopandas
import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from rts_core import atomic, contract, raster, vector


def frame():
    return geopandas.GeoDataFrame({"scene_id": ["a", "b"], "area_m2": [1.0, 4.0]},
                                  geometry=[box(0, 0, 1, 1), box(10, 10, 12, 12)],
                                  crs="EPSG:32608")


def test_geoparquet_is_1_1_with_bbox_covering(tmp_path):
    path = vector.write_geoparquet(frame(), tmp_path / "x.parquet")
    metadata = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert metadata["version"] == "1.1.0"
    assert metadata["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    back = geopandas.read_parquet(path)
    assert back.crs.to_epsg() == 32608
    assert back.geometry.area.tolist() == [1.0, 4.0]
    assert pq.read_metadata(path).num_rows == 2
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


@pytest.mark.skipif("Parquet" not in pyogrio.list_drivers(),
                    reason="this GDAL (pyogrio's wheel) has no Parquet driver")
def test_geoparquet_opens_in_gdal(tmp_path):
    path = vector.write_geoparquet(frame(), tmp_path / "x.parquet")
    back = pyogrio.read_dataframe(path)
    assert back.crs.to_epsg() == 32608 and len(back) == 2


def test_geoparquet_without_crs_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="without a CRS"):
        vector.write_geoparquet(frame().set_crs(None, allow_override=True), tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_geopackage_has_one_layer_per_product(tmp_path):
    path = vector.write_geopackage({"level1": frame(), "level2": frame().iloc[:1]},
                                   tmp_path / "rts.gpkg")
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == {"level1", "level2"}
    assert len(geopandas.read_file(path, layer="level2")) == 1


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "a.tif"
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as temporary:
        temporary.write_bytes(b"partial")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_cog_keeps_tags_descriptions_scale_and_mask(tmp_path):
    values = np.arange(2 * 30 * 40, dtype="float32").reshape(2, 30, 40)
    valid = np.ones((30, 40), bool)
    valid[:5] = False
    tags = raster.scene_tags("20230715_201234_12_24a3", "2023-07-15T20:12:34Z", "rts-x 1",
                             model=["tcvis", "notcvis"])
    path = raster.write_cog(tmp_path / "s.tif", values, crs="EPSG:32608",
                            transform=Affine(3, 0, 0, 0, -3, 0), tags=tags,
                            band_descriptions=["ndvi", "slope"], scales=[0.5, 1],
                            offsets=[1, 0], valid=valid)
    with rasterio.open(path) as dataset:
        assert dataset.descriptions == ("ndvi", "slope")
        assert dataset.scales == (0.5, 1) and dataset.offsets == (1, 0)
        assert dataset.tags()[contract.TAG_MODEL] == "tcvis,notcvis"
        assert (dataset.dataset_mask() == np.where(valid, 255, 0)).all()
        np.testing.assert_array_equal(dataset.read(), values)
    info = raster.read_scene_info(path)
    assert info.scene_id == "20230715_201234_12_24a3" and info.model == "tcvis,notcvis"
    assert [p.name for p in tmp_path.iterdir()] == ["s.tif"]


def test_stale_temporaries_of_live_processes_are_kept(tmp_path):
    mine = atomic.temporary_path(tmp_path / "a.tif")
    mine.write_bytes(b"x")
    dead = mine.with_name(mine.name.replace(f"-{__import__('os').getpid()}-", "-999999999-"))
    dead.write_bytes(b"x")
    removed = atomic.cleanup_stale_temporaries(tmp_path)
    assert removed == [dead]
    assert mine.exists() and atomic.is_temporary(mine)
