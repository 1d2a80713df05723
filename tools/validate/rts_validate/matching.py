"""Object-level accuracy: which predictions are true and which references were found
(CONTRACT.md section 6). Pure geometry and tables, no file I/O.

Two rules:
- ``intersect`` (DARTS): a prediction is true if it intersects a reference, a reference
  is detected if any prediction intersects it. One prediction may cover two references
  (both detected, one true prediction); two predictions on one reference are both true.
  Polygons must share area: touching along an edge or at a corner alone is no
  detection. A point (without buffer) counts when it lies in or on the polygon.
- ``iou``: one-to-one matches between predictions and references whose IoU reaches the
  threshold, as many as possible. Candidate pairs come from an STRtree; each connected
  group of candidates is solved with the Hungarian method (scipy's
  linear_sum_assignment), maximising first the number of matches and then their IoU.
  Greedy matching by IoU is only optimal at thresholds of 0.5 and above, where a
  polygon can have at most one partner.

Matching only pairs items whose group values agree on every ``--group-by`` column
present on both sides (a 2021 prediction never matches a 2022 reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

OBJECT_KEYS = ("n_pred", "n_ref", "tp", "fp", "tp_ref", "fn", "precision", "recall", "f1")
SUMMARY_KEYS = ("precision", "recall", "f1")


@dataclass
class Matching:
    """Per prediction: true or not, its partner reference (-1 if none) and the IoU with
    it; per reference: detected or not and its partner prediction (-1 if none)."""

    pred_true: np.ndarray
    pred_partner: np.ndarray
    pred_iou: np.ndarray
    ref_detected: np.ndarray
    ref_partner: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.empty(0, int), np.empty(0, int)))


def iou_of(intersection, union) -> np.ndarray:
    """Intersection over union from the two areas; 0 where the union has no area
    (points), which no threshold accepts."""
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def candidate_pairs(pred, ref, same_group=None) -> tuple[np.ndarray, np.ndarray]:
    """(prediction index, reference index) of intersecting pairs, restricted to pairs
    for which ``same_group[i, j]`` holds when given (a callable on index arrays)."""
    pred, ref = np.asarray(pred, dtype=object), np.asarray(ref, dtype=object)
    if len(pred) == 0 or len(ref) == 0:
        return np.empty(0, int), np.empty(0, int)
    tree = shapely.STRtree(ref)
    i, j = tree.query(pred, predicate="intersects")
    if same_group is not None and i.size:
        keep = same_group(i, j)
        i, j = i[keep], j[keep]
    return i, j


def _largest_overlap_partner(count: int, owner: np.ndarray, other: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """For each of ``count`` items, the counterpart with the largest overlap (-1: none)."""
    partner = np.full(count, -1, np.int64)
    if owner.size:
        order = np.lexsort((-overlap, owner))
        first = np.unique(owner[order], return_index=True)[1]
        partner[owner[order][first]] = other[order][first]
    return partner


def match_intersect(pred, ref, same_group=None) -> Matching:
    i, j = candidate_pairs(pred, ref, same_group)
    pred, ref = np.asarray(pred, dtype=object), np.asarray(ref, dtype=object)
    overlap = shapely.area(shapely.intersection(pred[i], ref[j])) if i.size else np.empty(0)
    if i.size:  # areal pairs must overlap; a pair with a point or line only has to meet
        areal = (shapely.area(pred[i]) > 0) & (shapely.area(ref[j]) > 0)
        keep = ~areal | (overlap > 0)
        i, j, overlap = i[keep], j[keep], overlap[keep]
    pred_true = np.zeros(len(pred), bool)
    pred_true[i] = True
    ref_detected = np.zeros(len(ref), bool)
    ref_detected[j] = True
    pred_partner = _largest_overlap_partner(len(pred), i, j, overlap)
    ref_partner = _largest_overlap_partner(len(ref), j, i, overlap)
    iou = np.full(len(pred), np.nan)
    has = pred_partner >= 0
    if has.any():  # the overlap of each prediction with its partner is already known
        order = np.lexsort((-overlap, i))
        first = order[np.unique(i[order], return_index=True)[1]]
        inter = overlap[first]
        union = shapely.area(pred[i[first]]) + shapely.area(ref[j[first]]) - inter
        iou[i[first]] = iou_of(inter, union)
    return Matching(pred_true, pred_partner, iou, ref_detected, ref_partner, (i, j))


def match_iou(pred, ref, threshold: float = 0.5, same_group=None) -> Matching:
    """Maximum one-to-one matching among pairs with IoU >= ``threshold``."""
    pred, ref = np.asarray(pred, dtype=object), np.asarray(ref, dtype=object)
    i, j = candidate_pairs(pred, ref, same_group)
    if i.size:
        inter = shapely.area(shapely.intersection(pred[i], ref[j]))
        union = shapely.area(pred[i]) + shapely.area(ref[j]) - inter
        iou = iou_of(inter, union)
        keep = iou >= threshold
        i, j, iou = i[keep], j[keep], iou[keep]
    else:
        iou = np.empty(0)
    pred_partner = np.full(len(pred), -1, np.int64)
    ref_partner = np.full(len(ref), -1, np.int64)
    pred_iou = np.full(len(pred), np.nan)
    if i.size:
        # one graph over predictions then references; its components are independent
        n = len(pred) + len(ref)
        graph = coo_matrix((np.ones(i.size), (i, len(pred) + j)), shape=(n, n))
        _, component = connected_components(graph, directed=False)
        pair_component = component[i]
        sizes = np.bincount(pair_component, minlength=component.max() + 1)
        simple = sizes[pair_component] == 1  # a lone pair: matched as it is
        pred_partner[i[simple]], ref_partner[j[simple]] = j[simple], i[simple]
        pred_iou[i[simple]] = iou[simple]
        for c in np.unique(pair_component[~simple]):
            members = np.flatnonzero(pair_component == c)
            rows, row_index = np.unique(i[members], return_inverse=True)
            cols, col_index = np.unique(j[members], return_inverse=True)
            # every match is worth more than any IoU total: most matches first, then IoU
            gain = np.zeros((rows.size, cols.size))
            gain[row_index, col_index] = 1 + rows.size + iou[members]
            pair = np.full((rows.size, cols.size), -1, np.int64)
            pair[row_index, col_index] = members
            chosen_rows, chosen_cols = linear_sum_assignment(gain, maximize=True)
            real = gain[chosen_rows, chosen_cols] > 0
            p, r = rows[chosen_rows[real]], cols[chosen_cols[real]]
            pred_partner[p], ref_partner[r] = r, p
            pred_iou[p] = iou[pair[chosen_rows[real], chosen_cols[real]]]  # exact, not gain minus offset
    return Matching(pred_partner >= 0, pred_partner, pred_iou, ref_partner >= 0, ref_partner, (i, j))


def scores(n_pred: int, n_ref: int, tp: int, tp_ref: int) -> dict:
    """The contract's object keys from the four counts."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp_ref / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"n_pred": int(n_pred), "n_ref": int(n_ref), "tp": int(tp), "fp": int(n_pred - tp),
            "tp_ref": int(tp_ref), "fn": int(n_ref - tp_ref), "precision": precision, "recall": recall, "f1": f1}


def grouped_scores(pred_table: pandas.DataFrame, ref_table: pandas.DataFrame, group_by: list[str]):
    """Overall and per-group scores from tables with a boolean ``hit`` column (true
    prediction / detected reference) and the group columns; returns (overall, groups)."""
    overall = scores(len(pred_table), len(ref_table), int(pred_table["hit"].sum()), int(ref_table["hit"].sum()))
    if not group_by:
        return overall, []
    pred_counts = pred_table.groupby(group_by, dropna=False)["hit"].agg(size_pred="size", sum_pred="sum")
    ref_counts = ref_table.groupby(group_by, dropna=False)["hit"].agg(size_ref="size", sum_ref="sum")
    both = pred_counts.join(ref_counts, how="outer").fillna(0).sort_index()
    groups = []
    for key, row in both.iterrows():
        values = key if isinstance(key, tuple) else (key,)
        group = {name: _plain(value) for name, value in zip(group_by, values, strict=True)}
        groups.append({"group": group, **scores(row["size_pred"], row["size_ref"], row["sum_pred"], row["sum_ref"])})
    return overall, groups


def _plain(value):
    """A group value as JSON has it (numpy scalars to Python, NaN to None)."""
    if isinstance(value, float) and np.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def summary(groups: list[dict], keys=SUMMARY_KEYS) -> dict:
    """Mean and sample standard deviation (ddof 1, as papers report over years) of each
    score across groups; the std is 0 for a single group and None for none."""
    result: dict = {"n_groups": len(groups)}
    for key in keys:
        values = np.array([g[key] for g in groups], dtype=float)
        result[f"{key}_mean"] = float(values.mean()) if values.size else None
        result[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else (0.0 if values.size else None)
    return result


# -- instance metrics beyond the anchors ---------------------------------------------------
SIZE_CLASSES = ("small", "medium", "large")
DEFAULT_SIZE_BOUNDS_M2 = (1_000.0, 10_000.0)  # small < 0.1 ha <= medium < 1 ha <= large
INSTANCE_KEYS = ("pq", "sq", "rq", "boundary_iou")


def size_classes(areas_m2: np.ndarray, bounds_m2=DEFAULT_SIZE_BOUNDS_M2) -> np.ndarray:
    """small, medium or large by area: below the first bound, below the second, else."""
    return np.asarray(SIZE_CLASSES, dtype=object)[np.searchsorted(np.asarray(bounds_m2), areas_m2, side="right")]


def panoptic(ious: np.ndarray, n_pred: int, n_ref: int) -> dict:
    """Panoptic quality of a one-to-one matching (Kirillov et al. 2019) from the IoUs of
    its matched pairs: SQ their mean, RQ = TP / (TP + FP/2 + FN/2), PQ = SQ x RQ."""
    tp = len(ious)
    fp, fn = n_pred - tp, n_ref - tp
    sq = float(np.mean(ious)) if tp else 0.0
    rq = tp / (tp + 0.5 * fp + 0.5 * fn) if tp + fp + fn else 0.0
    return {"pq": sq * rq, "sq": sq, "rq": rq}


def boundary_iou(pred, ref, width_m: float) -> np.ndarray:
    """Boundary IoU of each (prediction, reference) pair (Cheng et al. 2021): the IoU of
    the parts of each polygon within ``width_m`` of its own outline, in metres of the
    polygons' CRS. Sensitive to how well outlines agree, where the area IoU of large
    objects hardly is."""
    pred, ref = np.asarray(pred, dtype=object), np.asarray(ref, dtype=object)
    if not len(pred):
        return np.empty(0)
    pred_band = shapely.intersection(pred, shapely.buffer(shapely.boundary(pred), width_m))
    ref_band = shapely.intersection(ref, shapely.buffer(shapely.boundary(ref), width_m))
    inter = shapely.area(shapely.intersection(pred_band, ref_band))
    return iou_of(inter, shapely.area(pred_band) + shapely.area(ref_band) - inter)
