"""rts-train's memory with many large scenes: 200 stacks of 8000 x 4000 px (VRTs over one
stack on disk, each its own scene id and labels) against 10 of them in the same run.
Training tiles are read from disk by window, so peak memory should not grow with the
number of scenes; whole stacks in memory would need 10 bands x 2 bytes + mask + target
per pixel, about 141 GB for the 200 scenes.

    python bench/train_memory.py [WORK_DIR]   # inputs are kept in WORK_DIR
"""

import sys
import tempfile
from pathlib import Path

import geopandas
import numpy as np
import rasterio
import rasterio.shutil
from _child import measured
from affine import Affine
from shapely.geometry import box

from rts_core import contract, preprocessing, raster

BIN = Path(sys.executable).parent
ROWS, COLS, SCENES = 4000, 8000, 200
TRANSFORM = Affine(3, 0, 500000, 0, -3, 7700000)
RECORD = {"tpi_radius_m": 100.0, "slope_method": "horn", "terrain_resampling": "cubic",
          "validity_rule": "udm2_darts_v1", "sensor": "PlanetScope", "pixel_size_m": 3.0}


def scene_id(i: int) -> str:
    return f"20230{7 + i // 100}{1 + (i % 100) // 4:02d}_2012{i % 60:02d}_{i % 100:02d}_24a3"


def inputs(work: Path) -> tuple[list[Path], Path, Path]:
    base = work / "base.tif"
    stacks = [work / f"{scene_id(i)}.stack.vrt" for i in range(SCENES)]
    labels, footprints = work / "labels.parquet", work / "footprints.parquet"
    if labels.exists():
        return stacks, labels, footprints
    print(f"writing an {COLS} x {ROWS} px stack and {SCENES} scenes over it in {work} ...", file=sys.stderr)
    rng = np.random.default_rng(0)
    names = contract.STACK_BANDS
    scales = [0.01 if n in ("relative_elevation", "slope") else 1.0 if n.startswith("tc_") else 1e-4 for n in names]
    with raster.CogWriter(base, width=COLS, height=ROWS, count=len(names), dtype="int16", crs="EPSG:32608",
                          transform=TRANSFORM, nodata=-32768, band_descriptions=names, scales=scales,
                          offsets=[0.0] * len(names), compress="zstd", compress_level=1, overview_resampling="nearest",
                          tags=raster.scene_tags(scene_id(0), "2023-07-01T20:12:00Z", "bench",
                                                 **{contract.TAG_PREPROCESSING: preprocessing.dumps(RECORD)})) as out:
        for window in raster.row_windows(ROWS, COLS, 512):
            coarse = rng.integers(100, 3000, (len(names), window.height // 16 + 1, COLS // 16), dtype=np.int16)
            out.write(np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)[:, :window.height, :COLS], window=window)
    frames = []
    for i, stack in enumerate(stacks):
        rasterio.shutil.copy(base, stack, driver="VRT")
        with rasterio.open(stack, "r+") as dataset:
            dataset.update_tags(**{contract.TAG_SCENE_ID: scene_id(i)})
        corners = rng.uniform([0, 0], [COLS * 3 - 300, ROWS * 3 - 300], size=(10, 2))
        frames.append(geopandas.GeoDataFrame(
            {"scene_id": [scene_id(i)] * 10},
            geometry=[box(500000 + x, 7700000 - y - 150, 500000 + x + 150, 7700000 - y) for x, y in corners],
            crs="EPSG:32608"))
    geopandas.pd.concat(frames, ignore_index=True).to_parquet(labels)
    geopandas.GeoDataFrame({"scene_id": [scene_id(i) for i in range(SCENES)]},
                           geometry=[box(500000, 7700000 - ROWS * 3, 500000 + COLS * 3, 7700000)] * SCENES,
                           crs="EPSG:32608").to_parquet(footprints)
    return stacks, labels, footprints


def fit(stacks, labels, footprints, out: Path) -> tuple[float, float]:
    seconds, peak, _ = measured([
        str(BIN / "rts-train"), "fit", "-q", "--overwrite", *map(str, stacks), "--labels", str(labels),
        "--footprints", str(footprints), "--bands", "tcvis", "--encoder", "resnet18", "--encoder-depth", "3",
        "--decoder-channels", "16,8,4", "--tile-size", "256", "--batch-size", "2", "--epochs", "1", "--steps", "3",
        "--val-scenes", scene_id(0), "-o", str(out)])
    return seconds, peak


def main():
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="rts-bench-train-"))
    stacks, labels, footprints = inputs(work)
    gigabytes = SCENES * ROWS * COLS * (2 * len(contract.BAND_SETS["tcvis"]) + 2) / 1e9
    print(f"{'scenes':>7} {'pixels':>10} {'seconds':>8} {'peak RSS MB':>12}")
    peaks = {}
    for count in (10, SCENES):
        seconds, peaks[count] = fit(stacks[:count], labels, footprints, work / f"model{count}")
        print(f"{count:>7} {count * ROWS * COLS / 1e9:>9.1f}G {seconds:>8.1f} {peaks[count]:>12.0f}")
    print(f"peak RSS with {SCENES} scenes: {peaks[SCENES] / peaks[10]:.2f}x that with 10 "
          f"(whole stacks in memory would take about {gigabytes:.0f} GB)")


if __name__ == "__main__":
    main()
