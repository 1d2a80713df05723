"""Object validation from two GeoDataFrames: CRS, buffers, coverage, groups, matching.

How an item gets its group value for a ``--group-by`` column:
1. from its own row, when its side has the column (then items only match partners
   with the same value when both sides have it);
2. otherwise from its partner (for a prediction: the reference it overlaps most, or its
   IoU match; for a reference: likewise the prediction);
3. otherwise from the coverage polygon it lies in, when ``--coverage`` has the column;
4. otherwise from the nearest item of the other side (a false positive takes the
   region of the nearest reference).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas
import shapely

from rts_core.crs import POLAR_NORTH, equal_area_m2, metric_crs, to_geographic
from rts_core.errors import InputError
from rts_core.landcover import LandCover
from rts_core.vector import repair_geometries

from .matching import (
    DEFAULT_SIZE_BOUNDS_M2,
    SIZE_CLASSES,
    boundary_iou,
    grouped_scores,
    iou_of,
    match_intersect,
    match_iou,
    panoptic,
    scores,
    size_classes,
    summary,
)

log = logging.getLogger(__name__)
# ESRI 10 m annual land cover (Impact Observatory), the DARTS water filter's raster
ESRI_LEGEND = ((1, "water"), (2, "trees"), (4, "flooded vegetation"), (5, "crops"), (7, "built area"),
               (8, "bare ground"), (9, "snow/ice"), (10, "clouds"), (11, "rangeland"))


class SideError(InputError):
    """An input problem of one side, ``side`` "pred" or "ref", so that the command can
    name that side's file."""

    def __init__(self, side: str, message: str):
        super().__init__(message)
        self.side = side


@dataclass(frozen=True)
class ObjectOptions:
    mode: str = "intersect"  # or "iou"
    iou: float = 0.5
    buffer_m: float | None = None  # around references (points need one)
    group_by: tuple[str, ...] = ()
    min_area_m2: float = 0.0  # smaller predictions are not counted
    size_bounds_m2: tuple[float, float] = DEFAULT_SIZE_BOUNDS_M2  # small < first <= medium < second <= large
    boundary_m: float = 3.0  # boundary IoU's band (iou mode): one PlanetScope pixel
    landcover: str | None = None  # raster for the error anatomy
    landcover_names: tuple[tuple[int, str], ...] = ESRI_LEGEND

    def params(self, coverage: str | None = None) -> dict:
        return {"mode": self.mode, "iou": self.iou if self.mode == "iou" else None, "buffer_m": self.buffer_m,
                "group_by": list(self.group_by), "min_area_m2": self.min_area_m2, "coverage": coverage,
                "size_bounds_m2": list(self.size_bounds_m2),
                "boundary_m": self.boundary_m if self.mode == "iou" else None, "landcover": self.landcover,
                "std": "sample (ddof 1) across groups"}


def assess_objects(pred, ref, options: ObjectOptions, coverage=None):
    """Scores (the metrics.json body without ``mode``/``params``) and the matches table
    (every prediction and reference with its status) for two GeoDataFrames: the inputs
    checked, measured in one metric CRS, filtered (size, coverage), matched, scored."""
    import geopandas

    check_inputs(pred, ref, options)
    work = WorkGeometries.of(pred, ref, options)
    pred_status, ref_status, coverage_work = filtered(work, options, coverage)
    pred_in, ref_in = np.flatnonzero(pred_status == ""), np.flatnonzero(ref_status == "")
    matched = matched_pairs(pred, ref, work, options, pred_in, ref_in, pred_status, ref_status)
    pred_groups = _group_values(pred, ref, matched.pred_partner, work.pred, work.ref, options.group_by, coverage_work)
    ref_groups = _group_values(ref, pred, matched.ref_partner, work.ref, work.pred, options.group_by, coverage_work)
    counted_pred = pandas.DataFrame({"hit": pred_status[pred_in] == "tp"}).join(
        pred_groups.iloc[pred_in].reset_index(drop=True))
    counted_ref = pandas.DataFrame({"hit": ref_status[ref_in] == "tp_ref"}).join(
        ref_groups.iloc[ref_in].reset_index(drop=True))
    overall, groups = grouped_scores(counted_pred, counted_ref, list(options.group_by))
    body = {"overall": overall, "groups": groups, "summary": summary(groups if groups else [overall])}
    # sizes from the polygons as drawn (the reference buffer is a matching tolerance)
    pred_size = size_classes(equal_area_m2(work.pred, work.crs), options.size_bounds_m2)
    ref_size = size_classes(equal_area_m2(work.ref_drawn, work.crs), options.size_bounds_m2)
    body["by_size"] = sized_scores(counted_pred.assign(size_class=pred_size[pred_in]),
                                   counted_ref.assign(size_class=ref_size[ref_in]), options)
    if options.mode == "iou":
        add_instance_metrics(body, work, matched, options, pred_in, ref_in, pred_status, pred_size, ref_size)
    landcover = landcover_anatomy(body, work, options, pred_status, ref_status, pred_size, ref_size) \
        if options.landcover else None
    matches = pandas.concat([
        pandas.DataFrame({"side": "pred", "index": np.arange(len(pred)), "status": pred_status,
                          "partner": matched.pred_partner, "iou": matched.pred_iou}).join(pred_groups),
        pandas.DataFrame({"side": "ref", "index": np.arange(len(ref)), "status": ref_status,
                          "partner": matched.ref_partner, "iou": matched.ref_iou}).join(ref_groups),
    ], ignore_index=True)
    matches["size_class"] = np.concatenate([pred_size, ref_size]).astype(str)
    if landcover is not None:  # the class under each false prediction and missed reference
        matches["landcover"] = pandas.array(landcover, dtype="string")
    # each side from its own CRS: the two files need not share one
    geometry = np.concatenate([_geographic(pred), _geographic(ref)])
    return body, geopandas.GeoDataFrame(matches, geometry=list(geometry), crs="EPSG:4326")


def check_inputs(pred, ref, options: ObjectOptions) -> None:
    """What cannot be scored: no CRS, --group-by columns in neither input, points or
    lines as references without a buffer, points as predictions in iou mode."""
    for frame, side, name in ((pred, "pred", "predictions"), (ref, "ref", "references")):
        if len(frame) and frame.crs is None:
            raise SideError(side, f"the {name} have no CRS")
    missing = [c for c in options.group_by if c not in pred.columns and c not in ref.columns]
    if missing:
        raise InputError(f"column(s) in neither input: {', '.join(missing)}", source="--group-by")
    kinds = set(shapely.get_type_id(ref.geometry.values[~ref.geometry.is_empty]).tolist())
    if kinds & {0, 1, 4, 5} and not options.buffer_m:  # points and lines
        raise SideError("ref", "point or line references need --buffer-m (DARTS buffered point inventories by "
                        "500 m)")
    if options.mode == "iou" and set(shapely.get_type_id(pred.geometry.values).tolist()) & {0, 4}:
        raise SideError("pred", "iou mode needs polygon predictions, got points")


@dataclass
class WorkGeometries:
    """Both sides in one metric CRS, repaired: predictions, references as drawn, and
    references as matched (buffered by --buffer-m)."""

    crs: str
    pred: np.ndarray
    ref_drawn: np.ndarray
    ref: np.ndarray

    @classmethod
    def of(cls, pred, ref, options: ObjectOptions) -> WorkGeometries:
        crs = metric_crs(pred, ref)
        pred_work = pred.to_crs(crs) if len(pred) else pred.set_crs(crs, allow_override=True)
        ref_work = ref.to_crs(crs) if len(ref) else ref.set_crs(crs, allow_override=True)
        pred_geometry = repair_geometries(pred_work.geometry.values, "prediction")
        ref_drawn = repair_geometries(ref_work.geometry.values, "reference")
        ref_geometry = shapely.buffer(ref_drawn, options.buffer_m) if options.buffer_m else ref_drawn
        return cls(crs, pred_geometry, ref_drawn, ref_geometry)


def filtered(work: WorkGeometries, options: ObjectOptions, coverage):
    """Each side's status before matching: "below_min_area" (predictions), "outside_coverage",
    or "" (counted); and the coverage in the metric CRS (None without one)."""
    pred_status = np.full(len(work.pred), "", dtype=object)
    ref_status = np.full(len(work.ref), "", dtype=object)
    if options.min_area_m2 > 0:
        small = equal_area_m2(work.pred, work.crs) < options.min_area_m2
        small &= shapely.get_type_id(work.pred) != 0  # points have no area to test
        pred_status[small] = "below_min_area"
    coverage_work = None
    if coverage is not None:
        coverage_work = coverage.to_crs(work.crs)
        area = shapely.union_all(repair_geometries(coverage_work.geometry.values, "coverage"))
        shapely.prepare(area)
        pred_status[(pred_status == "") & ~shapely.intersects(area, work.pred)] = "outside_coverage"
        ref_status[~shapely.intersects(area, work.ref)] = "outside_coverage"
    return pred_status, ref_status, coverage_work


@dataclass
class MatchedPairs:
    """The matching of the counted items: its result, each item's partner (index on the
    other side, -1 for none) and IoU with it."""

    matching: object
    pred_partner: np.ndarray
    ref_partner: np.ndarray
    pred_iou: np.ndarray
    ref_iou: np.ndarray


def matched_pairs(pred, ref, work: WorkGeometries, options: ObjectOptions, pred_in, ref_in, pred_status,
                  ref_status) -> MatchedPairs:
    """Match the counted items (within --group-by groups) and set their statuses: tp or
    fp for predictions, tp_ref or fn for references."""
    shared = [c for c in options.group_by if c in pred.columns and c in ref.columns]
    same_group = None
    if shared:
        pred_keys = _keys(pred.iloc[pred_in], shared)
        ref_keys = _keys(ref.iloc[ref_in], shared)

        def same_group(i, j):
            return pred_keys[i] == ref_keys[j]

    if options.mode == "iou":
        matching = match_iou(work.pred[pred_in], work.ref[ref_in], options.iou, same_group)
    else:
        matching = match_intersect(work.pred[pred_in], work.ref[ref_in], same_group)
    pred_status[pred_in] = np.where(matching.pred_true, "tp", "fp")
    ref_status[ref_in] = np.where(matching.ref_detected, "tp_ref", "fn")
    pred_partner = np.full(len(pred), -1, np.int64)
    ref_partner = np.full(len(ref), -1, np.int64)
    has = matching.pred_partner >= 0
    pred_partner[pred_in[has]] = ref_in[matching.pred_partner[has]]
    has = matching.ref_partner >= 0
    ref_partner[ref_in[has]] = pred_in[matching.ref_partner[has]]
    pred_iou = np.full(len(pred), np.nan)
    pred_iou[pred_in] = matching.pred_iou
    ref_iou = _pair_iou(work.ref, work.pred, ref_partner)  # intersect mode: not its partner's IoU
    return MatchedPairs(matching, pred_partner, ref_partner, pred_iou, ref_iou)


def add_instance_metrics(body: dict, work: WorkGeometries, matched: MatchedPairs, options: ObjectOptions,
                         pred_in, ref_in, pred_status, pred_size, ref_size) -> None:
    """iou mode: the instance metrics of the matched pairs, overall and per size class
    (pairs count in their reference's class)."""
    matching = matched.matching
    pairs = pred_in[matching.pred_true]
    partners = ref_in[matching.pred_partner[matching.pred_true]]
    body["instance"] = instance_metrics(work.pred[pairs], work.ref[partners], matched.pred_iou[pairs],
                                        len(pred_in), len(ref_in), options.boundary_m)
    for row in body["by_size"]:
        mine = ref_size[partners] == row["size_class"]
        unmatched_pred = int(np.sum((pred_status == "fp") & (pred_size == row["size_class"])))
        row.update(instance_metrics(work.pred[pairs[mine]], work.ref[partners[mine]], matched.pred_iou[pairs[mine]],
                                    int(mine.sum()) + unmatched_pred, row["n_ref"], options.boundary_m))


def landcover_anatomy(body: dict, work: WorkGeometries, options: ObjectOptions, pred_status, ref_status, pred_size,
                      ref_size) -> np.ndarray:
    """The land-cover class under each false prediction and missed reference (the
    matches table's column) and the errors' anatomy in ``body``."""
    n_pred = len(work.pred)
    landcover = np.full(n_pred + len(work.ref), None, dtype=object)
    wrong_pred, missed_ref = np.flatnonzero(pred_status == "fp"), np.flatnonzero(ref_status == "fn")
    classes = LandCover(options.landcover).majority(
        np.concatenate([work.pred[wrong_pred], work.ref_drawn[missed_ref]]), work.crs)
    names = dict(options.landcover_names)
    named = np.array([names.get(c, f"class {c}") if c is not None else "no data" for c in classes], dtype=object)
    landcover[wrong_pred], landcover[n_pred + missed_ref] = named[:len(wrong_pred)], named[len(wrong_pred):]
    body["anatomy"] = anatomy(named[:len(wrong_pred)], named[len(wrong_pred):], pred_size[wrong_pred],
                              ref_size[missed_ref])
    return landcover


def sized_scores(pred_table: pandas.DataFrame, ref_table: pandas.DataFrame, options: ObjectOptions) -> list[dict]:
    """The object scores per size class: predictions by their own size (precision),
    references by theirs (recall); every class listed, with its bounds."""
    _, rows = grouped_scores(pred_table, ref_table, ["size_class"])
    found = {row["group"]["size_class"]: row for row in rows}
    edges = [0.0, *options.size_bounds_m2, None]
    result = []
    for index, name in enumerate(SIZE_CLASSES):
        row = found.get(name) or {"group": {"size_class": name}, **scores(0, 0, 0, 0)}
        result.append({"size_class": name, "min_m2": edges[index], "max_m2": edges[index + 1],
                       **{k: v for k, v in row.items() if k != "group"}})
    return result


def instance_metrics(pred, ref, ious, n_pred: int, n_ref: int, boundary_m: float) -> dict:
    """Panoptic quality of the matched pairs and their mean boundary IoU."""
    boundary = boundary_iou(pred, ref, boundary_m)
    return {**panoptic(np.asarray(ious, float), n_pred, n_ref),
            "boundary_iou": float(boundary.mean()) if boundary.size else 0.0}


def anatomy(fp_classes, fn_classes, fp_sizes, fn_sizes) -> dict:
    """Counts and shares of false predictions and missed references per land-cover
    class and per size class."""
    def tally(values, order=None):
        values = pandas.Series(np.asarray(values, dtype=object), dtype=object)
        counts = values.value_counts()
        keys = list(order) if order else list(counts.index)
        total = max(int(counts.sum()), 1)
        return [{"class": key, "count": int(counts.get(key, 0)), "share": int(counts.get(key, 0)) / total}
                for key in keys]

    return {"false_positives": {"by_landcover": tally(fp_classes), "by_size": tally(fp_sizes, SIZE_CLASSES)},
            "missed_references": {"by_landcover": tally(fn_classes), "by_size": tally(fn_sizes, SIZE_CLASSES)}}


def _geographic(frame) -> np.ndarray:
    """The frame's geometries in EPSG:4326 (an empty frame may lack a CRS); those that
    come out spanning more than half the globe crossed 180° and are split there (in the
    Arctic: through EASE-Grid 2.0 North)."""
    if not len(frame):
        return np.empty(0, dtype=object)
    geographic = np.asarray(frame.geometry.to_crs("EPSG:4326").values, dtype=object)
    bounds = shapely.bounds(geographic)
    crossing = (bounds[:, 2] - bounds[:, 0] > 180) & ~frame.crs.is_geographic
    if crossing.any():
        polar = frame.iloc[np.flatnonzero(crossing)].to_crs(POLAR_NORTH)
        geographic[crossing] = np.asarray(to_geographic(polar).geometry.values, dtype=object)
    return geographic


def _pair_iou(own, other, partner) -> np.ndarray:
    """IoU of each item with its partner (NaN without one; 0 for points)."""
    result = np.full(len(own), np.nan)
    has = partner >= 0
    if has.any():
        a, b = own[has], other[partner[has]]
        inter = shapely.area(shapely.intersection(a, b))
        union = shapely.area(a) + shapely.area(b) - inter
        result[has] = iou_of(inter, union)
    return result


def _keys(frame, columns) -> np.ndarray:
    """One hashable key (a tuple) per row for the given columns."""
    keys = np.empty(len(frame), dtype=object)
    keys[:] = list(zip(*(frame[c].astype(object).to_numpy() for c in columns), strict=True))
    return keys


def _group_values(own, other, partner, own_geometry, other_geometry, group_by, coverage) -> pandas.DataFrame:
    """The group columns for every row of ``own`` (see the module docstring)."""
    values = pandas.DataFrame(index=pandas.RangeIndex(len(own)))
    for column in group_by:
        if column in own.columns:
            values[column] = own[column].to_numpy()
            continue
        result = np.full(len(own), None, dtype=object)
        source = other[column].to_numpy() if column in other.columns else None
        has = partner >= 0
        if source is not None:
            result[has] = source[partner[has]]
        todo = np.flatnonzero(pandas.isna(pandas.Series(result)).to_numpy())
        if todo.size and coverage is not None and column in coverage.columns:
            tree = shapely.STRtree(np.asarray(coverage.geometry.values))
            i, j = tree.query(own_geometry[todo], predicate="intersects")
            first = np.unique(i, return_index=True)[1]
            result[todo[i[first]]] = coverage[column].to_numpy()[j[first]]
            todo = np.flatnonzero(pandas.isna(pandas.Series(result)).to_numpy())
        if todo.size and source is not None and len(other_geometry):
            tree = shapely.STRtree(other_geometry)
            i, j = tree.query_nearest(own_geometry[todo], all_matches=False)
            result[todo[i]] = source[j]
        values[column] = pandas.Series(result).infer_objects().to_numpy()
    return values


MATCHABLE_TYPE_IDS = (0, 1, 3, 4, 5, 6)  # shapely type ids but LinearRing and GeometryCollection


def matchable_frame(path, what: str):
    """A vector file (any GDAL path) as a GeoDataFrame of what matching takes: points,
    lines and polygons; null and empty geometries dropped with a warning (counted, an
    empty prediction was a false positive and an empty reference a miss), any other
    type or a NaN coordinate an InputError."""
    from rts_core.vector import polygonal_rows, read_vector

    frame = read_vector(path)
    return frame[polygonal_rows(frame.geometry.values, f"{path} ({what})", MATCHABLE_TYPE_IDS,
                                "only points, lines and polygons can be matched")]


def score_objects(pred, ref, options: ObjectOptions = ObjectOptions(), coverage=None):
    """Object scores of predicted polygons (a file any GDAL path names, or a
    GeoDataFrame) against reference polygons or points: (the metrics.json body, the
    matches table). The stage without the command's files and fingerprint."""
    import geopandas

    def frame(source, what):
        if source is None or isinstance(source, geopandas.GeoDataFrame):
            return source
        return matchable_frame(source, what)

    return assess_objects(frame(pred, "predictions"), frame(ref, "references"), options,
                          frame(coverage, "coverage"))
