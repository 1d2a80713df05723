"""Pixel metrics against a hand-computed confusion matrix, and rts-validate end to end."""

import json

import geopandas
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from rts_validate.pixels import assess_pixels, pixel_scores
from tests.conftest import run_script

CRS = "EPSG:32608"
TRANSFORM = Affine(3, 0, 500_000, 0, -3, 7_700_000)


def write_raster(path, array, nodata, scale=1.0, transform=TRANSFORM, crs=CRS):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype, crs=crs, transform=transform, nodata=nodata) as dataset:
        dataset.write(array, 1)
        dataset.scales, dataset.offsets = (scale,), (0.0,)
    return path


@pytest.fixture
def rasters(tmp_path):
    """A 4 x 5 probability raster (uint8, 0.01 scale, 255 no-data) and a 0/1 mask with
    its own no-data. Valid in both: 17 pixels; tp 4, fp 2, fn 2, tn 9."""
    prob = np.array([[90, 80, 70, 10, 255],
                     [60, 20, 20, 55, 10],
                     [10, 10, 51, 10, 10],
                     [10, 10, 10, 10, 40]], np.uint8)
    mask = np.array([[1, 1, 1, 0, 1],
                     [1, 0, 1, 0, 1],
                     [9, 9, 0, 0, 0],
                     [0, 0, 0, 0, 0]], np.uint8)
    # pred >= 0.5: (0,0) (0,1) (0,2) (1,0) (1,3) (2,2); invalid: (0,4) (2,0) (2,1)
    # tp (0,0) (0,1) (0,2) (1,0); fp (1,3) (2,2); fn (1,2) (1,4); tn the other 9
    return (write_raster(tmp_path / "p.prob.tif", prob, 255, 0.01),
            write_raster(tmp_path / "ref.tif", mask, 9), prob, mask)


def hand_counts(prob, mask):
    valid = (prob != 255) & (mask != 9)
    pred = prob >= 50  # the one rule: p >= threshold
    ref = mask == 1
    return [int(np.sum(valid & pred & ref)), int(np.sum(valid & pred & ~ref)),
            int(np.sum(valid & ~pred & ref)), int(np.sum(valid & ~pred & ~ref))]


def test_pixel_metrics_against_a_hand_computed_confusion_matrix(rasters):
    prob_path, ref_path, prob, mask = rasters
    assert hand_counts(prob, mask) == [4, 2, 2, 9]  # the same count, by numpy
    result = assess_pixels(prob_path, ref_path, 0.5, window_rows=2)  # two windows
    assert [result[k] for k in ("tp", "fp", "fn", "tn")] == [4, 2, 2, 9]
    assert result["precision"] == pytest.approx(4 / 6)
    assert result["recall"] == pytest.approx(4 / 6)
    assert result["f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 2))
    assert result["iou"] == pytest.approx(4 / 8)
    assert result["accuracy"] == pytest.approx(13 / 17)
    expected = (6 * 6 + 11 * 11) / 17**2  # (pred+ * ref+ + pred- * ref-) / n^2
    assert result["kappa"] == pytest.approx((13 / 17 - expected) / (1 - expected))


def test_kappa_edge_cases():
    assert pixel_scores(5, 0, 0, 5)["kappa"] == pytest.approx(1.0)
    assert pixel_scores(0, 0, 0, 10)["kappa"] == 1.0  # all agree on one class
    assert pixel_scores(0, 0, 0, 0)["f1"] == 0.0


def test_reference_polygons_are_rasterised_on_the_prediction_grid(tmp_path):
    prob = np.zeros((10, 10), np.uint8)
    prob[2:5, 2:5] = 90  # 9 px predicted
    path = write_raster(tmp_path / "p.tif", prob, 255, 0.01)
    # a reference covering pixel columns 3..5 and rows 3..5 (3 m pixels), drawn in EPSG:4326
    x0, y0 = 500_000 + 3 * 3, 7_700_000 - 3 * 3
    ref = geopandas.GeoDataFrame(geometry=[box(x0, y0 - 9, x0 + 9, y0)], crs=CRS).to_crs(4326)
    ref.to_file(tmp_path / "ref.gpkg")
    result = assess_pixels(path, tmp_path / "ref.gpkg")
    assert [result[k] for k in ("tp", "fp", "fn", "tn")] == [4, 5, 5, 86]


def test_objects_command_writes_the_contract_files(tmp_path):
    pred = geopandas.GeoDataFrame({"year": [2021, 2021]}, geometry=[box(0, 0, 10, 10), box(50, 0, 60, 10)],
                                  crs=CRS).translate(500_000, 7_700_000)
    pred = geopandas.GeoDataFrame({"year": [2021, 2021]}, geometry=pred, crs=CRS)
    ref = geopandas.GeoDataFrame({"year": [2021, 2021], "region": ["Lena", "Lena"]},
                                 geometry=[box(2, 2, 8, 8), box(200, 0, 210, 10)], crs=CRS)
    ref = ref.set_geometry(ref.translate(500_000, 7_700_000)).to_crs(4326)  # another CRS on purpose
    pred.to_parquet(tmp_path / "pred.parquet")
    ref.to_file(tmp_path / "ref.gpkg")
    out = tmp_path / "v"
    done = run_script("rts-validate", "objects", tmp_path / "pred.parquet", tmp_path / "ref.gpkg", "-o", out,
                      "--group-by", "region,year")
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split()
    assert printed[:4] == [str(out / n) for n in ("metrics.json", "metrics.csv", "report.md", "matches.parquet")]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "intersect" and metrics["params"]["group_by"] == ["region", "year"]
    assert {k: metrics["overall"][k] for k in ("n_pred", "n_ref", "tp", "fp", "tp_ref", "fn")} == \
        {"n_pred": 2, "n_ref": 2, "tp": 1, "fp": 1, "tp_ref": 1, "fn": 1}
    assert metrics["groups"][0]["group"] == {"region": "Lena", "year": 2021}
    assert set(metrics["summary"]) >= {"f1_mean", "f1_std"}
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "scope,region,year,n_pred,n_ref,tp,fp,tp_ref,fn,precision,recall,f1"
    assert csv_lines[1].startswith("overall,,,2,2,1,1,1,1,0.5,0.5,0.5")
    report = (out / "report.md").read_text()
    assert "| Lena | 2021 | 2 | 2 | 1 | 1 | 1 | 1 | 0.500 | 0.500 | 0.500 |" in report
    assert (out / "scores.png").stat().st_size > 1000 and (out / "map.png").stat().st_size > 1000
    matches = geopandas.read_parquet(out / "matches.parquet")
    assert sorted(matches.status) == ["fn", "fp", "tp", "tp_ref"] and matches.crs.to_epsg() == 4326
    # rerun: skipped, same paths; other options: recomputed
    again = run_script("rts-validate", "objects", tmp_path / "pred.parquet", tmp_path / "ref.gpkg", "-o", out,
                       "--group-by", "region,year")
    assert again.returncode == 0 and again.stdout == done.stdout and "up to date" in again.stderr
    iou = run_script("rts-validate", "objects", tmp_path / "pred.parquet", tmp_path / "ref.gpkg", "-o", out,
                     "--mode", "iou", "--iou", "0.3")
    assert iou.returncode == 0 and json.loads((out / "metrics.json").read_text())["overall"]["tp"] == 1


def test_matches_put_each_side_where_it_lies_whatever_its_crs(tmp_path):
    """The same box as prediction in UTM and as reference in longitude/latitude: both
    rows of matches.parquet lie on the same ground (near 69.4° N), not one of them
    reinterpreted in the other's CRS."""
    pred = geopandas.GeoDataFrame(geometry=[box(500_000, 7_700_000, 500_100, 7_700_100)], crs=CRS)
    pred.to_parquet(tmp_path / "pred.parquet")
    pred.to_crs(4326).to_parquet(tmp_path / "ref.parquet")
    out = tmp_path / "v"
    done = run_script("rts-validate", "objects", tmp_path / "pred.parquet", tmp_path / "ref.parquet", "-o", out)
    assert done.returncode == 0, done.stderr
    matches = geopandas.read_parquet(out / "matches.parquet").set_index("side")
    assert matches.crs.to_epsg() == 4326 and sorted(matches.status) == ["tp", "tp_ref"]
    np.testing.assert_allclose(matches.geometry["ref"].bounds, matches.geometry["pred"].bounds, atol=1e-6)
    assert matches.geometry["ref"].centroid.y == pytest.approx(69.4, abs=0.1)


def test_objects_errors_name_the_file_at_fault(tmp_path):
    """A problem of the predictions names their file, one of neither file names none."""
    points = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy([500_000], [7_700_000]), crs=CRS)
    points.to_parquet(tmp_path / "points.parquet")
    ref = geopandas.GeoDataFrame(geometry=[box(500_000, 7_700_000, 500_010, 7_700_010)], crs=CRS)
    ref.to_parquet(tmp_path / "ref.parquet")
    iou = run_script("rts-validate", "objects", tmp_path / "points.parquet", tmp_path / "ref.parquet",
                     "-o", tmp_path / "v", "--mode", "iou")
    errors = [line for line in iou.stderr.splitlines() if line.startswith("error:")]
    assert iou.returncode == 1 and len(errors) == 1
    assert errors[0].startswith(f"error: {tmp_path / 'points.parquet'}: ") and "polygon predictions" in errors[0]
    no_column = run_script("rts-validate", "objects", tmp_path / "ref.parquet", tmp_path / "ref.parquet",
                           "-o", tmp_path / "v", "--group-by", "region")
    assert no_column.returncode == 1 and no_column.stderr.startswith("error: --group-by: column(s) in neither")
    assert not (tmp_path / "v").exists()


def test_pixels_command(rasters, tmp_path):
    prob_path, ref_path, _, _ = rasters
    done = run_script("rts-validate", "pixels", prob_path, ref_path, "-o", tmp_path / "px")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "px" / "metrics.json").read_text())
    assert metrics["mode"] == "pixels" and metrics["params"] == {"threshold": 0.5}
    assert [metrics["overall"][k] for k in ("tp", "fp", "fn", "tn")] == [4, 2, 2, 9]
    assert set(metrics["overall"]) == {"tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "accuracy",
                                       "kappa"}


def test_bad_inputs_one_line_and_no_output(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    ref = geopandas.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=CRS)
    ref.to_parquet(tmp_path / "ref.parquet")
    done = run_script("rts-validate", "objects", broken, tmp_path / "ref.parquet", "-o", tmp_path / "v")
    assert done.returncode == 1 and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {broken}: ")
    assert not (tmp_path / "v").exists()
    missing = run_script("rts-validate", "objects", tmp_path / "nope.parquet", tmp_path / "ref.parquet",
                         "-o", tmp_path / "v")
    assert missing.returncode == 1 and f"error: {tmp_path / 'nope.parquet'}: no such file" in missing.stderr
    points = geopandas.GeoDataFrame(geometry=geopandas.points_from_xy([0], [0]), crs=CRS)
    points.to_parquet(tmp_path / "points.parquet")
    unbuffered = run_script("rts-validate", "objects", tmp_path / "ref.parquet", tmp_path / "points.parquet",
                            "-o", tmp_path / "v")
    assert unbuffered.returncode == 1 and "--buffer-m" in unbuffered.stderr
    assert not (tmp_path / "v").exists()
    not_raster = run_script("rts-validate", "pixels", broken, tmp_path / "ref.parquet", "-o", tmp_path / "v")
    assert not_raster.returncode == 1 and not_raster.stderr.startswith(f"error: {broken}: ")


def test_a_probability_of_exactly_the_threshold_is_rts_in_the_pixel_metrics(tmp_path):
    """Issue #30's bug: rts-ensemble kept p >= threshold, the pixel metrics counted
    p > threshold, so a pixel stored as 50 was RTS in mask.tif and negative here."""
    from rts_validate.pixels import sweep_thresholds

    prob = np.array([[50, 49, 51, 50]], np.uint8)
    truth = np.array([[1, 1, 1, 0]], np.uint8)
    prob_path = write_raster(tmp_path / "p.prob.tif", prob, 255, 0.01)
    ref_path = write_raster(tmp_path / "ref.tif", truth, 9)
    result = assess_pixels(prob_path, ref_path, 0.5)
    assert [result[k] for k in ("tp", "fp", "fn", "tn")] == [2, 1, 1, 0]
    rows = {row["threshold"]: row for row in sweep_thresholds([prob_path], ref_path, thresholds=(0.49, 0.5, 0.51))}
    assert [rows[0.5][k] for k in ("tp", "fp", "fn", "tn")] == [2, 1, 1, 0]
    assert [rows[0.49][k] for k in ("tp", "fp", "fn", "tn")] == [3, 1, 0, 0]
    assert [rows[0.51][k] for k in ("tp", "fp", "fn", "tn")] == [1, 0, 2, 1]
