"""rts-prep on a full Sentinel-2 tile: 10980 x 10980 px at 10 m (a folder of per-band
COGs with SCL at 20 m, baseline 05.09), a 10 m DEM and a 30 m TCVIS around it, against
a 2048 px window of the same tile (--bounds) in the same run. Prints seconds, Mpx/s and
peak RSS of each, and the ratio of the rates.

    python bench/prep_sentinel2.py [WORK_DIR] [RUNS]   # inputs are kept in WORK_DIR; RUNS default 1
"""

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from _child import measured
from affine import Affine
from pyproj import Transformer

BIN = Path(sys.executable).parent
TILE = 10980
ORIGIN = (499980.0, 7800000.0)  # an MGRS tile of UTM zone 8 north (EPSG:32608)
PRODUCT = "S2A_MSIL2A_20230715T201851_N0509_R071_T08WMC_20230716T003443"


def write(path: Path, data_rows, width: int, height: int, count: int, dtype: str, crs: str, transform: Affine,
          nodata=None) -> None:
    """A tiled zstd GeoTIFF written strip by strip from ``data_rows(row0, rows)``."""
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
                       transform=transform, nodata=nodata, tiled=True, blockxsize=512, blockysize=512,
                       compress="zstd", zstd_level=1, BIGTIFF="IF_SAFER") as dst:
        for row in range(0, height, 1024):
            rows = min(1024, height - row)
            dst.write(data_rows(row, rows), window=rasterio.windows.Window(0, row, width, rows))


def inputs(work: Path) -> tuple[Path, Path, Path]:
    tile, dem, tcvis = work / PRODUCT, work / "dem10.tif", work / "tcvis.tif"
    if (work / "done").exists():
        return tile, dem, tcvis
    tile.mkdir(parents=True, exist_ok=True)
    print(f"writing a {TILE} px Sentinel-2 tile, a 10 m DEM and a TCVIS in {work} ...", file=sys.stderr)
    rng = np.random.default_rng(0)
    transform10 = Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])
    for band in ("B02", "B03", "B04", "B08"):
        write(tile / f"T08WMC_20230715T201851_{band}_10m.tif",
              lambda row, rows: rng.integers(1100, 5000, (1, rows, TILE), dtype=np.uint16), TILE, TILE, 1, "uint16",
              "EPSG:32608", transform10, nodata=0)

    def scl(row, rows):
        classes = np.full((1, rows, TILE // 2), 4, np.uint8)
        classes[:, :, : TILE // 20] = 9  # a cloud band along the western edge
        return classes

    write(tile / "T08WMC_20230715T201851_SCL_20m.tif", scl, TILE // 2, TILE // 2, 1, "uint8", "EPSG:32608",
          Affine(20, 0, ORIGIN[0], 0, -20, ORIGIN[1]))
    # the DEM in EPSG:3413 at 10 m over the tile and a margin; a gentle undulating surface
    to_polar = Transformer.from_crs("EPSG:32608", "EPSG:3413", always_xy=True)
    corners_x = [ORIGIN[0], ORIGIN[0] + TILE * 10]
    corners_y = [ORIGIN[1], ORIGIN[1] - TILE * 10]
    xs, ys = to_polar.transform([x for x in corners_x for _ in corners_y], [y for _ in corners_x for y in corners_y])
    left, top = min(xs) - 1000, max(ys) + 1000
    width, height = int((max(xs) + 1000 - left) / 10), int((top - (min(ys) - 1000)) / 10)
    columns = np.arange(width)

    def elevation(row, rows):
        y = (row + np.arange(rows))[:, None]
        return (100 + 20 * np.sin(columns[None, :] / 300) * np.cos(y / 250)).astype(np.float32)[None]

    write(dem, elevation, width, height, 1, "float32", "EPSG:3413", Affine(10, 0, left, 0, -10, top), nodata=-9999)
    to_geo = Transformer.from_crs("EPSG:32608", "EPSG:4326", always_xy=True)
    lons, lats = to_geo.transform([x for x in corners_x for _ in corners_y], [y for _ in corners_x for y in corners_y])
    dx, dy = 0.0008, 0.00027
    west, north = min(lons) - 0.05, max(lats) + 0.02
    tw, th = int((max(lons) + 0.05 - west) / dx), int((north - min(lats) + 0.02) / dy)
    write(tcvis, lambda row, rows: np.full((3, rows, tw), 120, np.uint8), tw, th, 3, "uint8", "EPSG:4326",
          Affine(dx, 0, west, 0, -dy, north))
    (work / "done").write_text("")
    return tile, dem, tcvis


def prep(tile: Path, dem: Path, tcvis: Path, out: Path, *extra) -> tuple[float, float]:
    seconds, peak, _ = measured([str(BIN / "rts-prep"), "-q", "--overwrite", str(tile), "--dem", str(dem),
                                 "--tcvis", str(tcvis), "-o", str(out), *extra])
    return seconds, peak


def main():
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="rts-bench-s2-"))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    tile, dem, tcvis = inputs(work)
    window = 2048
    x0, y0 = ORIGIN[0] + 40_000, ORIGIN[1] - 40_000
    cases = {f"window {window} px": (window, ("--bounds", f"{x0},{y0 - window * 10},{x0 + window * 10},{y0}")),
             f"full tile {TILE} px": (TILE, ())}
    print(f"{'case':<22} {'run':>4} {'seconds':>8} {'Mpx/s':>7} {'peak RSS MB':>12}")
    medians = {}
    for label, (size, extra) in cases.items():
        rates = []
        for run in range(1, runs + 1):
            seconds, peak = prep(tile, dem, tcvis, work / "stacks", *extra)
            rates.append(size * size / 1e6 / seconds)
            print(f"{label:<22} {run:>4} {seconds:>8.1f} {rates[-1]:>7.2f} {peak:>12.0f}")
        medians[label] = statistics.median(rates)
    full, part = medians[f"full tile {TILE} px"], medians[f"window {window} px"]
    print(f"full tile: {full:.2f} Mpx/s, {full / part:.2f}x the rate of the {window} px window")


if __name__ == "__main__":
    main()
