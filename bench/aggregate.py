"""rts-aggregate on about 120,000 Level-1 features (DARTS v1 had 119,449), against a
straightforward geopandas dissolve of the same files in the same run: seconds, peak RSS
and their ratio.

The features are the 400 real labels of data/rts_labels_sample.gpkg, replicated over
100 sites around the Arctic (some on the antimeridian): per site 3 years x 4 scenes of
100 slumps each, every detection jittered by a few metres and growing a little per year,
so detections overlap within a year and tracks chain across years. Each scene is one
Level-1 file in its own UTM zone with its extent beside it, as rts-ensemble writes them.

    python bench/aggregate.py [--sites 100]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import geopandas
import numpy as np
import pandas
import shapely
from _child import measured

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "level1"
        folder.mkdir()
        features = write_world(folder, args.sites)
        files = sorted(folder.glob("*.l1.parquet"))
        listing = Path(tmp) / "level1.txt"
        listing.write_text("\n".join(map(str, files)) + "\n")
        seconds, peak, _ = measured(["sh", "-c", f"{BIN / 'rts-aggregate'} - -q -o {tmp}/products < {listing}"])
        level2 = geopandas.read_parquet(Path(tmp) / "products" / "level2.parquet")
        tracks = geopandas.read_parquet(Path(tmp) / "products" / "tracks.parquet")
        base_seconds, base_peak, output = measured([sys.executable, "-c", BASELINE, str(folder)])
        base_parts = int(output.split()[0])
    print(f"{features} Level-1 features in {len(files)} files -> {len(level2)} Level-2 features, "
          f"{len(tracks)} tracks")
    print(f"{'':<34} {'seconds':>8} {'peak RSS MB':>12}")
    print(f"{'rts-aggregate (all products)':<34} {seconds:>8.1f} {peak:>12.0f}")
    print(f"{'geopandas read + dissolve only':<34} {base_seconds:>8.1f} {base_peak:>12.0f}"
          f"   ({base_parts} parts)")
    print(f"ratio rts-aggregate / dissolve: {seconds / base_seconds:.2f} x time, {peak / base_peak:.2f} x memory")


if __name__ == "__main__":
    main()
