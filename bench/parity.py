"""How far rtsmap's choices are from DARTS v1's and darts-nextgen's, measured on the same
inputs: the README's "Parity with DARTS" table quotes these figures.

    python bench/parity.py [--world demo/world]

Terrain rows use the demo world's DEM and scenes (a small world is generated when none
is given or found); clean-up rows use a 1500 x 1500 two-model probability field with
no-data holes, cleaned by rtsmap's own functions under each code's rule.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio import warp
from rasterio.enums import Resampling
from scipy import ndimage

from rts_ensemble.cleanup import EIGHT, forbidden_zone
from rts_prep.terrain import relative_elevation, slope_degrees
from rts_prep.udm2 import UNUSABLE, valid_from_udm2

BIN = Path(sys.executable).parent
FOUR = ndimage.generate_binary_structure(2, 1)


def row(name: str, figure: str) -> None:
    print(f"| {name} | {figure} |")


def terrain(world: Path) -> None:
    with rasterio.open(world / "aux" / "dem.tif") as dem:
        z = dem.read(1, masked=True).astype(np.float64).filled(np.nan)
        pixel = abs(dem.transform.a)
    inner = (slice(60, -60), slice(60, -60))  # beyond the 100 m window's reach
    radius = relative_elevation(z, pixel, 100.0)[inner]
    diameter = relative_elevation(z, pixel, 50.0)[inner]
    both = np.isfinite(radius) & np.isfinite(diameter)
    difference = np.abs(radius - diameter)[both]
    row("relative elevation: 100 m radius vs 100 m diameter (demo DEM, 2 m)",
        f"mean {difference.mean():.2f} m, 99th pct {np.percentile(difference, 99):.2f} m, max {difference.max():.2f} m;"
        f" signal std {radius[both].std():.2f} m")
    horn, four = slope_degrees(z, pixel)[inner], slope_degrees(z, pixel, "four_neighbour")[inner]
    both = np.isfinite(horn) & np.isfinite(four)
    difference = np.abs(horn - four)[both]
    row("slope: Horn 3x3 vs 4-neighbour (ee.Terrain.slope), demo DEM",
        f"mean {difference.mean():.2f}°, 99th pct {np.percentile(difference, 99):.2f}°; "
        f"signal mean {horn[both].mean():.1f}°")


def terrain_order(world: Path, stacks: Path) -> None:
    """rtsmap and DARTS v1 derive terrain on the 2 m DEM and warp it (cubic);
    darts-nextgen warps the DEM (cubic) and derives on the scene grid."""
    rel_diff, slope_diff = [], []
    for stack in sorted(stacks.glob("*.stack.tif"))[:4]:
        with rasterio.open(stack) as dataset:
            names = list(dataset.descriptions)
            ours = {n: dataset.read(names.index(n) + 1).astype(np.float64) * dataset.scales[names.index(n)]
                    for n in ("relative_elevation", "slope")}
            valid = dataset.dataset_mask() > 0
            transform, crs, shape = dataset.transform, dataset.crs, dataset.shape
        margin = 40  # px of 3 m: the window's 100 m and more
        padded = transform * transform.translation(-margin, -margin)
        grid = np.full((shape[0] + 2 * margin, shape[1] + 2 * margin), np.nan, np.float32)
        with rasterio.open(world / "aux" / "dem.tif") as dem:
            warp.reproject(rasterio.band(dem, 1), grid, dst_transform=padded, dst_crs=crs,
                           resampling=Resampling.cubic, dst_nodata=np.nan)
        inside = (slice(margin, -margin), slice(margin, -margin))
        theirs_rel = relative_elevation(grid, abs(transform.a), 100.0)[inside]
        theirs_slope = slope_degrees(grid, abs(transform.a))[inside]
        keep = valid & np.isfinite(theirs_rel) & np.isfinite(theirs_slope)
        keep[:margin] = keep[-margin:] = False
        rel_diff.append(np.abs(ours["relative_elevation"] - theirs_rel)[keep])
        slope_diff.append(np.abs(ours["slope"] - theirs_slope)[keep])
    rel, slope = np.concatenate(rel_diff), np.concatenate(slope_diff)
    row("terrain order: derive at 2 m then warp (v1, rtsmap) vs warp then derive at 3 m (nextgen)",
        f"relative elevation mean {rel.mean():.2f} m (99th pct {np.percentile(rel, 99):.2f} m); "
        f"slope mean {slope.mean():.2f}° (99th pct {np.percentile(slope, 99):.2f}°)")


def mask_rule(world: Path) -> None:
    differ = total = 0
    for udm2_path in sorted((world / "scenes").glob("*/*_udm2.tif")):
        with rasterio.open(udm2_path) as udm2:
            bands = udm2.read()
        darts_v1 = valid_from_udm2(bands)
        nextgen = bands[UNUSABLE] == 0  # its default quality level keeps "low quality" (bands 2-6)
        inside = bands[UNUSABLE] == 0
        differ += int((darts_v1 != nextgen)[inside].sum())
        total += int(inside.sum())
    row("validity: udm2 as DARTS v1 (rtsmap) vs nextgen's default (unusable only)",
        f"{100 * differ / max(total, 1):.1f} % of the demo scenes' usable pixels are valid only under nextgen's rule")


def probability_field(size=1500, seed=7):
    """Two models' uint8 probabilities (0-100): low background, blobs where a smooth
    field is high (shared by the models, each with noise of its own), no-data holes."""
    rng = np.random.default_rng(seed)
    shared = ndimage.gaussian_filter(rng.standard_normal((size, size)), 4)
    shared /= shared.std()
    fields = []
    for _ in range(2):
        own = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2)
        logit = 4 * (shared + 0.3 * own / own.std() - 1.8)
        fields.append(np.round(100 / (1 + np.exp(-logit))).astype(np.uint8))
    valid = np.ones((size, size), bool)
    for _ in range(25):
        r, c, h, w = rng.integers(0, size, 2).tolist() + rng.integers(10, 120, 2).tolist()
        valid[r:r + h, c:c + w] = False
    return fields, valid


def objects_kept(binary, valid, zone, min_px=32, size_structure=EIGHT):
    """Objects (8-connected) kept: none touching ``zone``, each at least ``min_px`` in
    parts counted with ``size_structure``; returns the kept mask."""
    binary = binary & valid
    if size_structure is not EIGHT:  # DARTS: remove_small_objects counts 4-connected parts
        parts, n = ndimage.label(binary, structure=size_structure)
        sizes = np.bincount(parts.ravel(), minlength=n + 1)
        binary = binary & (sizes[parts] >= min_px)
    labels, n = ndimage.label(binary, structure=EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    touching = np.zeros(n + 1, bool)
    touching[labels[zone]] = True
    keep = (sizes >= min_px) & ~touching
    keep[0] = False
    return keep[labels]


def cleanup() -> None:
    (a, b), valid = probability_field()
    mean = (a.astype(np.float32) * np.float32(0.01) + b.astype(np.float32) * np.float32(0.01)) / 2
    ties = int(((a.astype(int) + b.astype(int)) == 100)[valid].sum())
    binary = mean >= 0.5 - 1e-6
    disk = forbidden_zone(valid, 10)
    square = ndimage.maximum_filter(~valid, size=21, mode="constant", cval=True)
    ours = objects_kept(binary, valid, disk)
    labels, n = ndimage.label(ours, structure=EIGHT)
    old_square = objects_kept(binary, valid, square)
    only_disk = np.unique(ndimage.label(ours & ~old_square, structure=EIGHT)[0]).size - 1
    row("edge zone: disk of 10 px (both DARTS codes, rtsmap) vs the 21 x 21 square rtsmap had",
        f"{only_disk} of {n} objects kept by the disk are dropped by the square (1500 x 1500 field, 25 holes)")
    strict = objects_kept(mean > 0.5, valid, disk)
    changed = np.unique(labels[ours != strict])
    n_strict = ndimage.label(strict, structure=EIGHT)[1]
    row("threshold: p >= 0.5 (DARTS v1 ensemble, rtsmap) vs p > 0.5 (nextgen)",
        f"{ties:,} tie pixels (mean exactly 0.5); {changed[changed > 0].size} of {n} objects differ in outline, "
        f"{n} vs {n_strict} objects")
    four = objects_kept(binary, valid, disk, size_structure=FOUR)
    differ = np.unique(labels[ours & ~four]).size
    row("minimum size: 32 px of the 8-connected object (rtsmap) vs of each 4-connected part (both DARTS codes)",
        f"{differ} of {n} objects lose pixels or vanish under DARTS' counting")
    parts = ndimage.label(ours, structure=FOUR)[1]
    row("polygons: one per 8-connected object (rtsmap) vs one per 4-connected part (GDAL's default in DARTS)",
        f"{n} objects = {parts} 4-connected parts: {parts - n} more polygons in DARTS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", type=Path, default=Path("demo/world"))
    parser.add_argument("--stacks", type=Path, default=Path("demo/stacks"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world, stacks = args.world, args.stacks
        if not (world / "aux" / "dem.tif").exists() or not list(stacks.glob("*.stack.tif")):
            world, stacks = Path(tmp) / "world", Path(tmp) / "stacks"
            command = (f"{BIN}/rts-synth -q -o {world} --scenes 4 --size 512 --years 2022 | {BIN}/rts-prep -q - "
                       f"--dem {world}/aux/dem.tif --tcvis {world}/aux/tcvis.tif -o {stacks} > /dev/null")
            subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)
        print("| choice | measured difference |")
        print("| --- | --- |")
        terrain(world)
        terrain_order(world, stacks)
        mask_rule(world)
        cleanup()


if __name__ == "__main__":
    main()
