"""rts_core.geoparquet: the one GeoParquet writer and reader, checked against the
official GeoParquet 1.1.0 schema, geopandas' reader and the validator's best practices
(bbox covering, bounded row groups in spatial order)."""

import json
from pathlib import Path

import geopandas
import jsonschema
import numpy as np
import pyarrow.parquet as pq
import pyproj.datadir
import pytest
import referencing
import referencing.jsonschema
import shapely
from shapely.geometry import Polygon, box

from rts_core import geoparquet
from tests.conftest import DATA

SCHEMA = json.loads((DATA / "geoparquet" / "schema-1.1.0.json").read_text())
PROJJSON_REFERENCE = "https://proj.org/schemas/v0.7/projjson.schema.json"  # what SCHEMA refers to


def validate(geo: dict) -> None:
    """Validate "geo" metadata against the GeoParquet schema, offline: its PROJJSON
    reference is the schema PROJ ships (pyproj's data folder)."""
    projjson = json.loads(Path(pyproj.datadir.get_data_dir(), "projjson.schema.json").read_text())
    registry = referencing.Registry().with_resource(
        PROJJSON_REFERENCE, referencing.Resource.from_contents(projjson, referencing.jsonschema.DRAFT7))
    jsonschema.Draft7Validator(SCHEMA, registry=registry).validate(geo)


def geo_of(path) -> dict:
    return json.loads(pq.read_schema(path).metadata[b"geo"])


def scattered(n: int, seed: int = 0) -> geopandas.GeoDataFrame:
    """n small squares scattered at random over 100 km."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 100_000, (2, n))
    return geopandas.GeoDataFrame({"id": np.arange(n)}, geometry=shapely.box(x, y, x + 30, y + 20), crs="EPSG:32608")


def test_metadata_follows_the_official_schema_and_geopandas_reads_the_same_frame(tmp_path):
    frame = geopandas.GeoDataFrame(
        {"scene_id": ["a", "b", "c"], "area_m2": [1.0, 4.0, 2.5], "year": np.array([2021, 2022, 2023], np.int16)},
        geometry=[box(0, 0, 1, 1), shapely.MultiPolygon([box(10, 10, 12, 12), box(20, 20, 21, 21)]), None],
        crs="EPSG:3413")
    path = geoparquet.write(frame, tmp_path / "x.parquet", fingerprint="f" * 64, metadata={"RTS_NOTE": "kept"})
    geo = geo_of(path)
    validate(geo)
    column = geo["columns"]["geometry"]
    assert geo["version"] == "1.1.0" and column["encoding"] == "WKB"
    assert column["geometry_types"] == ["MultiPolygon", "Polygon"]
    assert column["bbox"] == [0.0, 0.0, 21.0, 21.0]
    assert geopandas.read_parquet(path).crs.to_epsg() == 3413
    # the columns in the frame's order, then the covering box, whose rows are each geometry's bounds
    schema = pq.read_schema(path)
    assert schema.names == ["scene_id", "area_m2", "year", "geometry", "bbox"]
    boxes = pq.read_table(path, columns=["bbox"]).column("bbox").to_pylist()
    assert boxes[1] == {"xmin": 10.0, "ymin": 10.0, "xmax": 21.0, "ymax": 21.0} and np.isnan(boxes[2]["xmin"])
    for back in (geopandas.read_parquet(path), geoparquet.read(path)):
        assert back["scene_id"].tolist() == ["a", "b", "c"] and back["area_m2"].tolist() == [1.0, 4.0, 2.5]
        assert back["year"].dtype == np.int16 and back.crs == frame.crs
        assert back.geometry.iloc[2] is None and back.geometry.iloc[:2].geom_equals(frame.geometry.iloc[:2]).all()
    # the fingerprint and other metadata are in the one write, beside "geo"
    metadata = geoparquet.metadata_of(path)
    assert metadata["RTS_NOTE"] == "kept" and "geo" in metadata
    assert metadata[geoparquet.PARQUET_FINGERPRINT.decode()] == "f" * 64


def test_an_empty_frame_has_the_schema_and_no_box(tmp_path):
    empty = geopandas.GeoDataFrame({"id": np.empty(0, np.int64)}, geometry=[], crs="EPSG:4326")
    path = geoparquet.write(empty, tmp_path / "empty.parquet")
    geo = geo_of(path)
    validate(geo)
    assert "bbox" not in geo["columns"]["geometry"] and geo["columns"]["geometry"]["geometry_types"] == []
    back = geoparquet.read(path)
    assert len(back) == 0 and back.crs.to_epsg() == 4326 and list(back.columns) == ["id", "geometry"]


def test_a_large_file_has_bounded_row_groups_in_hilbert_order(tmp_path, monkeypatch):
    monkeypatch.setattr(geoparquet, "ROW_GROUP_ROWS", 500)
    frame = scattered(4000)
    path = geoparquet.write(frame, tmp_path / "big.parquet")
    source = pq.ParquetFile(path)
    assert source.num_row_groups == 8 and all(source.metadata.row_group(i).num_rows == 500 for i in range(8))
    # each row group covers a compact part of the whole: its boxes' extent is a fraction of it
    whole = frame.total_bounds
    whole_area = (whole[2] - whole[0]) * (whole[3] - whole[1])
    shares = []
    for index in range(source.num_row_groups):
        group = geoparquet.frame_of(source.read_row_group(index), geo_of(path)).total_bounds
        shares.append((group[2] - group[0]) * (group[3] - group[1]) / whole_area)
    assert max(shares) < 0.5 and sum(shares) < 1.5, shares  # unordered: each near 1, sum near 8
    # the same rows, and a bbox filter reads only what lies there
    back = geoparquet.read(path)
    assert sorted(back["id"]) == list(range(4000))
    corner = geopandas.read_parquet(path, bbox=(0, 0, 20_000, 20_000))
    expected = frame.cx[:20_000, :20_000]
    assert set(corner["id"]) >= set(expected["id"]) and len(corner) < 2000
    # a small file keeps its rows in the order given
    small = geoparquet.write(frame.iloc[:400], tmp_path / "small.parquet")
    assert geoparquet.read(small)["id"].tolist() == list(range(400))


def test_the_streaming_writer_merges_boxes_and_types_and_equals_the_one_shot_writer(tmp_path):
    frame = scattered(300, seed=3)
    frame.loc[frame.index[-1], "geometry"] = shapely.MultiPolygon([box(0, 0, 1, 1), box(5, 5, 6, 6)])
    writer = geoparquet.Writer(tmp_path / "streamed.parquet", frame.iloc[:0], row_group_rows=100)
    for start in range(0, 300, 70):
        writer.write_table(geoparquet.table_of(frame.iloc[start:start + 70]))
    streamed = writer.close()
    whole = geoparquet.write(frame, tmp_path / "whole.parquet")
    assert geo_of(streamed) == geo_of(whole)
    validate(geo_of(streamed))
    assert pq.ParquetFile(streamed).num_row_groups == 3
    assert geoparquet.read(streamed).equals(geoparquet.read(whole))


def test_what_cannot_be_written_is_refused_and_leaves_nothing(tmp_path):
    frame = scattered(3)
    with pytest.raises(ValueError, match="without a CRS"):
        geoparquet.write(frame.set_crs(None, allow_override=True), tmp_path / "x.parquet")
    frame["other"] = geopandas.GeoSeries([Polygon()] * 3, crs=frame.crs)
    with pytest.raises(ValueError, match="one geometry column"):
        geoparquet.write(frame, tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []
