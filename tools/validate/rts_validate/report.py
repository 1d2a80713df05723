"""metrics.json, metrics.csv, report.md and its charts (CONTRACT.md section 6).

Each file is written atomically; report.md links the PNGs written beside it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from rts_core import atomic
from rts_core.metrics import PIXEL_KEYS

from . import charts
from .crossval import SCORES
from .matching import INSTANCE_KEYS, OBJECT_KEYS

MAP_MAX_FEATURES = 5000  # above this a map of every polygon is unreadable and slow


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def score_keys(metrics: dict) -> tuple[str, ...]:
    if metrics["mode"] in ("pixels", "threshold", "crossval"):
        return PIXEL_KEYS
    if metrics["mode"] == "compare":
        return tuple(k for k in dict.fromkeys((*OBJECT_KEYS, *PIXEL_KEYS, *INSTANCE_KEYS))
                     if any(k in run for run in metrics["runs"]) and k not in ("tp", "fp", "fn", "tn", "tp_ref"))
    return OBJECT_KEYS


def metrics_rows(metrics: dict) -> tuple[list[str], list[dict]]:
    """The CSV rows: ``overall`` first, then one row per group (objects, pixels), per
    size class (objects), per threshold (threshold), per run (compare) or per fold, then
    each configuration's mean and standard deviation (crossval)."""
    keys = score_keys(metrics)
    if metrics["mode"] == "threshold":
        return ["threshold", *keys], list(metrics["thresholds"])
    if metrics["mode"] == "crossval":
        summary = [{"configuration": c["configuration"], "region": statistic,
                    **{k: c[f"{k}_{statistic}"] for k in SCORES}}
                   for c in metrics["configurations"] for statistic in ("mean", "std")]
        return ["configuration", "region", "best_epoch", *SCORES, "n_pred", "n_ref"], metrics["folds"] + summary
    if metrics["mode"] == "compare":
        columns = ["run", "mode", *keys]
        for row in metrics["runs"]:
            columns += [c for c in row if c not in columns]
        return columns, list(metrics["runs"])
    group_columns: list[str] = []
    for group in metrics["groups"]:
        group_columns += [c for c in group["group"] if c not in group_columns]
    rows = [{"scope": "overall", **{c: "" for c in group_columns}, **{k: metrics["overall"][k] for k in keys}}]
    for group in metrics["groups"]:
        rows.append({"scope": "group", **{c: group["group"].get(c, "") for c in group_columns},
                     **{k: group[k] for k in keys}})
    extra = list(INSTANCE_KEYS) if metrics.get("instance") else []
    if extra:
        rows[0].update(metrics["instance"])
    for size in metrics.get("by_size", []):
        rows.append({"scope": f"size {size['size_class']}", **{k: size.get(k, "") for k in (*keys, *extra)}})
    return ["scope", *group_columns, *keys, *extra], rows


def write_json(path: Path, metrics: dict) -> None:
    atomic.write_text(path, json.dumps(metrics, indent=1, allow_nan=False, default=_json_default) + "\n")


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def write_csv(path: Path, metrics: dict) -> None:
    columns, rows = metrics_rows(metrics)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def _table(columns: list[str], rows: list[dict]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_number(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _crossval_tables(metrics: dict) -> list[str]:
    """The summary (mean ± sample standard deviation across held-out regions per
    configuration) and, as the paper's Table 5, one score per region and configuration."""
    configurations = [c["configuration"] for c in metrics["configurations"]]
    text = [f"Best configuration by mean pixel IoU: **{metrics['best']}**", "",
            "Pixel scores: the best epoch of rts-train fit on the held-out region; object scores: "
            "rts-validate objects of its Level 1 there.", "",
            "| configuration | regions | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
    for row in metrics["configurations"]:
        text.append(f"| {row['configuration']} | {row['n_regions']} | " + " | ".join(
            f"{row[k + '_mean']:.3f} ± {row[k + '_std']:.3f}" for k in SCORES) + " |")
    regions = list(dict.fromkeys(f["region"] for f in metrics["folds"]))
    for key, title in (("pixel_iou", "Pixel IoU"), ("object_f1", "Object F1")):
        score = {(f["configuration"], f["region"]): f[key] for f in metrics["folds"]}
        text += ["", f"### {title} per held-out region", "", "| region | " + " | ".join(configurations) + " |",
                 "|---|" + "---|" * len(configurations)]
        text += [f"| {region} | " + " | ".join(_number(score.get((c, region))) for c in configurations) + " |"
                 for region in regions]
    return [*text, ""]


def write_markdown(path: Path, metrics: dict, inputs: dict, images: list[str]) -> None:
    columns, rows = metrics_rows(metrics)
    keys = score_keys(metrics)
    mode = metrics["mode"]
    text = [f"# Validation ({mode})", ""]
    text += [f"- {name}: `{value}`" for name, value in inputs.items()]
    text += [f"- {name}: `{value}`" for name, value in metrics["params"].items() if value not in (None, [], "")]
    if mode == "threshold":
        best = metrics["overall"]
        text += ["", f"Best threshold by F1: **{best['threshold']:g}** (F1 {best['f1']:.3f}, IoU {best['iou']:.3f}; "
                 "positive: p > threshold)", "", _table(columns, rows), ""]
    elif mode == "compare":
        text += ["", f"Best run by F1: **{metrics['best']}**", "", _table(columns, rows), ""]
    elif mode == "crossval":
        text += ["", *_crossval_tables(metrics)]
    else:
        text += ["", "## Overall", "", _table(list(keys), [metrics["overall"]]), ""]
    if metrics["groups"]:
        group_columns = [c for c in columns if c not in keys and c != "scope" and c not in INSTANCE_KEYS]
        text += [f"## Per group ({', '.join(group_columns)})", "",
                 _table([*group_columns, *keys], [r for r in rows if r["scope"] == "group"]), ""]
    if metrics.get("summary") and mode in ("intersect", "iou"):
        s = metrics["summary"]
        text += ["## Across groups (mean ± standard deviation)", "",
                 "| groups | precision | recall | f1 |", "|---|---|---|---|",
                 f"| {s['n_groups']} | " + " | ".join(
                     f"{_number(s[k + '_mean'])} ± {_number(s[k + '_std'])}" for k in ("precision", "recall", "f1"))
                 + " |", ""]
    if metrics.get("instance"):
        text += ["## Instance metrics (one-to-one matches)", "",
                 "Panoptic quality PQ = SQ x RQ (SQ: mean IoU of the matches, RQ: TP / (TP + FP/2 + FN/2)); "
                 f"boundary IoU of the matches in a band of {metrics['params'].get('boundary_m')} m along each "
                 "outline (Cheng et al. 2021).", "", _table(list(INSTANCE_KEYS), [metrics["instance"]]), ""]
    if metrics.get("by_size"):
        size_keys = ["size_class", "min_m2", "max_m2", *keys, *(INSTANCE_KEYS if metrics.get("instance") else ())]
        text += ["## By size class", "", "Predictions count in their own size class (precision), references in "
                 "theirs (recall); matched pairs in their reference's.", "", _table(size_keys, metrics["by_size"]), ""]
    if metrics.get("anatomy"):
        for side, title in (("false_positives", "False predictions"), ("missed_references", "Missed references")):
            for by, what in (("by_landcover", "land cover under it (majority)"), ("by_size", "size class")):
                table = metrics["anatomy"][side][by]
                if table:
                    text += [f"## {title} by {what}", "", _table(["class", "count", "share"], table), ""]
    for image in images:
        text += [f"![{Path(image).stem}]({Path(image).name})", ""]
    if mode in ("intersect", "iou"):
        text += ["Statuses in matches.parquet: `tp` true prediction, `fp` false prediction, `tp_ref` reference "
                 "found, `fn` reference missed; `outside_coverage` and `below_min_area` were not counted.", ""]
    atomic.write_text(path, "\n".join(text))


OUTPUT_NAMES = ("metrics.json", "metrics.csv", "report.md", "matches.parquet", "scores.png", "map.png",
                "threshold.png", "compare.png", "anatomy.png", "crossval.png")


def write_all(out: Path, metrics: dict, inputs: dict, matches=None) -> list[Path]:
    """Every output of one validation; returns their paths (metrics.json first). If any
    write fails, none of the outputs is left behind."""
    try:
        return _write_all(out, metrics, inputs, matches)
    except BaseException:
        atomic.remove_quietly(*(out / name for name in OUTPUT_NAMES))
        raise


def _write_all(out: Path, metrics: dict, inputs: dict, matches=None) -> list[Path]:
    from rts_core import geoparquet

    out.mkdir(parents=True, exist_ok=True)
    atomic.remove_quietly(*(out / name for name in OUTPUT_NAMES))  # no chart or map of an earlier run stays
    written = [out / "metrics.json", out / "metrics.csv", out / "report.md"]
    images = []
    if metrics["groups"]:
        charts.write_chart(out / "scores.png", metrics)
        images.append("scores.png")
    if metrics["mode"] == "threshold":
        charts.write_threshold_chart(out / "threshold.png", metrics)
        images.append("threshold.png")
    if metrics["mode"] == "compare":
        charts.write_compare_chart(out / "compare.png", metrics)
        images.append("compare.png")
    if metrics["mode"] == "crossval":
        charts.write_crossval_chart(out / "crossval.png", metrics)
        images.append("crossval.png")
    if metrics.get("anatomy"):
        charts.write_anatomy_chart(out / "anatomy.png", metrics["anatomy"])
        images.append("anatomy.png")
    if matches is not None:
        counted = matches[matches["status"].isin(list(charts.COLOURS))]
        if 0 < len(counted) <= MAP_MAX_FEATURES:
            charts.write_map(out / "map.png", counted)
            images.append("map.png")
        geoparquet.write(matches if matches.crs is not None else matches.set_crs("EPSG:4326"),
                         out / "matches.parquet")
        written.append(out / "matches.parquet")
    written += [out / image for image in images]
    write_csv(out / "metrics.csv", metrics)
    write_markdown(out / "report.md", metrics, inputs, images)
    # last: metrics.json lists every output and its presence vouches for them
    write_json(out / "metrics.json", {**metrics, "outputs": [str(p) for p in written]})
    return written
