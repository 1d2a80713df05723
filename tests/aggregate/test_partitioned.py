"""rts-aggregate by squares equals one pass over all features: features crossing square
edges, a site on the antimeridian (which is a square edge in EPSG:6931) and tracks that
chain across squares."""

import geopandas
import numpy as np
import pandas
import pytest
import shapely

from rts_aggregate import partitioned
from rts_aggregate.aggregation import aggregate_files, concat
from rts_aggregate.geometry import WORK_CRS
from rts_aggregate.inputs import read_extents, read_level1
from rts_aggregate.products import AggregateOptions
from rts_core import contract, geoparquet
from rts_core.runner import RunOptions
from tests.aggregate.oracle import aggregate
from tests.conftest import DATA

SITES = {"antimeridian": (180.0, 70.0), "banks": (-121.5, 72.5), "yamal": (69.0, 68.8)}
YEARS = (2021, 2022, 2023)


def shapes_in_metres(count: int) -> np.ndarray:
    """Real expert-drawn RTS outlines, each centred on (0, 0), in metres."""
    labels = geopandas.read_file(DATA / "rts_labels_lena_herschel.gpkg").to_crs(WORK_CRS)
    geometries = shapely.make_valid(labels.geometry.values[:count])
    centres = shapely.centroid(geometries)
    return np.array([shapely.affinity.translate(g, -c.x, -c.y) for g, c in zip(geometries, centres, strict=True)])


def write_world(folder, slumps: int = 30, scenes: int = 3) -> list:
    """Per site and year ``scenes`` Level-1 files (in the site's UTM zone) of jittered,
    growing real outlines spread over 3 km, with extents beside them."""
    rng = np.random.default_rng(1)
    shapes = shapes_in_metres(slumps)
    files = []
    for lon, lat in SITES.values():
        epsg = 32600 + int((lon + 180) // 6) % 60 + 1
        centre = geopandas.GeoSeries.from_xy([lon], [lat], crs="EPSG:4326").to_crs(epsg).iloc[0]
        offsets = rng.uniform(-1500, 1500, (slumps, 2))
        for year_index, year in enumerate(YEARS):
            grown = shapely.buffer(shapes, 3.0 * year_index)
            for scene in range(scenes):
                acquired = pandas.Timestamp(f"{year}-07-{3 + 7 * scene:02d}T20:00:00", tz="UTC")
                scene_id = f"{acquired:%Y%m%d}_200000_{scene:02d}_24{len(files) % 90 + 10:02d}"
                jitter = offsets + rng.normal(0, 4, offsets.shape)
                seen = rng.random(slumps) < 0.85  # not every scene sees every slump
                placed = [shapely.affinity.translate(g, centre.x + dx, centre.y + dy)
                          for g, (dx, dy), s in zip(grown, jitter, seen, strict=True) if s]
                areas = shapely.area(placed)
                level1 = geopandas.GeoDataFrame({
                    "scene_id": scene_id, "acquired": acquired, "year": year, "month": 7, "area_m2": areas,
                    "area_ha": areas / 1e4, "n_pixels": (areas / 9).astype(int), "prob_mean": 0.8,
                    "prob_max": 0.95, "models": "tcvis,notcvis", "sensor": "PlanetScope"},
                    geometry=placed, crs=epsg)
                path = folder / contract.l1_name(scene_id)
                geoparquet.write(level1, path)
                footprint = shapely.box(centre.x - 2500, centre.y - 2500, centre.x + 2500 - 500 * scene,
                                        centre.y + 2500)
                geoparquet.write(geopandas.GeoDataFrame({"scene_id": [scene_id], "acquired": [acquired],
                                                         "year": [year]}, geometry=[footprint], crs=epsg),
                                 folder / contract.extent_name(scene_id))
                files.append(path)
    return files


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partitioned") / "level1"
    folder.mkdir()
    return write_world(folder)


def reference(files, options=AggregateOptions()):
    """The products of one pass over all features in memory."""
    level1 = concat([read_level1(f) for f in sorted(files, key=lambda p: p.name)])
    extents = concat([read_extents(f.with_name(f.name.replace(contract.L1_SUFFIX, contract.EXTENT_SUFFIX)))
                      for f in sorted(files, key=lambda p: p.name)])
    return aggregate(level1, extents, options)


def partitioned_products(files, out, square_m, workers=1, options=AggregateOptions()):
    result = aggregate_files([str(f) for f in reversed(files)], [], out, options, gpkg=False, partial=False,
                             run=RunOptions("rts-aggregate", False, True, False),
                             partitioning=partitioned.Partitioning(square_m=square_m, workers=workers))
    assert not result.failed
    return {name: geopandas.read_parquet(out / f"{name}.parquet") for name in contract.PRODUCTS}


def canonical(frame, keys):
    """Rows in an order that does not depend on how the run was split."""
    centroid = frame.geometry.to_crs(WORK_CRS).centroid
    ordered = frame.assign(_x=centroid.x.round(3), _y=centroid.y.round(3))
    return ordered.sort_values([*keys, "_x", "_y"], kind="stable").drop(columns=["_x", "_y"]).reset_index(drop=True)


def assert_same_products(got, expected):
    for name in ("level1", "level2", "tracks", "coverage_level1", "coverage_level2", "coverage_union",
                 "coverage_intersect"):
        keys = {"level1": ["scene_id"], "level2": ["year"], "tracks": ["track_id"]}.get(name, [])
        a, b = canonical(got[name], keys), canonical(expected[name], keys)
        assert len(a) == len(b), name
        pandas.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), check_dtype=False,
                                          obj=name)
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all(), name
    a, b = got["h3"], expected["h3"]  # areas summed region by region: equal to rounding
    pandas.testing.assert_frame_equal(a.drop(columns=["geometry", "rts_area_m2", "affected_pct"]),
                                      b.drop(columns=["geometry", "rts_area_m2", "affected_pct"]))
    np.testing.assert_allclose(a["rts_area_m2"], b["rts_area_m2"], rtol=1e-12)
    np.testing.assert_allclose(a["affected_pct"], b["affected_pct"], rtol=1e-12)
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all()


def test_squares_cut_through_sites_and_the_antimeridian_give_the_same_products(world, tmp_path):
    """1 km squares cut every site into many; the antimeridian site lies on the square
    edge x = 0. Every product equals the one-pass result: Level 2 and tracks to the bit."""
    expected = reference(world)
    got = partitioned_products(world, tmp_path / "small", square_m=1000.0)
    assert_same_products(got, expected)
    # the world really exercises what it should: tracks over several years and squares,
    # and features split at the antimeridian in EPSG:4326
    assert (got["tracks"]["n_years"] == 3).sum() >= 10
    assert (got["level2"].geometry.geom_type == "MultiPolygon").any()
    bounds = got["level2"].geometry.bounds
    assert ((bounds["minx"] < -179.9) | (bounds["maxx"] > 179.9)).sum() >= 5


def test_worker_processes_give_the_same_products(world, tmp_path):
    got = partitioned_products(world, tmp_path / "pool", square_m=2000.0, workers=2)
    assert_same_products(got, reference(world))


def test_darts_schema_by_squares_equals_one_pass(world, tmp_path):
    options = AggregateOptions(schema="darts", dataset_version="test")
    got = partitioned_products(world, tmp_path / "darts", square_m=1000.0, options=options)
    expected = reference(world, options)
    for name, key in (("level1", ["image_id", "id"]), ("level2", ["year", "id"])):
        a = got[name].sort_values(key).reset_index(drop=True)
        b = expected[name].sort_values(key).reset_index(drop=True)
        pandas.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), check_dtype=False)
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all()


def test_open_features_are_those_near_square_edges():
    """Within a square, a Level-2 feature farther than the reach from every edge is
    final; one within reach is left open with its whole track."""
    def feature(x, y, year, scene):
        return {"scene_id": scene, "acquired": pandas.Timestamp(f"{year}-07-01", tz="UTC"), "year": year,
                "month": 7, "area_m2": 100.0, "area_ha": 0.01, "n_pixels": 11, "prob_mean": 0.8, "prob_max": 0.9,
                "models": "m", "sensor": "PlanetScope", partitioned.ORDER: len(rows),
                "geometry": shapely.box(x, y, x + 10, y + 10)}

    rows = []
    rows.append(feature(500, 500, 2021, "a"))  # the middle: final
    rows.append(feature(955, 500, 2021, "a"))  # 35 m from the edge, reach 10 m: open
    rows.append(feature(300, 300, 2021, "a"))  # a track of two years ...
    rows.append(feature(305, 305, 2022, "b"))
    rows.append(feature(20, 305, 2022, "b"))  # ... and this one near the edge, alone
    frame = geopandas.GeoDataFrame(rows, geometry="geometry", crs=WORK_CRS)
    for name, column in zip(partitioned.BOUNDS, shapely.bounds(frame.geometry.values).T, strict=True):
        frame[name] = column
    extents = geopandas.GeoDataFrame({"scene_id": ["a", "b"], "year": [2021, 2022]},
                                     geometry=[shapely.box(0, 0, 1000, 1000)] * 2, crs=WORK_CRS)
    region = partitioned.aggregate_region(frame, extents, AggregateOptions(), box=(0, 0, 1000, 1000), reach_m=40)
    assert len(region.level2) == 3 and len(region.tracks) == 2  # the middle one and the two-year track
    assert sorted(region.open_level1.geometry.bounds["minx"]) == [20, 955]
    everything_open = partitioned.aggregate_region(frame, extents, AggregateOptions(), box=(0, 0, 1000, 1000),
                                                   reach_m=600)
    assert len(everything_open.level2) == 0 and len(everything_open.open_level1) == 5
