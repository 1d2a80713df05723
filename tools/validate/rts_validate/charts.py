"""The PNG charts of report.md: scores per group, the map of matches, thresholds,
compared runs, error anatomy and cross-validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rts_core import atomic
from rts_core.crs import metric_crs

COLOURS = {"tp": "#1a9850", "fp": "#d73027", "tp_ref": "#91bfdb", "fn": "#fc8d59"}


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


def write_crossval_chart(path: Path, metrics: dict) -> None:
    """As Figure 4 of Nitze et al. (2021): per configuration, each held-out region's score
    as a point over the mean ± standard deviation across regions; pixel IoU and object F1."""
    pyplot = _pyplot()

    configurations = [c["configuration"] for c in metrics["configurations"]]
    regions = list(dict.fromkeys(f["region"] for f in metrics["folds"]))
    markers = "osD^v<>ph*"
    figure, panels = pyplot.subplots(1, 2, figsize=(max(7, 1.6 * len(configurations) + 3), 3.8), dpi=110,
                                     sharey=True)
    x = np.arange(len(configurations))
    for panel, key, title in zip(panels, ("pixel_iou", "object_f1"), ("pixel IoU (best epoch)", "object F1"),
                                 strict=True):
        summary = metrics["configurations"]
        panel.bar(x, [c[f"{key}_mean"] for c in summary], 0.6, yerr=[c[f"{key}_std"] for c in summary],
                  color="#d9d9d9", edgecolor="grey", capsize=4, label="mean ± sd")
        for index, region in enumerate(regions):
            scores = {f["configuration"]: f[key] for f in metrics["folds"] if f["region"] == region}
            offsets = (index - (len(regions) - 1) / 2) * 0.08
            panel.scatter(x[[configurations.index(c) for c in scores]] + offsets, list(scores.values()),
                          marker=markers[index % len(markers)], s=22, zorder=3, label=f"region {region}")
        panel.set_xticks(x, configurations, rotation=20, ha="right", fontsize="small")
        panel.set_title(title, fontsize="medium")
        panel.set_ylim(0, 1.02)
    panels[0].set_ylabel("score on the held-out region")
    panels[1].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    figure.tight_layout()
    atomic.write_figure(path, figure)
