"""rts-ensemble on an 8000 x 8000 scene with two models (thousands of blobs), against
a 1000 x 1000 scene in the same run: seconds, Mpx/s and peak RSS.

    python bench/ensemble.py
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from _child import measured
from affine import Affine
from scipy import ndimage

from rts_core import raster

BIN = Path(sys.executable).parent
SCENE = "20220801_201500_10_2416"


def write_probs(folder: Path, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for model in ("tcvis", "notcvis"):
        path = folder / f"{SCENE}.{model}.prob.tif"
        tags = raster.scene_tags(SCENE, "2022-08-01T20:15:00Z", "bench", model=model)
        with raster.CogWriter(path, width=size, height=size, count=1, dtype="uint8", crs="EPSG:32608",
                              transform=Affine(3, 0, 600000, 0, -3, 7700000), nodata=255, tags=tags,
                              scales=[0.01], offsets=[0.0]) as out:
            for window in raster.row_windows(size, size, 1000):
                field = ndimage.gaussian_filter(rng.standard_normal((window.height, window.width)), 6)
                out.write(np.clip(50 + field * 900, 0, 100).astype(np.uint8), window=window)
        paths.append(path)
    return paths


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (1000, 8000):
            folder = Path(tmp) / str(size)
            folder.mkdir()
            probs = write_probs(folder, size)
            seconds, peak, _ = measured([str(BIN / "rts-ensemble"), "-q", *map(str, probs), "-o", str(folder / "l1")])
            import geopandas

            objects = len(geopandas.read_parquet(folder / "l1" / f"{SCENE}.l1.parquet"))
            rows.append((size, seconds, objects, peak))
    print(f"{'scene px':>9} {'seconds':>8} {'Mpx/s':>7} {'objects':>8} {'peak RSS MB':>12}")
    for size, seconds, objects, peak in rows:
        print(f"{size:>9} {seconds:>8.1f} {size * size / 1e6 / seconds:>7.2f} {objects:>8} {peak:>12.0f}")


if __name__ == "__main__":
    main()
