"""rts-aggregate on about 120,000 Level-1 features (DARTS v1 had 119,449), against a
straightforward geopandas dissolve of the same files in the same run: seconds, peak
memory (RSS of the process and its workers together) and their ratio.

The features are the 400 real labels of data/rts_labels_sample.gpkg, replicated over
100 sites around the Arctic (some on the antimeridian): per site 3 years x 4 scenes of
100 slumps each, every detection jittered by a few metres and growing a little per year,
so detections overlap within a year and tracks chain across years. Each scene is one
Level-1 file in its own UTM zone with its extent beside it, as rts-ensemble writes them.

    python bench/aggregate.py [--sites 100] [--workers N] [--check]
    python bench/aggregate.py --sites 834 --no-baseline     # 1,000,800 features

--check also aggregates the same files in one pass in memory (tests/aggregate/oracle.py,
the unpartitioned implementation) and compares every product with the test suite's
comparison (tests/aggregate/test_partitioned.py).
"""

import argparse
import sys
import tempfile
from pathlib import Path

import geopandas
import numpy as np
import pandas
import shapely
from _child import measured_tree

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
YEARS = (2021, 2022, 2023)
SCENES_PER_YEAR = 4
SLUMPS_PER_SCENE = 100

BASELINE = """
import sys, time
from pathlib import Path
import geopandas, pandas
start = time.perf_counter()
frames = [geopandas.read_parquet(p).to_crs("EPSG:6931") for p in sorted(Path(sys.argv[1]).glob("*.l1.parquet"))]
level1 = pandas.concat(frames, ignore_index=True)
level1["geometry"] = level1.geometry.make_valid()
level2 = level1[["year", "geometry"]].dissolve(by="year").explode(index_parts=False)
print(len(level2), time.perf_counter() - start)
"""


def shapes_in_metres() -> np.ndarray:
    """The real label polygons, each centred on (0, 0), in metres."""
    labels = geopandas.read_file(ROOT / "data" / "rts_labels_sample.gpkg").to_crs("EPSG:6931")
    geometries = shapely.make_valid(labels.geometry.values)
    centres = shapely.centroid(geometries)
    return np.array([shapely.affinity.translate(g, -c.x, -c.y) for g, c in zip(geometries, centres, strict=True)])


def utm_epsg(lon: float) -> int:
    return 32600 + int((lon + 180) // 6) % 60 + 1


def write_world(folder: Path, sites: int) -> int:
    rng = np.random.default_rng(0)
    shapes = shapes_in_metres()
    longitudes = np.linspace(-180, 180, sites, endpoint=False) + 0.02  # site 0 straddles 180°
    latitudes = rng.uniform(66, 73, sites)
    count = 0
    for site, (lon, lat) in enumerate(zip(longitudes, latitudes, strict=True)):
        epsg = utm_epsg(lon)
        centre = geopandas.GeoSeries.from_xy([lon], [lat], crs="EPSG:4326").to_crs(epsg).iloc[0]
        chosen = rng.choice(len(shapes), SLUMPS_PER_SCENE, replace=False)
        offsets = rng.uniform(-4000, 4000, (SLUMPS_PER_SCENE, 2))
        for year_index, year in enumerate(YEARS):
            grown = shapely.buffer(shapes[chosen], 2.0 * year_index)
            for scene in range(SCENES_PER_YEAR):
                acquired = pandas.Timestamp(f"{year}-07-{5 + 6 * scene:02d}T20:00:00", tz="UTC")
                scene_id = f"{acquired:%Y%m%d}_2000{site:02d}_{scene:02d}_24{site % 100:02d}"
                jitter = offsets + rng.normal(0, 3, offsets.shape)
                placed = [shapely.affinity.translate(g, centre.x + dx, centre.y + dy)
                          for g, (dx, dy) in zip(grown, jitter, strict=True)]
                areas = shapely.area(placed)
                level1 = geopandas.GeoDataFrame({
                    "scene_id": scene_id, "acquired": acquired, "year": year, "month": 7, "area_m2": areas,
                    "area_ha": areas / 1e4, "n_pixels": (areas / 9).astype(int), "prob_mean": 0.8, "prob_max": 0.95,
                    "models": "tcvis,notcvis", "sensor": "PlanetScope"}, geometry=placed, crs=epsg)
                level1.to_parquet(folder / f"{scene_id}.l1.parquet", write_covering_bbox=True)
                footprint = shapely.box(centre.x - 6000, centre.y - 6000, centre.x + 6000, centre.y + 6000)
                geopandas.GeoDataFrame({"scene_id": [scene_id], "acquired": [acquired], "year": [year]},
                                       geometry=[footprint], crs=epsg).to_parquet(
                    folder / f"{scene_id}.extent.parquet", write_covering_bbox=True)
                count += len(level1)
    return count


def check(folder: Path, products: Path) -> str:
    """Compare rts-aggregate's products with the one-pass, in-memory aggregate."""
    sys.path.insert(0, str(ROOT))
    from tests.aggregate.test_partitioned import assert_same_products, reference

    files = sorted(folder.glob("*.l1.parquet"))
    got = {p.stem: geopandas.read_parquet(p) for p in products.glob("*.parquet")}
    assert_same_products(got, reference(files))
    return "products equal to the one-pass aggregate (Level 2 and tracks to the bit, H3 areas to 1e-12)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None, help="rts-aggregate --workers (default: all cores)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the geopandas dissolve")
    parser.add_argument("--check", action="store_true", help="compare with the one-pass aggregate")
    args = parser.parse_args()
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "level1"
        folder.mkdir()
        features = write_world(folder, args.sites)
        files = sorted(folder.glob("*.l1.parquet"))
        listing = Path(tmp) / "level1.txt"
        listing.write_text("\n".join(map(str, files)) + "\n")
        command = f"{BIN / 'rts-aggregate'} - -q -o {tmp}/products {' '.join(workers)} < {listing}"
        seconds, peak, _ = measured_tree(["sh", "-c", command])
        level2 = pandas.read_parquet(Path(tmp) / "products" / "level2.parquet", columns=["year"]).shape[0]
        tracks = pandas.read_parquet(Path(tmp) / "products" / "tracks.parquet", columns=["track_id"]).shape[0]
        if not args.no_baseline:
            base_seconds, base_peak, output = measured_tree([sys.executable, "-c", BASELINE, str(folder)])
            base_parts = int(output.split()[0])
        verdict = check(folder, Path(tmp) / "products") if args.check else None
    print(f"{features} Level-1 features in {len(files)} files -> {level2} Level-2 features, {tracks} tracks")
    print(f"{'':<34} {'seconds':>8} {'peak MB':>12}")
    print(f"{'rts-aggregate (all products)':<34} {seconds:>8.1f} {peak:>12.0f}")
    if not args.no_baseline:
        print(f"{'geopandas read + dissolve only':<34} {base_seconds:>8.1f} {base_peak:>12.0f}"
              f"   ({base_parts} parts)")
        print(f"speed-up over the dissolve: {base_seconds / seconds:.2f} x; memory: {peak / base_peak:.2f} x")
    if verdict:
        print(verdict)


if __name__ == "__main__":
    main()
