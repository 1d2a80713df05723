"""How far each confounder of the demo world overlaps slumps, band by band (#31).

    python bench/overlap.py demo        # after make demo (or make demo-stacks)

For every stack of the world, each valid pixel gets the anatomy class under it
(world/truth/anatomy.tif; slumps at their extent in the scene's year, from
world/truth/rts.parquet). Per band, the overlap of a class with slumps is the overlap
coefficient of their histograms: the sum over bins of the smaller share, 1 for the same
distribution and 0 for disjoint ones. Prints a table (classes x bands).
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas
import numpy as np
import rasterio
from rasterio import features
from rasterio.windows import from_bounds

SAMPLES_PER_SCENE = 20_000
BINS = 64


def samples(demo: Path):
    """(band names, class names, {class: values (n, bands)}) over every stack."""
    world = demo / "world"
    truth = geopandas.read_parquet(world / "truth" / "rts.parquet")
    legend = dict(part.split("=", 1) for part in (world / "truth" / "anatomy_classes.txt").read_text().strip()
                  .split(","))
    names = {int(code): name for code, name in legend.items()}
    found: dict[str, list[np.ndarray]] = {}
    rng = np.random.default_rng(0)
    with rasterio.open(world / "truth" / "anatomy.tif") as anatomy:
        for stack_path in sorted((demo / "stacks").glob("*.stack.tif")):
            with rasterio.open(stack_path) as stack:
                bands = stack.descriptions
                values = stack.read(masked=True).astype(np.float32)
                values = values * np.asarray(stack.scales, np.float32)[:, None, None]
                valid = ~np.ma.getmaskarray(values).any(axis=0)
                codes = anatomy.read(1, window=from_bounds(*stack.bounds, transform=anatomy.transform),
                                     out_shape=stack.shape, boundless=True, fill_value=0)
                scene_id = stack.tags()["RTS_SCENE_ID"]
                mine = truth[truth["scene_id"] == scene_id].to_crs(stack.crs)
                slump = features.rasterize(mine.geometry, out_shape=stack.shape, transform=stack.transform) > 0 \
                    if len(mine) else np.zeros(stack.shape, bool)
            codes = np.where(codes == 9, 0, codes)  # slumps of other years: not this scene's
            label = np.where(slump, 9, codes)
            rows, cols = np.nonzero(valid & (label > 0))
            pick = rng.choice(len(rows), min(SAMPLES_PER_SCENE, len(rows)), replace=False)
            data = np.asarray(values.data)[:, rows[pick], cols[pick]].T
            for code in np.unique(label[rows[pick], cols[pick]]):
                found.setdefault(names[int(code)], []).append(data[label[rows[pick], cols[pick]] == code])
    return bands, {name: np.concatenate(parts) for name, parts in found.items()}


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    low, high = np.percentile(np.concatenate([a, b]), [0.5, 99.5])
    if high <= low:
        return 1.0
    edges = np.linspace(low, high, BINS + 1)
    ha = np.histogram(np.clip(a, low, high), edges)[0] / max(len(a), 1)
    hb = np.histogram(np.clip(b, low, high), edges)[0] / max(len(b), 1)
    return float(np.minimum(ha, hb).sum())


def main(demo: Path) -> None:
    bands, by_class = samples(demo)
    slump = by_class.pop("slump")
    print(f"Overlap with slump pixels ({len(slump)} sampled), per band (1 = the same distribution):\n")
    print("| class | pixels | " + " | ".join(bands) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in bands) + " |")
    for name, values in sorted(by_class.items()):
        cells = [f"{overlap(values[:, i], slump[:, i]):.2f}" for i in range(len(bands))]
        print(f"| {name} | {len(values)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo"))
