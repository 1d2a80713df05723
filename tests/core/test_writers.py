import json

import geopandas
import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import box

from rts_core import atomic, contract, geoparquet, raster, vector


def frame():
    return geopandas.GeoDataFrame({"scene_id": ["a", "b"], "area_m2": [1.0, 4.0]},
                                  geometry=[box(0, 0, 1, 1), box(10, 10, 12, 12)],
                                  crs="EPSG:32608")


def test_geoparquet_is_1_1_with_bbox_covering(tmp_path):
    path = geoparquet.write(frame(), tmp_path / "x.parquet")
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
    path = geoparquet.write(frame(), tmp_path / "x.parquet")
    back = pyogrio.read_dataframe(path)
    assert back.crs.to_epsg() == 32608 and len(back) == 2


def test_geoparquet_without_crs_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="without a CRS"):
        geoparquet.write(frame().set_crs(None, allow_override=True), tmp_path / "x.parquet")
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


def write_in_windows(path, values, overview_resampling, windows, **extra):
    count, height, width = values.shape
    with raster.CogWriter(path, width=width, height=height, count=count, dtype=values.dtype.name,
                          crs="EPSG:32608", transform=Affine(3, 0, 500000, 0, -3, 7700000),
                          overview_resampling=overview_resampling, **extra) as out:
        for window in windows:
            rows, cols = window.toslices()
            out.write(values[:, rows, cols], window=window)


def overviews(path):
    with rasterio.open(path) as dataset:
        factors = dataset.overviews(1)
        levels = [dataset.read(out_shape=(dataset.count, -(-dataset.height // f), -(-dataset.width // f)))
                  for f in factors]
        return factors, levels, dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")


@pytest.mark.parametrize("height,width", [(768, 1280), (701, 1301)])
def test_streamed_nearest_overviews_are_gdals(tmp_path, height, width):
    values = np.random.default_rng(5).integers(-300, 300, (3, height, width)).astype("int16")
    uneven = [Window(col, row, min(300, width - col), min(250, height - row))  # not aligned to any factor
              for row in range(0, height, 250) for col in range(0, width, 300)]
    tags = {"RTS_SCENE_ID": "x"}
    write_in_windows(tmp_path / "streamed.tif", values, "nearest", uneven, nodata=-32768, tags=tags,
                     band_descriptions=["a", "b", "c"], scales=[0.01, 0.1, 1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.tif"]  # drafts and VRT are gone
    factors, levels, layout = overviews(tmp_path / "streamed.tif")
    assert layout == "COG" and factors == raster.overview_factors(width, height) == [2, 4]
    with rasterio.open(tmp_path / "streamed.tif") as dataset:
        assert dataset.descriptions == ("a", "b", "c") and dataset.scales == (0.01, 0.1, 1)
        assert dataset.nodata == -32768 and dataset.tags()["RTS_SCENE_ID"] == "x"
        np.testing.assert_array_equal(dataset.read(), values)
    for factor, level in zip(factors, levels, strict=True):
        np.testing.assert_array_equal(level, values[:, ::factor, ::factor])
    if height % 4 == 0 and width % 4 == 0:  # where GDAL's own sampling is i x factor too
        # GDAL computes its overviews from a plain copy without any (from our COG the COG
        # driver would copy ours, and the comparison could not fail)
        with rasterio.open(tmp_path / "plain.tif", "w", driver="GTiff", width=width, height=height, count=3,
                           dtype="int16", crs="EPSG:32608", transform=Affine(3, 0, 0, 0, -3, 0)) as plain:
            plain.write(values)
        raster.to_cog(tmp_path / "plain.tif", tmp_path / "gdal.tif", overview_resampling="nearest")
        gdal_factors, gdal_levels, _ = overviews(tmp_path / "gdal.tif")
        assert gdal_factors == factors
        for ours, theirs in zip(levels, gdal_levels, strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_failed_streamed_write_leaves_nothing(tmp_path):
    values = np.zeros((1, 1100, 1100), "uint8")
    with pytest.raises(RuntimeError), raster.CogWriter(
            tmp_path / "a.tif", width=1100, height=1100, count=1, dtype="uint8", crs="EPSG:32608",
            transform=Affine(3, 0, 0, 0, -3, 0), overview_resampling="nearest") as out:
        out.write(values[0], window=Window(0, 0, 1100, 1100))
        assert len(list(tmp_path.iterdir())) == 3  # the draft and two overview drafts (2 and 4)
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
