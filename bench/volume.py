"""rts-volume on one pair of 8000 x 8000 px DEMs (2 m) with 500 features, against a
1000 x 1000 px pair with 8 features in the same run: seconds, Mpx/s and peak RSS, and
the volume error of the bowls dug into the later DEM (issue #32: bounded memory,
at most 3 GB, and at least 5 Mpx/s on 2 cores).

    python bench/volume.py
"""

import math
import sys
import tempfile
from pathlib import Path

import geopandas
import numpy as np
import rasterio
import shapely
from _child import measured
from affine import Affine
from scipy import ndimage

from rts_core import raster

BIN = Path(sys.executable).parent
PIXEL_M, SHIFT = 2.0, (2.4, -1.2, 0.7)
RADIUS_M, DEPTH_M = 40.0, 4.0
BOWL_M3 = -math.pi * RADIUS_M ** 2 * DEPTH_M / 2
CRS = "EPSG:6931"  # equal-area: the bowls' analytic volume holds on the ground


def centres(size: int, count: int) -> np.ndarray:
    side = math.ceil(math.sqrt(count))
    spacing = size * PIXEL_M / side
    grid = np.array([((i % side + 0.5) * spacing, -((i // side) + 0.5) * spacing) for i in range(count)])
    return grid


def write_pair(folder: Path, size: int, count: int) -> tuple[list[Path], Path]:
    """Hills from a coarse random lattice (cubic), the later DEM shifted by SHIFT with a
    bowl at each feature; written window by window."""
    rng = np.random.default_rng(0)
    lattice = ndimage.gaussian_filter(rng.normal(size=(size // 25 + 8, size // 25 + 8)), 1.0) * 60
    points = centres(size, count)
    transform = Affine(PIXEL_M, 0, 0, 0, -PIXEL_M, 0)
    paths = [folder / "SETSM_s2s041_WV01_20190801_A_2m_lsf_seg1_dem.tif",
             folder / "SETSM_s2s041_WV02_20220801_B_2m_lsf_seg1_dem.tif"]
    for index, path in enumerate(paths):
        dx, dy, dz = SHIFT if index else (0.0, 0.0, 0.0)
        with raster.CogWriter(path, width=size, height=size, count=1, dtype="float32", crs=CRS,
                              transform=transform, nodata=-9999.0) as out:
            for window in raster.row_windows(size, size, 500):
                rows, cols = np.mgrid[window.row_off:window.row_off + window.height, 0:size].astype(float)
                x = (cols + 0.5) * PIXEL_M + dx
                y = -(rows + 0.5) * PIXEL_M + dy
                z = ndimage.map_coordinates(lattice, [-y / (25 * PIXEL_M) + 4, x / (25 * PIXEL_M) + 4], order=3)
                z = z + rng.normal(0, 0.1, z.shape) + dz
                if index:
                    near = np.abs(points[:, 1][:, None] - y[:, 0][None, :]).min(axis=1) < RADIUS_M + PIXEL_M
                    for cx, cy in points[near]:
                        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / RADIUS_M ** 2
                        z -= np.where(r2 < 1, DEPTH_M * (1 - r2), 0.0)
                out.write(z.astype(np.float32), window=window)
    features = folder / "features.parquet"
    geopandas.GeoDataFrame({"id": [f"F{i}" for i in range(count)]},
                           geometry=[shapely.Point(p).buffer(RADIUS_M) for p in points], crs=CRS).to_parquet(features)
    return paths, features


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, count in ((1000, 8), (8000, 500)):
            folder = Path(tmp) / str(size)
            folder.mkdir()
            dems, features = write_pair(folder, size, count)
            seconds, peak, _ = measured([str(BIN / "rts-volume"), "-q", *map(str, dems), "--features", str(features),
                                         "-o", str(folder / "out")])
            volume = geopandas.read_parquet(folder / "out" / "volume.parquet")
            error = (volume["volume_change_m3"] / BOWL_M3 - 1).abs()
            with rasterio.open(dems[0]) as src:
                pixels = src.width * src.height
            rows.append((size, count, seconds, pixels, peak, error.median(), error.max()))
    print(f"{'DEM px':>7} {'features':>8} {'seconds':>8} {'Mpx/s':>7} {'peak RSS MB':>12} {'median err':>10} "
          f"{'max err':>8}")
    for size, count, seconds, pixels, peak, median, worst in rows:
        print(f"{size:>7} {count:>8} {seconds:>8.1f} {pixels / 1e6 / seconds:>7.2f} {peak:>12.0f} {median:>10.2%} "
              f"{worst:>8.2%}")
    print(f"8000 px against 1000 px: {rows[1][2] / rows[0][2]:.1f} times the time for 64 times the pixels")


if __name__ == "__main__":
    main()
