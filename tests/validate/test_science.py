"""The papers' science as commands: threshold sweeps, comparisons, error anatomy and
instance metrics, on cases with answers computed by hand."""

import json

import geopandas
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from rts_validate.matching import boundary_iou, panoptic
from rts_validate.objects import ObjectOptions, assess_objects
from tests.conftest import run_script

CRS = "EPSG:32608"
TRANSFORM = Affine(3, 0, 500000, 0, -3, 7700000)


def write_probability(path, values):
    stored = np.round(values * 100).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="uint8", crs=CRS, transform=TRANSFORM, nodata=255) as dst:
        dst.write(stored, 1)
        dst.scales = (0.01,)
    return path


def pixel_box(rows, cols):
    """The polygon of a block of pixels of TRANSFORM."""
    x0, y0 = TRANSFORM * (cols.start, rows.start)
    x1, y1 = TRANSFORM * (cols.stop, rows.stop)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def test_the_threshold_sweep_finds_the_known_best(tmp_path):
    """Slump pixels at p = 0.38, background at 0.10 and a patch at 0.33: only a threshold
    in (0.33, 0.38] separates them (RTS: p >= threshold), and of 0.05 ... 0.95 that is
    0.35 alone."""
    p = np.full((100, 100), 0.10)
    p[20:40, 20:40] = 0.38  # 400 slump pixels
    p[60:70, 60:70] = 0.33  # 100 background pixels that fool low thresholds
    p[80:90, 0:10] = 0.90  # 100 confident false pixels, outside the coverage below
    write_probability(tmp_path / "a.prob.tif", p[:, :50])  # two rasters, one sweep: split the field
    with rasterio.open(tmp_path / "a.prob.tif") as a:
        assert a.width == 50
    right = TRANSFORM * Affine.translation(50, 0)
    with rasterio.open(tmp_path / "b.prob.tif", "w", driver="GTiff", width=50, height=100, count=1, dtype="uint8",
                       crs=CRS, transform=right, nodata=255) as dst:
        dst.write(np.round(p[:, 50:] * 100).astype(np.uint8), 1)
        dst.scales = (0.01,)
    _save(frame([pixel_box(slice(20, 40), slice(20, 40))]), tmp_path / "r.parquet")
    _save(frame([pixel_box(slice(0, 80), slice(0, 100))]), tmp_path / "c.parquet")
    done = run_script("rts-validate", "threshold", tmp_path / "a.prob.tif", tmp_path / "b.prob.tif",
                      tmp_path / "r.parquet", "--coverage", tmp_path / "c.parquet", "-o", tmp_path / "v")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert metrics["mode"] == "threshold" and metrics["overall"]["threshold"] == 0.35
    rows = {r["threshold"]: r for r in metrics["thresholds"]}
    assert len(rows) == 19 and rows[0.35]["f1"] == 1.0
    assert (rows[0.3]["tp"], rows[0.3]["fp"], rows[0.3]["fn"], rows[0.3]["tn"]) == (400, 100, 0, 8000 - 500)
    assert (rows[0.4]["tp"], rows[0.4]["fn"]) == (0, 400)  # 0.38 does not reach 0.40
    for name in ("metrics.csv", "report.md", "threshold.png"):
        assert (tmp_path / "v" / name).stat().st_size > 0
    assert "Best threshold by F1: **0.35**" in (tmp_path / "v" / "report.md").read_text()
    everywhere = run_script("rts-validate", "threshold", tmp_path / "a.prob.tif", tmp_path / "b.prob.tif",
                            tmp_path / "r.parquet", "-o", tmp_path / "all")
    assert everywhere.returncode == 0
    rows = {r["threshold"]: r for r in json.loads((tmp_path / "all" / "metrics.json").read_text())["thresholds"]}
    assert rows[0.35]["fp"] == 100  # the confident false pixels, outside the coverage before

    compared = run_script("rts-validate", "compare", tmp_path / "v", tmp_path / "all", "-o", tmp_path / "cmp")
    assert compared.returncode == 0, compared.stderr
    summary = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert summary["best"] == "v" and [r["run"] for r in summary["runs"]] == ["v", "all"]
    assert (tmp_path / "cmp" / "compare.png").exists() and "Best run by F1: **v**" in (
        tmp_path / "cmp" / "report.md").read_text()


def frame(geometries, **columns):
    return geopandas.GeoDataFrame(columns, geometry=geometries, crs=CRS)


def test_panoptic_quality_and_boundary_iou_by_hand():
    x0, y0 = 500_000, 7_700_000
    pred = frame([box(x0, y0, x0 + 10, y0 + 10), box(x0 + 100, y0, x0 + 105, y0 + 5)])  # 100 m2, 25 m2 (false)
    ref = frame([box(x0 + 2, y0, x0 + 12, y0 + 10), box(x0 + 200, y0, x0 + 220, y0 + 20)])  # 100 m2, 400 m2 (missed)
    body, _ = assess_objects(pred, ref, ObjectOptions(mode="iou", boundary_m=1.0, size_bounds_m2=(50, 150)))
    instance = body["instance"]
    # IoU of the match 80 / 120; TP 1, FP 1, FN 1: RQ = 1 / (1 + 0.5 + 0.5)
    assert instance["sq"] == pytest.approx(2 / 3) and instance["rq"] == pytest.approx(0.5)
    assert instance["pq"] == pytest.approx(1 / 3)
    # 1 m bands along each outline: 36 m2 each, sharing the bottom and top strips (2 x 8 m2)
    assert instance["boundary_iou"] == pytest.approx(16 / 56)
    sizes = {row["size_class"]: row for row in body["by_size"]}
    assert (sizes["small"]["n_pred"], sizes["small"]["fp"], sizes["small"]["n_ref"]) == (1, 1, 0)
    assert (sizes["medium"]["tp"], sizes["medium"]["tp_ref"], sizes["medium"]["f1"]) == (1, 1, 1.0)
    assert (sizes["large"]["n_ref"], sizes["large"]["fn"], sizes["large"]["recall"]) == (1, 1, 0.0)
    assert sizes["medium"]["pq"] == pytest.approx(2 / 3)  # one pair, IoU 2/3, nothing unmatched in the class
    assert panoptic(np.array([]), 0, 0) == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    assert boundary_iou([box(0, 0, 10, 10)], [box(0, 0, 10, 10)], 2.0)[0] == pytest.approx(1.0)


def test_false_predictions_and_misses_get_the_land_cover_under_them(tmp_path):
    """ESRI classes 1 water, 8 bare ground, 11 rangeland on a 10 m raster; false
    predictions on a lake and on bare rock, a slump missed in rangeland."""
    x0, y0 = 500_000, 7_700_000
    classes = np.full((40, 60), 11, np.uint8)
    classes[:, :20] = 1  # water in the west
    classes[:, 20:40] = 8  # bare ground in the middle
    landcover = tmp_path / "lc.tif"
    with rasterio.open(landcover, "w", driver="GTiff", width=60, height=40, count=1, dtype="uint8", crs=CRS,
                       transform=Affine(10, 0, x0, 0, -10, y0 + 400), nodata=0) as dst:
        dst.write(classes, 1)
    pred = frame([box(x0 + 20, y0 + 100, x0 + 60, y0 + 140),  # on water: false
                  box(x0 + 220, y0 + 100, x0 + 380, y0 + 200),  # on bare ground: false
                  box(x0 + 500, y0 + 300, x0 + 540, y0 + 340)])  # on the slump: true
    ref = frame([box(x0 + 505, y0 + 305, x0 + 535, y0 + 335),  # found
                 box(x0 + 450, y0 + 50, x0 + 470, y0 + 70)])  # missed, in rangeland
    body, matches = assess_objects(pred, ref, ObjectOptions(landcover=str(landcover)))
    anatomy = body["anatomy"]
    false = {r["class"]: r for r in anatomy["false_positives"]["by_landcover"]}
    assert (false["water"]["count"], false["bare ground"]["count"], false["water"]["share"]) == (1, 1, 0.5)
    assert anatomy["missed_references"]["by_landcover"] == [{"class": "rangeland", "count": 1, "share": 1.0}]
    assert [r["count"] for r in anatomy["false_positives"]["by_size"]] == [0, 1, 1]  # 1600 and 16000 m2
    assert matches.loc[matches.status == "tp", "landcover"].isna().all()
    assert sorted(matches.loc[matches.status == "fp", "landcover"]) == ["bare ground", "water"]
    done = run_script("rts-validate", "objects", _save(pred, tmp_path / "p.parquet"),
                      _save(ref, tmp_path / "r.parquet"), "--landcover", landcover, "-o", tmp_path / "v")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "v" / "report.md").read_text()
    assert "False predictions by land cover under it" in report and (tmp_path / "v" / "anatomy.png").exists()


def _save(frame, path):
    frame.to_parquet(path)
    return path


def test_runs_sharing_a_folder_name_are_named_by_their_distinct_paths(tmp_path):
    from rts_validate.runs import run_names

    assert run_names([tmp_path / "0.3", tmp_path / "0.5"]) == ["0.3", "0.5"]
    named = run_names([tmp_path / "a" / "validation", tmp_path / "b" / "validation" / "metrics.json"])
    assert named == ["a/validation", "b/validation"]


def write_fold(root, configuration, region, epochs, objects):
    """A fold folder as workflow/crossval.smk leaves it: rts-train's epochs, rts-validate's scores."""
    fold = root / configuration / region
    (fold / "model").mkdir(parents=True)
    (fold / "validation").mkdir()
    lines = ["epoch,loss,val_loss,precision,recall,f1,iou,lr"]
    lines += [f"{i},0.1,0.1,{p},{r},{f1},{iou},0.001" for i, (p, r, f1, iou) in enumerate(epochs, start=1)]
    (fold / "model" / "metrics.csv").write_text("\n".join(lines) + "\n")
    (fold / "validation" / "metrics.json").write_text(json.dumps({"mode": "intersect", "overall": {
        "precision": objects[0], "recall": objects[1], "f1": objects[2], "n_pred": 10, "n_ref": 12}}))
    return fold


def test_the_crossval_summary_takes_each_folds_best_epoch_and_averages_over_regions(tmp_path):
    folds = [
        # configuration a: best epochs (by F1) give IoU 0.5, 0.3, 0.4 on regions 1-3
        write_fold(tmp_path, "a", "1", [(0.5, 0.5, 0.5, 0.2), (0.7, 0.7, 0.7, 0.5)], (1.0, 0.5, 0.6)),
        write_fold(tmp_path, "a", "2", [(0.6, 0.6, 0.6, 0.3), (0.6, 0.6, 0.6, 0.9)], (0.8, 0.5, 0.7)),  # tie: first
        write_fold(tmp_path, "a", "3", [(0.6, 0.6, 0.65, 0.4)], (0.9, 0.9, 0.8)),
        write_fold(tmp_path, "b", "1", [(0.8, 0.8, 0.8, 0.7)], (1.0, 1.0, 1.0)),
        write_fold(tmp_path, "b", "2", [(0.8, 0.8, 0.8, 0.5)], (1.0, 1.0, 1.0)),
    ]
    done = run_script("rts-validate", "crossval", *folds, "-o", tmp_path / "summary")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "summary" / "metrics.json").read_text())
    assert [(f["configuration"], f["region"], f["best_epoch"]) for f in metrics["folds"]] == [
        ("a", "1", 2), ("a", "2", 1), ("a", "3", 1), ("b", "1", 1), ("b", "2", 1)]
    a, b = metrics["configurations"]
    assert (a["n_regions"], b["n_regions"]) == (3, 2)
    assert a["pixel_iou_mean"] == pytest.approx(0.4) and a["pixel_iou_std"] == pytest.approx(0.1)
    assert a["object_f1_mean"] == pytest.approx(0.7) and a["object_f1_std"] == pytest.approx(0.1)
    assert b["pixel_iou_mean"] == pytest.approx(0.6) and b["pixel_iou_std"] == pytest.approx(0.02 ** 0.5)
    assert metrics["best"] == "b"
    report = (tmp_path / "summary" / "report.md").read_text()
    assert "| a | 3 | 0.400 ± 0.100 |" in report and "| 3 | 0.400 |  |" in report  # b has no region 3
    assert (tmp_path / "summary" / "crossval.png").stat().st_size > 0
    rows = (tmp_path / "summary" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("configuration,region,best_epoch,pixel_iou") and len(rows) == 1 + 5 + 4

    (folds[1] / "validation" / "metrics.json").write_text("{}")
    broken = run_script("rts-validate", "crossval", *folds, "-o", tmp_path / "broken")
    assert broken.returncode == 1 and "a/2/validation/metrics.json" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1 and not (tmp_path / "broken").exists()
