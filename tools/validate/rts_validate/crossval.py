"""The summary of a regional cross-validation (Nitze et al. 2021, Table 5 and Figure 4):
for each configuration and held-out region, the pixel scores of the model's best epoch
on that region (what rts-train fit validated on) and the object scores of its Level 1
there (rts-validate objects); mean and sample standard deviation across regions."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np

from rts_core.contract import safe_name
from rts_core.errors import InputError

# pixel scores: the best epoch's row of rts-train's metrics.csv; object scores: metrics.json
PIXEL_SCORES = ("iou", "f1", "precision", "recall")
OBJECT_SCORES = ("precision", "recall", "f1")
SCORES = (*(f"pixel_{k}" for k in PIXEL_SCORES), *(f"object_{k}" for k in OBJECT_SCORES))


def read_fold(fold: Path) -> dict:
    """One fold folder ``<configuration>/<region>``: its scores and where they came from.
    The best epoch is the one rts-train kept (highest validation F1, the first on ties)."""
    configuration, region = safe_name(fold.parent.name, "configuration"), safe_name(fold.name, "region")
    epochs_file, objects_file = fold / "model" / "metrics.csv", fold / "validation" / "metrics.json"
    try:
        epochs = list(csv.DictReader(io.StringIO(epochs_file.read_text())))
        best = max(epochs, key=lambda row: float(row["f1"]))  # max keeps the first of equals
        pixel = {f"pixel_{k}": float(best[k]) for k in PIXEL_SCORES}
        epoch = int(best["epoch"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"no epochs of rts-train fit ({exc})", source=epochs_file) from None
    try:
        overall = json.loads(objects_file.read_text())["overall"]
        objects = {f"object_{k}": float(overall[k]) for k in OBJECT_SCORES}
        counts = {"n_pred": int(overall["n_pred"]), "n_ref": int(overall["n_ref"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"no object scores of rts-validate objects ({exc})", source=objects_file) from None
    if not all(np.isfinite(list(pixel.values()))):
        raise InputError("scores are not finite", source=epochs_file)
    return {"configuration": configuration, "region": region, "best_epoch": epoch, **pixel, **objects, **counts}


def summarise(folds: list[dict]) -> list[dict]:
    """Per configuration: the number of regions, and each score's mean and sample
    standard deviation (ddof 1; 0 for one region) across its held-out regions."""
    rows = []
    for configuration in dict.fromkeys(f["configuration"] for f in folds):
        mine = [f for f in folds if f["configuration"] == configuration]
        row = {"configuration": configuration, "n_regions": len(mine)}
        for key in SCORES:
            values = np.array([f[key] for f in mine], float)
            row[f"{key}_mean"] = float(values.mean())
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def crossval_metrics(folds: list[dict]) -> dict:
    """metrics.json of a cross-validation: the folds, the summary per configuration, and
    the best configuration by mean pixel IoU (the paper's criterion)."""
    counts = Counter((f["configuration"], f["region"]) for f in folds)
    duplicated = [fold for fold, count in counts.items() if count > 1]
    if duplicated:
        raise InputError(f"folds given twice: {sorted(duplicated)}")
    configurations = summarise(folds)
    best = max(configurations, key=lambda row: row["pixel_iou_mean"])
    overall = {"configuration": best["configuration"], "precision": best["pixel_precision_mean"],
               "recall": best["pixel_recall_mean"], "f1": best["pixel_f1_mean"], "iou": best["pixel_iou_mean"]}
    return {"mode": "crossval", "params": {"best_by": "mean pixel IoU across held-out regions",
                                           "std": "sample (ddof 1) across regions"},
            "overall": overall, "groups": [], "summary": {}, "folds": folds, "configurations": configurations,
            "best": best["configuration"]}
