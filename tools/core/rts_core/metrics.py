"""The one threshold rule and the pixel scores, shared by rts-ensemble (binarising),
rts-validate (pixel scores and the threshold sweep) and rts-train (validation F1).

CONTRACT.md section 3: a pixel is RTS when its probability is **>=** the threshold, as
DARTS' ensemble binarises; 0.5 stored as 50 is RTS. Counting ``p > threshold`` in the
metrics while the ensemble kept ``p >= threshold`` scored a pixel stored as 50 RTS in
``mask.tif`` and negative in the pixel metrics.
"""

from __future__ import annotations

import numpy as np

# A probability that equals the threshold in exact arithmetic reaches it despite float
# rounding of stored x scale (50 x 0.01) or of a mean of models; the stored step (0.01)
# is far larger.
TIE_TOLERANCE = 1e-6
PIXEL_KEYS = ("tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "accuracy", "kappa")


def is_rts(probability, threshold: float):
    """The one threshold rule: probability >= threshold (within TIE_TOLERANCE)."""
    return np.asarray(probability) >= threshold - TIE_TOLERANCE


def thresholds_reached(probability, thresholds: np.ndarray) -> np.ndarray:
    """How many of the sorted ``thresholds`` each probability reaches (by :func:`is_rts`):
    the threshold sweep counts each pixel once, in the interval it falls in."""
    return np.searchsorted(thresholds, np.asarray(probability) + TIE_TOLERANCE, side="right")


def confusion(pred_positive, ref_positive, valid=None) -> np.ndarray:
    """Counts [tp, fp, fn, tn] over the valid pixels (all where ``valid`` is None)."""
    pred_positive, ref_positive = np.asarray(pred_positive, bool), np.asarray(ref_positive, bool)
    if valid is not None:
        pred_positive, ref_positive = pred_positive[valid], ref_positive[valid]
    code = pred_positive.astype(np.int64) * 2 + ref_positive.astype(np.int64)  # 3 tp, 2 fp, 1 fn, 0 tn
    counts = np.bincount(code.ravel(), minlength=4)
    return np.array([counts[3], counts[2], counts[1], counts[0]], np.int64)


def pixel_scores(tp: int, fp: int, fn: int, tn: int) -> dict:
    """Precision, recall, F1 and IoU of the positive class, accuracy and Cohen's kappa."""
    tp, fp, fn, tn = (int(v) for v in (tp, fp, fn, tn))
    n = tp + fp + fn + tn

    def ratio(a, b):
        return a / b if b else 0.0

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    observed = ratio(tp + tn, n)
    expected = ratio((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn), n * n)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else (1.0 if observed == 1 else 0.0)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall,
            "f1": ratio(2 * precision * recall, precision + recall), "iou": ratio(tp, tp + fp + fn),
            "accuracy": observed, "kappa": kappa}
