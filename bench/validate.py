"""rts-validate objects on 100,000 predictions against 10,000 references, in both
modes, through the command (GeoParquet in, every report file out), against a plain
geopandas spatial join of the same files in the same run.

References are real label shapes (data/rts_labels_sample.gpkg) scattered over a
300 x 300 km UTM area; 10,000 predictions are jittered, slightly grown copies of them
(true positives, IoU mostly above 0.5) and 90,000 are other label shapes elsewhere.

    python bench/validate.py
"""

import sys
import tempfile
from pathlib import Path

import geopandas
import numpy as np
import shapely
from _child import measured

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
CRS = "EPSG:32608"

BASELINE = """
import sys, time
import geopandas
start = time.perf_counter()
pred, ref = geopandas.read_parquet(sys.argv[1]), geopandas.read_parquet(sys.argv[2])
joined = geopandas.sjoin(pred, ref, predicate="intersects", how="inner")
print(joined.index.nunique(), joined.index_right.nunique(), time.perf_counter() - start)
"""


def shapes(count: int, rng) -> np.ndarray:
    labels = geopandas.read_file(ROOT / "data" / "rts_labels_sample.gpkg").to_crs(CRS)
    geometries = shapely.make_valid(labels.geometry.values)
    centres = shapely.centroid(geometries)
    centred = np.array([shapely.affinity.translate(g, -c.x, -c.y) for g, c in zip(geometries, centres, strict=True)])
    return centred[rng.integers(0, len(centred), count)]


def place(geometries, xy) -> np.ndarray:
    return np.array([shapely.affinity.translate(g, x, y) for g, (x, y) in zip(geometries, xy, strict=True)])


def main():
    rng = np.random.default_rng(0)
    origin = np.array([400_000, 7_600_000])
    ref_xy = origin + rng.uniform(0, 300_000, (10_000, 2))
    references = place(shapes(10_000, rng), ref_xy)
    found = shapely.buffer(place(references, rng.normal(0, 2, (10_000, 2))), 1.0)
    others = place(shapes(90_000, rng), origin + rng.uniform(0, 300_000, (90_000, 2)))
    predictions = np.concatenate([found, others])
    with tempfile.TemporaryDirectory() as tmp:
        pred_path, ref_path = Path(tmp) / "pred.parquet", Path(tmp) / "ref.parquet"
        for geometries, path in ((predictions, pred_path), (references, ref_path)):
            year = np.full(len(geometries), 2022)
            geopandas.GeoDataFrame({"year": year}, geometry=geometries, crs=CRS).to_parquet(path)
        rows = []
        for mode in ("intersect", "iou"):
            seconds, peak, _ = measured([str(BIN / "rts-validate"), "objects", str(pred_path), str(ref_path),
                                         "-o", f"{tmp}/{mode}", "--mode", mode, "--group-by", "year", "-q"])
            import json

            overall = json.loads((Path(tmp) / mode / "metrics.json").read_text())["overall"]
            rows.append((f"rts-validate objects --mode {mode}", seconds, peak,
                         f"P {overall['precision']:.3f} R {overall['recall']:.3f} F1 {overall['f1']:.3f}"))
        seconds, peak, output = measured([sys.executable, "-c", BASELINE, str(pred_path), str(ref_path)])
        pred_hits, ref_hits, _ = output.split()
        rows.append(("geopandas read + sjoin only", seconds, peak, f"{pred_hits} preds, {ref_hits} refs hit"))
    print(f"{len(predictions)} predictions, {len(references)} references")
    print(f"{'':<40} {'seconds':>8} {'peak RSS MB':>12}")
    for name, seconds, peak, note in rows:
        print(f"{name:<40} {seconds:>8.1f} {peak:>12.0f}   {note}")
    print(f"ratio intersect / sjoin: {rows[0][1] / rows[2][1]:.2f} x time (with every report file written)")


if __name__ == "__main__":
    main()
