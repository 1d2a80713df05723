"""rts-synth: a deterministic world whose truth is physically consistent."""

import json
from pathlib import Path

import geopandas
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from rasterio import features
from scipy import signal

from tests.conftest import run_script

pytestmark = pytest.mark.slow  # builds three demo worlds

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "data" / "rts_labels_sample.gpkg"
ARGS = ["--scenes", "4", "--size", "384", "--years", "2022,2023", "--labels", LABELS]


def synth(out: Path, *extra, seed=3):
    done = run_script("rts-synth", "-o", out, "--seed", seed, *ARGS, *extra)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    done = synth(out, "--quicklook")
    printed = done.stdout.splitlines()
    assert len(printed) == 4 and all(p.endswith("_3B_AnalyticMS_SR.tif") for p in printed)
    assert all(Path(p).exists() for p in printed)
    return out


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_identical_files_other_seed_other_world(world, tmp_path):
    again = tmp_path / "again"
    synth(again, "--quicklook")
    first, second = files(world), files(again)
    assert first.keys() == second.keys()
    assert len(first) == 4 * 4 + 3 + 8 + 1  # scenes x (sr, udm2, json, png), aux, truth (with the anatomy), csv
    for name in first:
        assert first[name] == second[name], name
    other = tmp_path / "other"
    synth(other, seed=4)
    assert files(other)["aux/dem.tif"] != first["aux/dem.tif"]
    other_ids = {p.name for p in (other / "scenes").iterdir()}
    assert other_ids != {p.name for p in (world / "scenes").iterdir()}


def scenes(world: Path):
    for folder in sorted((world / "scenes").iterdir()):
        yield folder.name, folder


def test_rasters_have_the_stated_crs_grid_and_types(world):
    for scene_id, folder in scenes(world):
        with rasterio.open(folder / f"{scene_id}_3B_AnalyticMS_SR.tif") as sr, \
                rasterio.open(folder / f"{scene_id}_3B_udm2.tif") as udm2:
            assert sr.crs.to_epsg() == 32608 and sr.count == 4 and sr.dtypes[0] == "uint16"
            assert sr.res == (3.0, 3.0) and sr.shape == (384, 384) and sr.nodata == 0
            assert sr.descriptions == ("blue", "green", "red", "nir")
            assert udm2.count == 8 and udm2.dtypes[0] == "uint8"
            assert udm2.transform == sr.transform and udm2.crs == sr.crs
            blue = sr.read(1)
            assert 0 < (blue == 0).mean() < 0.2  # a tilted swath leaves no-data corners
        metadata = json.loads((folder / f"{scene_id}_metadata.json").read_text())
        assert metadata["id"] == scene_id
        assert metadata["properties"]["acquired"].startswith(
            f"{scene_id[:4]}-{scene_id[4:6]}-{scene_id[6:8]}T{scene_id[9:11]}:{scene_id[11:13]}")
    expectations = {"dem": (3413, "float32", 2.0), "tcvis": (4326, "uint8", None),
                    "landcover": (32607, "uint8", 10.0)}
    truth = geopandas.read_parquet(world / "truth" / "extent.parquet")
    for name, (epsg, dtype, pixel) in expectations.items():
        with rasterio.open(world / "aux" / f"{name}.tif") as dataset:
            assert dataset.crs.to_epsg() == epsg and dataset.dtypes[0] == dtype
            if pixel:
                assert dataset.res == (pixel, pixel)
            # covers every scene with a margin
            bounds = rasterio.warp.transform_bounds(4326, dataset.crs, *truth.total_bounds)
            assert dataset.bounds.left < bounds[0] and dataset.bounds.right > bounds[2]
            assert dataset.bounds.bottom < bounds[1] and dataset.bounds.top > bounds[3]
    with rasterio.open(world / "aux" / "dem.tif") as dem:
        assert dem.nodata == -9999 and (dem.read(1) == -9999).any()  # gaps
    with rasterio.open(world / "aux" / "tcvis.tif") as tcvis:
        assert tcvis.count == 3 and abs(np.median(tcvis.read(3)) - 128) < 6
    with rasterio.open(world / "aux" / "landcover.tif") as landcover:
        assert {1, 11} <= set(np.unique(landcover.read(1)))


def test_truth_is_valid_geoparquet_in_4326(world):
    path = world / "truth" / "rts.parquet"
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    truth = geopandas.read_parquet(path)
    assert truth.crs.to_epsg() == 4326 and len(truth) > 5
    assert truth.geometry.is_valid.all()
    assert {"scene_id", "acquired", "site_id", "year", "split"} <= set(truth.columns)
    assert str(truth["acquired"].dt.tz) == "UTC"
    assert set(truth.scene_id) <= {scene_id for scene_id, _ in scenes(world)}
    gpkg = geopandas.read_file(world / "truth" / "rts.gpkg", layer="rts")
    assert len(gpkg) == len(truth)
    extent = geopandas.read_parquet(world / "truth" / "extent.parquet")
    assert extent.crs.to_epsg() == 4326 and len(extent) == 4
    # every truth piece lies inside its scene's valid extent
    joined = truth.merge(extent[["scene_id", "geometry"]], on="scene_id", suffixes=("", "_extent"))
    inside = joined.geometry.to_crs(32608).difference(
        geopandas.GeoSeries(joined.geometry_extent, crs=4326).to_crs(32608)).area
    assert (inside < 1.0).all()


def relative_elevation(world: Path):
    """DEM minus its mean in a circle of 100 m radius (what rts-prep computes), on the DEM grid."""
    with rasterio.open(world / "aux" / "dem.tif") as dem:
        z = dem.read(1).astype(float)
        valid = z != dem.nodata
        transform, crs = dem.transform, dem.crs
    radius = 50  # px of 2 m
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disk = (xx**2 + yy**2 <= radius**2).astype(float)
    # the same sums as ndimage.convolve with zeros outside, by FFT (a 101 px disk direct is slow)
    total = signal.fftconvolve(np.where(valid, z - z[valid].mean(), 0), disk, mode="same")
    count = np.round(signal.fftconvolve(valid.astype(float), disk, mode="same"))
    z = z - z[valid].mean()
    return np.where(valid, z - total / np.maximum(count, 1), np.nan), transform, crs


def mean_inside(array, geometry, transform, extra=None):
    inside = features.rasterize([geometry], out_shape=array.shape, transform=transform).astype(bool)
    if extra is not None:
        inside &= extra
    return float(np.nanmean(array[inside]))


def test_slumps_are_bare_depressions_and_outcrops_bare_bumps(world):
    rel, transform, crs = relative_elevation(world)
    truth = geopandas.read_parquet(world / "truth" / "rts.parquet")
    feats = geopandas.read_parquet(world / "truth" / "features.parquet")
    outcrops = feats[feats.kind == "rock_outcrop"]
    assert len(outcrops) >= 2
    for geometry in truth.to_crs(crs).geometry:
        assert mean_inside(rel, geometry, transform) < -0.3
    for geometry in outcrops.to_crs(crs).geometry:
        assert mean_inside(rel, geometry, transform) > 0.0
    outcrops_seen = 0
    for scene_id, folder in scenes(world):
        with rasterio.open(folder / f"{scene_id}_3B_AnalyticMS_SR.tif") as sr:
            red, nir = sr.read(3).astype(float), sr.read(4).astype(float)
            ndvi = (nir - red) / np.maximum(nir + red, 1)
            clear = nir > 0
            with rasterio.open(folder / f"{scene_id}_3B_udm2.tif") as udm2:
                clear &= udm2.read(1) == 1
            assert np.median(ndvi[clear]) > 0.55  # vegetated tundra around
            for geometry in truth[truth.scene_id == scene_id].to_crs(sr.crs).geometry:
                assert mean_inside(ndvi, geometry, sr.transform, clear) < 0.35
            checked = 0
            for geometry in outcrops.geometry[outcrops.within(shapely.box(*sr.bounds))]:
                mask = features.rasterize([geometry], out_shape=ndvi.shape, transform=sr.transform) > 0
                if (mask & clear).sum() > 20:
                    checked += 1
                    assert ndvi[mask & clear].mean() < 0.3  # bare rock
            outcrops_seen += checked
    assert outcrops_seen >= 2


def test_udm2_flags_match_injected_clouds_and_shadows(world):
    conditions = geopandas.read_parquet(world / "truth" / "conditions.parquet")
    kinds_seen = set()
    for scene_id, folder in scenes(world):
        with rasterio.open(folder / f"{scene_id}_3B_udm2.tif") as udm2:
            flags = udm2.read()
            transform, shape = udm2.transform, udm2.shape
        mine = conditions[conditions.scene_id == scene_id]

        def burn(kind, mine=mine, shape=shape, transform=transform):
            geometries = list(mine[mine.kind == kind].geometry)
            if not geometries:
                return np.zeros(shape, bool)
            return features.rasterize(geometries, out_shape=shape, transform=transform) > 0

        swath = burn("swath")
        cloud = burn("cloud") & swath
        heavy = burn("thin_cloud") & swath & ~cloud
        shadow = burn("shadow") & swath & ~cloud & ~heavy
        snow = burn("snow") & swath & ~cloud & ~heavy & ~shadow
        kinds_seen |= set(mine.kind)
        np.testing.assert_array_equal(flags[5] == 1, cloud)
        np.testing.assert_array_equal(flags[4] == 1, heavy)
        np.testing.assert_array_equal(flags[2] == 1, shadow)
        np.testing.assert_array_equal(flags[1] == 1, snow)
        np.testing.assert_array_equal(flags[7] == 1, ~swath)  # unusable outside the footprint
        assert (flags[:6].sum(axis=0) == swath).all()  # classes 1-6 exclusive inside the swath
    assert "cloud" in kinds_seen or "thin_cloud" in kinds_seen


def test_labels_keep_their_area(world):
    labels = geopandas.read_file(LABELS)
    label_area = dict(zip(labels["id"].astype(str), labels.to_crs(6931).area, strict=True))
    feats = geopandas.read_parquet(world / "truth" / "features.parquet")
    slumps = feats[feats.kind == "slump"]
    assert len(slumps) >= 4 and slumps.source.str.startswith("label:").all()
    placed = slumps.to_crs(6931).area.to_numpy()
    original = np.array([label_area[s.split(":", 1)[1]] for s in slumps.source])
    np.testing.assert_allclose(placed, original, rtol=0.02)


def test_slumps_grow_upslope_between_years(world):
    truth = geopandas.read_parquet(world / "truth" / "rts.parquet").to_crs(32608)
    feats = geopandas.read_parquet(world / "truth" / "features.parquet")
    growing = feats[(feats.kind == "slump") & (feats.retreat_m_per_yr > 0)]
    grown = 0
    for site_id in growing.feature_id:
        mine = truth[truth.site_id == site_id]
        years = mine.groupby("year").geometry.apply(lambda g: g.union_all())
        if list(years.index) == [2022, 2023]:
            early, late = years[2022], years[2023]
            grown += late.area > early.area and early.difference(late).area < 0.05 * early.area
    assert grown >= 1


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_quicklooks_are_pngs(world):
    for scene_id, folder in scenes(world):
        with rasterio.open(folder / f"{scene_id}_quicklook.png") as png:
            assert png.driver == "PNG" and png.count == 3
