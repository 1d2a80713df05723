"""Object validation on hand-built cases with exact expected counts."""

import geopandas
import numpy as np
import pytest
from shapely.geometry import Point, box

from rts_validate.matching import match_iou, summary
from rts_validate.objects import ObjectOptions, assess_objects

CRS = "EPSG:32608"  # metres; boxes sit near x = 500 km, y = 7700 km
X0, Y0 = 500_000, 7_700_000


def frame(geometries, **columns):
    shifted = [_shift(g) for g in geometries]
    return geopandas.GeoDataFrame(columns, geometry=shifted, crs=CRS)


def _shift(geometry):
    from shapely import affinity

    return affinity.translate(geometry, X0, Y0)


def counts(body):
    o = body["overall"]
    return o["n_pred"], o["n_ref"], o["tp"], o["fp"], o["tp_ref"], o["fn"]


def test_touching_is_no_detection_overlapping_is():
    ref = frame([box(10, 0, 20, 10)])
    touching, _ = assess_objects(frame([box(0, 0, 10, 10)]), ref, ObjectOptions())
    assert counts(touching) == (1, 1, 0, 1, 0, 1)
    corner, _ = assess_objects(frame([box(0, 10, 10, 20)]), ref, ObjectOptions())
    assert counts(corner) == (1, 1, 0, 1, 0, 1)
    overlapping, _ = assess_objects(frame([box(0, 0, 11, 10)]), ref, ObjectOptions())
    assert counts(overlapping) == (1, 1, 1, 0, 1, 0)
    o = overlapping["overall"]
    assert (o["precision"], o["recall"], o["f1"]) == (1.0, 1.0, 1.0)
    # a 5 m buffer (DARTS, digitised polygons) turns touching into overlapping
    buffered, _ = assess_objects(frame([box(0, 0, 10, 10)]), ref, ObjectOptions(buffer_m=5))
    assert counts(buffered) == (1, 1, 1, 0, 1, 0)


def test_one_prediction_covering_two_references():
    pred = frame([box(0, 0, 30, 10)])
    ref = frame([box(1, 1, 9, 9), box(21, 1, 29, 9)])
    body, matches = assess_objects(pred, ref, ObjectOptions())
    assert counts(body) == (1, 2, 1, 0, 2, 0)
    assert sorted(matches.status) == ["tp", "tp_ref", "tp_ref"]
    iou, _ = assess_objects(pred, ref, ObjectOptions(mode="iou"))
    assert counts(iou) == (1, 2, 0, 1, 0, 2)  # IoU 64/300 with each: no match


def test_two_predictions_on_one_reference():
    pred = frame([box(0, 0, 10, 10), box(12, 0, 22, 10)])
    ref = frame([box(0, 0, 22, 10)])
    body, _ = assess_objects(pred, ref, ObjectOptions())
    assert counts(body) == (2, 1, 2, 0, 1, 0)
    assert body["overall"]["precision"] == 1.0 and body["overall"]["recall"] == 1.0
    strict, _ = assess_objects(pred, ref, ObjectOptions(mode="iou", iou=0.5))
    assert counts(strict) == (2, 1, 0, 2, 0, 1)  # IoU 100/220 = 0.45 each
    loose, matches = assess_objects(pred, ref, ObjectOptions(mode="iou", iou=0.4))
    assert counts(loose) == (2, 1, 1, 1, 1, 0)  # one to one: only one of the two is true
    assert matches[matches.side == "ref"].iou.iloc[0] == pytest.approx(100 / 220)


def test_buffered_points():
    pred = frame([box(100, 0, 110, 10), box(5000, 0, 5010, 10)])
    points = frame([Point(5, 5), Point(1000, 1000)])
    with pytest.raises(Exception, match="--buffer-m"):
        assess_objects(pred, points, ObjectOptions())
    near, _ = assess_objects(pred, points, ObjectOptions(buffer_m=500))
    assert counts(near) == (2, 2, 1, 1, 1, 1)  # 95 m from the first box; the other point is far
    short, _ = assess_objects(pred, points, ObjectOptions(buffer_m=50))
    assert counts(short) == (2, 2, 0, 2, 0, 2)


def test_coverage_clips_both_sides():
    pred = frame([box(0, 0, 10, 10), box(500, 500, 510, 510), box(50, 50, 60, 60)])
    ref = frame([box(2, 2, 8, 8), box(700, 700, 710, 710)])
    coverage = frame([box(-10, -10, 100, 100)])
    body, matches = assess_objects(pred, ref, ObjectOptions(), coverage)
    assert counts(body) == (2, 1, 1, 1, 1, 0)
    assert (matches.status == "outside_coverage").sum() == 2
    everywhere, _ = assess_objects(pred, ref, ObjectOptions())
    assert counts(everywhere) == (3, 2, 1, 2, 1, 1)


def test_min_area_drops_small_predictions():
    pred = frame([box(0, 0, 10, 10), box(100, 100, 102, 102)])
    ref = frame([box(0, 0, 10, 10)])
    body, matches = assess_objects(pred, ref, ObjectOptions(min_area_m2=50))
    assert counts(body) == (1, 1, 1, 0, 1, 0)
    assert list(matches.status[matches.side == "pred"]) == ["tp", "below_min_area"]


def test_iou_at_0_3_beats_greedy():
    """Greedy by IoU pairs P1-R1 (0.67) and leaves P2 alone; the optimum is P1-R2 (0.5)
    and P2-R1 (0.43): two matches."""
    r1, r2 = box(0, 0, 10, 10), box(6, 0, 14, 10)
    p1, p2 = box(2, 0, 12, 10), box(-4, 0, 6, 10)
    matching = match_iou([p1, p2], [r1, r2], threshold=0.3)
    assert matching.pred_true.all() and matching.ref_detected.all()
    assert list(matching.pred_partner) == [1, 0]
    np.testing.assert_allclose(matching.pred_iou, [0.5, 6 / 14])
    body, _ = assess_objects(frame([p1, p2]), frame([r1, r2]), ObjectOptions(mode="iou", iou=0.3))
    assert counts(body) == (2, 2, 2, 0, 2, 0)


def test_matches_table_holds_the_iou_of_each_match_exactly():
    """In a component solved by the Hungarian method the IoU is the pair's own, not
    recovered from the assignment's weights; the table repeats it for both sides."""
    r1, r2 = box(0, 0, 10, 10), box(6, 0, 14, 10)
    p1, p2 = box(2, 0, 12, 10), box(-4, 0, 6, 10)
    matching = match_iou([p1, p2], [r1, r2], threshold=0.3)
    exact = [p1.intersection(r2).area / p1.union(r2).area, p2.intersection(r1).area / p2.union(r1).area]
    assert matching.pred_iou.tolist() == exact
    _, matches = assess_objects(frame([p1, p2]), frame([r1, r2]), ObjectOptions(mode="iou", iou=0.3))
    pred_rows, ref_rows = matches[matches.side == "pred"], matches[matches.side == "ref"]
    np.testing.assert_allclose(pred_rows.iou, exact, rtol=1e-12)
    np.testing.assert_allclose(ref_rows.iou.to_numpy()[pred_rows.partner], pred_rows.iou, rtol=1e-12)


def test_groups_match_within_year_and_summarise():
    slump = box(0, 0, 10, 10)
    pred = frame([slump, slump, box(100, 0, 110, 10)], year=[2021, 2022, 2022])
    ref = frame([slump, slump, box(300, 0, 310, 10)], year=[2021, 2023, 2022],
                region=["Lena", "Lena", "Lena"])
    body, matches = assess_objects(pred, ref, ObjectOptions(group_by=("region", "year")))
    groups = {(g["group"]["region"], g["group"]["year"]): g for g in body["groups"]}
    assert sorted(groups) == [("Lena", 2021), ("Lena", 2022), ("Lena", 2023)]
    assert (groups["Lena", 2021]["tp"], groups["Lena", 2021]["tp_ref"]) == (1, 1)
    # the 2022 prediction on the slump does not match the 2023 reference of it
    assert (groups["Lena", 2022]["n_pred"], groups["Lena", 2022]["tp"], groups["Lena", 2022]["fn"]) == (2, 0, 1)
    assert (groups["Lena", 2023]["n_pred"], groups["Lena", 2023]["fn"]) == (0, 1)
    f1 = np.array([groups[k]["f1"] for k in sorted(groups)])
    assert body["summary"]["f1_mean"] == pytest.approx(f1.mean())
    assert body["summary"]["f1_std"] == pytest.approx(np.std(f1, ddof=1))
    assert body["summary"]["n_groups"] == 3
    assert set(matches.region[matches.side == "pred"]) == {"Lena"}  # predictions take the reference's region


def test_summary_mean_and_std():
    groups = [{"precision": p, "recall": r, "f1": f} for p, r, f in [(1, 0.5, 0.6), (0.5, 0.5, 0.5), (0, 0.2, 0.1)]]
    result = summary(groups)
    assert result["precision_mean"] == pytest.approx(0.5) and result["precision_std"] == pytest.approx(0.5)
    assert result["f1_mean"] == pytest.approx(0.4) and result["f1_std"] == pytest.approx(np.std([0.6, 0.5, 0.1],
                                                                                                 ddof=1))
    assert summary([groups[0]])["f1_std"] == 0.0 and summary([])["f1_mean"] is None


def test_empty_inputs_give_zeros():
    empty = geopandas.GeoDataFrame(geometry=[], crs=CRS)
    body, matches = assess_objects(empty, empty, ObjectOptions())
    assert counts(body) == (0, 0, 0, 0, 0, 0) and body["overall"]["f1"] == 0.0
    body, _ = assess_objects(frame([box(0, 0, 1, 1)]), empty, ObjectOptions(mode="iou"))
    assert counts(body) == (1, 0, 0, 1, 0, 0) and body["overall"]["precision"] == 0.0


def test_invalid_geometries_are_repaired(caplog):
    from shapely.geometry import Polygon

    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    body, _ = assess_objects(frame([bowtie]), frame([box(6, 2, 9, 8)]), ObjectOptions())
    assert counts(body) == (1, 1, 1, 0, 1, 0)
    assert "repaired" in caplog.text


def test_data_across_180_degrees_is_measured_in_utm_zone_1_or_60():
    """Predictions in UTM zone 60 and references in EPSG:4326 split at 180° (as
    rts-aggregate writes them): buffers and areas in the zone at 180°, not in the zone of
    the longitudes' plain mean (zone 31, 177° from this data)."""
    from pyproj import Transformer

    from rts_core.crs import longitude_arc, metric_crs, to_geographic

    zone1 = "EPSG:32601"
    x180, y0 = Transformer.from_crs("EPSG:4326", zone1, always_xy=True).transform(180.0, 66.0)
    square = geopandas.GeoSeries([box(x180 - 30, y0, x180 + 30, y0 + 60)], crs=zone1)  # 60 x 60 m across 180°
    ref = to_geographic(geopandas.GeoDataFrame(geometry=square.to_crs("EPSG:6931")))
    assert ref.geometry.iloc[0].geom_type == "MultiPolygon"  # two parts, at -180° and +180°
    across = box(x180 - 10, y0 + 20, x180 + 10, y0 + 40)  # 400 m², across 180° and the reference
    beside = box(x180 + 34, y0, x180 + 64, y0 + 30)  # 900 m², 4 m east of the reference
    pred = geopandas.GeoDataFrame(geometry=[across, beside], crs=zone1).to_crs("EPSG:32660")
    assert metric_crs(pred, ref) in ("EPSG:32601", "EPSG:32660")
    assert longitude_arc([(179.9, -179.9)]) == pytest.approx((179.9, 0.2))
    assert longitude_arc([(170.0, 175.0), (-178.0, -175.0)]) == pytest.approx((170.0, 15.0))
    assert longitude_arc([(-10.0, 10.0), (100.0, 120.0)]) == pytest.approx((-10.0, 130.0))
    near, matches = assess_objects(pred, ref, ObjectOptions(buffer_m=5, min_area_m2=350))
    assert counts(near) == (2, 1, 2, 0, 1, 0)  # both counted (true areas) and both within 5 m
    far, _ = assess_objects(pred, ref, ObjectOptions(buffer_m=3, min_area_m2=350))
    assert counts(far) == (2, 1, 1, 1, 1, 0)
    small, _ = assess_objects(pred, ref, ObjectOptions(min_area_m2=500))
    assert counts(small) == (1, 1, 0, 1, 0, 1)  # the 400 m² prediction is below 500 m²
    # matches.parquet keeps each side in EPSG:4326 without a band around the globe
    widths = matches.geometry.apply(lambda g: max(p.bounds[2] - p.bounds[0] for p in getattr(g, "geoms", [g])))
    assert (widths < 0.01).all()
    assert matches.geometry.iloc[0].geom_type == "MultiPolygon"


def test_min_area_and_size_classes_use_the_one_equal_area_rule():
    """Issue #29 item 4: validation measured areas in its own metric CRS (UTM here: a
    1000 m² grid box on the zone's central meridian, scale 0.9996, is 1000.8 m² of ground). The one rule
    (EASE-Grid 2.0, as Level 1 and Level 2) puts it above a 1000.3 m² bound."""
    prediction = frame([box(0, 0, 10, 100)])  # 1000 m² of UTM grid
    reference = frame([box(0, 0, 10, 100)])
    body, matches = assess_objects(prediction, reference, ObjectOptions(min_area_m2=1000.3,
                                                                        size_bounds_m2=(1000.3, 5000)))
    assert counts(body) == (1, 1, 1, 0, 1, 0)  # not dropped as below the minimum area
    assert set(matches["size_class"]) == {"medium"}
