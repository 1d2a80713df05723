"""metrics.json, metrics.csv, report.md and its charts (CONTRACT.md section 6).

Each file is written atomically; report.md links the PNGs written beside it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from rts_core import atomic
from rts_core.crs import metric_crs

from .matching import INSTANCE_KEYS, OBJECT_KEYS
from .pixels import PIXEL_KEYS

MAP_MAX_FEATURES = 5000  # above this a map of every polygon is unreadable and slow
COLOURS = {"tp": "#1a9850", "fp": "#d73027", "tp_ref": "#91bfdb", "fn": "#fc8d59"}


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def score_keys(metrics: dict) -> tuple[str, ...]:
    if metrics["mode"] in ("pixels", "threshold"):
        return PIXEL_KEYS
    if metrics["mode"] == "compare":
        return tuple(k for k in dict.fromkeys((*OBJECT_KEYS, *PIXEL_KEYS, *INSTANCE_KEYS))
                     if any(k in run for run in metrics["runs"]) and k not in ("tp", "fp", "fn", "tn", "tp_ref"))
    return OBJECT_KEYS


def metrics_rows(metrics: dict) -> tuple[list[str], list[dict]]:
    """The CSV rows: ``overall`` first, then one row per group (objects, pixels), per
    size class (objects), per threshold (threshold) or per run (compare)."""
    keys = score_keys(metrics)
    if metrics["mode"] == "threshold":
        return ["threshold", *keys], list(metrics["thresholds"])
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


def write_chart(path: Path, metrics: dict) -> None:
    """Precision, recall and F1 per group as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    groups = metrics["groups"]
    labels = [", ".join(f"{v}" for v in g["group"].values()) for g in groups]
    figure, axes = pyplot.subplots(figsize=(max(5, 0.9 * len(groups) + 2), 3.6), dpi=110)
    width = 0.27
    for offset, key, colour in ((-width, "precision", "#4575b4"), (0, "recall", "#fdae61"), (width, "f1", "#1a9850")):
        axes.bar([i + offset for i in range(len(groups))], [g[key] for g in groups], width, label=key, color=colour)
    axes.set_xticks(range(len(groups)), labels, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6
                    else "center")
    axes.set_ylim(0, 1.15)
    axes.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_ylabel("score")
    axes.set_title(f"{metrics['mode']} validation per {', '.join(groups[0]['group'])}")
    axes.legend(loc="upper center", fontsize="small", ncols=3, frameon=False)
    figure.tight_layout()
    atomic.write_figure(path, figure)


def write_map(path: Path, counted) -> None:
    """True positives, false positives, detected and missed references (the counted
    rows of matches.parquet) on one map."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    if counted.crs is not None and counted.crs.is_geographic and len(counted):
        counted = counted.to_crs(metric_crs(counted))
    figure, axes = pyplot.subplots(figsize=(7, 7), dpi=110)
    labels = {"tp": "true prediction", "fp": "false prediction", "tp_ref": "reference found", "fn": "reference missed"}
    for status in ("tp_ref", "fn", "tp", "fp"):  # references under predictions
        part = counted[counted["status"] == status]
        if len(part):
            filled = status in ("tp_ref", "fn")
            part.plot(ax=axes, facecolor=COLOURS[status] if filled else "none", edgecolor=COLOURS[status],
                      linewidth=0.8, alpha=0.7 if filled else 1.0)
    axes.legend(handles=[Patch(facecolor=COLOURS[s], label=labels[s]) for s in labels], loc="best", fontsize="small")
    axes.set_axis_off()
    figure.tight_layout()
    atomic.write_figure(path, figure)


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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def write_threshold_chart(path: Path, metrics: dict) -> None:
    """Precision, recall, F1 and IoU against the threshold, the best marked."""
    pyplot = _pyplot()

    rows = metrics["thresholds"]
    figure, axes = pyplot.subplots(figsize=(6, 3.6), dpi=110)
    thresholds = [r["threshold"] for r in rows]
    for key in ("precision", "recall", "f1", "iou"):
        axes.plot(thresholds, [r[key] for r in rows], marker=".", label=key)
    axes.axvline(metrics["overall"]["threshold"], color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlabel("threshold (positive: p > threshold)")
    axes.set_ylim(0, 1.02)
    axes.legend(fontsize="small")
    figure.tight_layout()
    atomic.write_figure(path, figure)


def write_compare_chart(path: Path, metrics: dict) -> None:
    """Precision, recall and F1 (and PQ, where the runs have it) of each run as grouped
    bars; the best run's name in bold."""
    pyplot = _pyplot()

    runs = metrics["runs"]
    keys = ["precision", "recall", "f1"] + (["pq"] if any("pq" in r for r in runs) else [])
    width = 0.8 / len(keys)
    figure, axes = pyplot.subplots(figsize=(max(5, 0.9 * len(runs) + 2), 3.6), dpi=110)
    x = np.arange(len(runs))
    for index, key in enumerate(keys):
        axes.bar(x + (index - (len(keys) - 1) / 2) * width, [r.get(key) or 0 for r in runs], width, label=key)
    axes.set_xticks(x, [r["run"] for r in runs], rotation=30, ha="right", fontsize="small")
    for label, run in zip(axes.get_xticklabels(), runs, strict=True):
        label.set_fontweight("bold" if run["run"] == metrics["best"] else "normal")
    axes.set_ylim(0, 1.1)
    axes.legend(fontsize="small", ncols=len(keys))
    figure.tight_layout()
    atomic.write_figure(path, figure)


def write_anatomy_chart(path: Path, anatomy: dict) -> None:
    """False predictions and missed references by land-cover class."""
    pyplot = _pyplot()

    figure, panels = pyplot.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    for panel, (side, title) in zip(panels, (("false_positives", "false predictions"),
                                             ("missed_references", "missed references")), strict=True):
        table = anatomy[side]["by_landcover"]
        panel.barh([r["class"] for r in table], [r["count"] for r in table], color="#d73027" if side.startswith(
            "false") else "#fc8d59")
        panel.set_title(f"{title} by land cover", fontsize="medium")
        panel.invert_yaxis()
    figure.tight_layout()
    atomic.write_figure(path, figure)


OUTPUT_NAMES = ("metrics.json", "metrics.csv", "report.md", "matches.parquet", "scores.png", "map.png",
                "threshold.png", "compare.png", "anatomy.png")


def write_all(out: Path, metrics: dict, inputs: dict, matches=None) -> list[Path]:
    """Every output of one validation; returns their paths (metrics.json first). If any
    write fails, none of the outputs is left behind."""
    try:
        return _write_all(out, metrics, inputs, matches)
    except BaseException:
        atomic.remove_quietly(*(out / name for name in OUTPUT_NAMES))
        raise


def _write_all(out: Path, metrics: dict, inputs: dict, matches=None) -> list[Path]:
    from rts_core.vector import write_geoparquet

    out.mkdir(parents=True, exist_ok=True)
    atomic.remove_quietly(*(out / name for name in OUTPUT_NAMES))  # no chart or map of an earlier run stays
    written = [out / "metrics.json", out / "metrics.csv", out / "report.md"]
    images = []
    if metrics["groups"]:
        write_chart(out / "scores.png", metrics)
        images.append("scores.png")
    if metrics["mode"] == "threshold":
        write_threshold_chart(out / "threshold.png", metrics)
        images.append("threshold.png")
    if metrics["mode"] == "compare":
        write_compare_chart(out / "compare.png", metrics)
        images.append("compare.png")
    if metrics.get("anatomy"):
        write_anatomy_chart(out / "anatomy.png", metrics["anatomy"])
        images.append("anatomy.png")
    if matches is not None:
        counted = matches[matches["status"].isin(list(COLOURS))]
        if 0 < len(counted) <= MAP_MAX_FEATURES:
            write_map(out / "map.png", counted)
            images.append("map.png")
        write_geoparquet(matches if matches.crs is not None else matches.set_crs("EPSG:4326"),
                         out / "matches.parquet")
        written.append(out / "matches.parquet")
    written += [out / image for image in images]
    write_csv(out / "metrics.csv", metrics)
    write_markdown(out / "report.md", metrics, inputs, images)
    # last: metrics.json lists every output and its presence vouches for them
    write_json(out / "metrics.json", {**metrics, "outputs": [str(p) for p in written]})
    return written
