"""The demo world's figures, from the runs `make demo-report` made.

    python workflow/demo_report.py coverage DEMO_DIR      # writes DEMO_DIR/report/test_extent.parquet
    python workflow/demo_report.py summary DEMO_DIR       # prints and writes DEMO_DIR/report/report.md

``coverage``: the valid extents of the held-apart scenes with their region (from the
synth truth), so that rts-validate scores per region, RTS-free regions included.
``summary``: the DARTS recipe's object scores per region (matched within each year), its false-positive anatomy
beside DARTS' Table 5, and the two ablations (a single model instead of the ensemble;
the single model trained without the RTS-free region).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# DARTS preprint, Table 5: 1,513 manually classified false positives, share by class.
DARTS_TABLE_5 = {"bare ground": 0.64, "lakes": 0.08, "rivers": 0.07, "other": 0.05, "periglacial landforms": 0.04,
                 "sea": 0.03, "vegetation": 0.02}
# rts-synth's anatomy classes in DARTS' classes
AS_DARTS = {"bare ground": "bare ground", "lake": "lakes", "river": "rivers", "sea": "sea",
            "vegetation": "vegetation", "ALD": "periglacial landforms", "old scar": "periglacial landforms",
            "infrastructure": "other", "slump": "other"}
RUNS = {"ensemble": "the DARTS recipe: tcvis + notcvis ensemble", "single": "one model (tcvis) instead of the ensemble",
        "without_rts_free": "one model (tcvis) trained without the RTS-free region"}


def coverage(demo: Path) -> Path:
    import geopandas

    extent = geopandas.read_parquet(demo / "world" / "truth" / "extent.parquet")
    test = extent[extent["split"] == "test"][["scene_id", "region", "year", "geometry"]]
    out = demo / "report" / "test_extent.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    test.to_parquet(out)
    return out


def per_region(groups: list[dict]) -> dict:
    """Scores per region from rts-validate's groups by region and year (a detection
    matches a slump of its own scene's year only), counts summed over the years."""
    totals: dict = {}
    for group in groups:
        total = totals.setdefault(group["group"]["region"], {"n_pred": 0, "n_ref": 0, "tp": 0, "tp_ref": 0})
        for key in total:
            total[key] += group[key]
    for total in totals.values():
        precision = total["tp"] / total["n_pred"] if total["n_pred"] else 0.0
        recall = total["tp_ref"] / total["n_ref"] if total["n_ref"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        total.update(precision=precision, recall=recall, f1=f1)
    return dict(sorted(totals.items()))


def summary(demo: Path) -> str:
    runs = {name: json.loads((demo / "report" / name / "metrics.json").read_text())
            for name in RUNS if (demo / "report" / name / "metrics.json").exists()}
    ensemble = runs["ensemble"]
    lines = ["# The demo world: what the DARTS recipe gets right and wrong", "",
             "## Object scores on the held-apart regions (intersect, as DARTS)", "",
             "| region | precision | recall | F1 | predictions | true slumps |",
             "| --- | --- | --- | --- | --- | --- |"]
    for region, group in per_region(ensemble["groups"]).items():
        lines.append(f"| {region} | {group['precision']:.2f} | {group['recall']:.2f} | "
                     f"{group['f1']:.2f} | {group['n_pred']} | {group['n_ref']} |")
    overall = ensemble["overall"]
    lines.append(f"| all | {overall['precision']:.2f} | {overall['recall']:.2f} | {overall['f1']:.2f} | "
                 f"{overall['n_pred']} | {overall['n_ref']} |")
    shares: dict[str, float] = {}
    counts: dict[str, int] = {}
    parts: dict[str, list[str]] = {}  # the world's classes in each of DARTS' classes
    for row in ensemble.get("anatomy", {}).get("false_positives", {}).get("by_landcover", []):
        darts = AS_DARTS.get(row["class"], "other")
        shares[darts] = shares.get(darts, 0.0) + row["share"]
        counts[darts] = counts.get(darts, 0) + row["count"]
        parts.setdefault(darts, []).append(f"{row['class']} {row['count']}")
    lines += ["", "## False positives by class, beside DARTS (preprint, Table 5)", "",
              "| class | here | count | DARTS | in this world |", "| --- | --- | --- | --- | --- |"]
    for name in sorted(set(DARTS_TABLE_5) | set(shares), key=lambda n: -DARTS_TABLE_5.get(n, 0)):
        lines.append(f"| {name} | {100 * shares.get(name, 0):.0f} % | {counts.get(name, 0)} | "
                     f"{100 * DARTS_TABLE_5.get(name, 0):.0f} % | {', '.join(parts.get(name, []))} |")
    lines += ["", "## Ablations on the same world", "", "| run | precision | recall | F1 |",
              "| --- | --- | --- | --- |"]
    for name, title in RUNS.items():
        if name in runs:
            o = runs[name]["overall"]
            lines.append(f"| {title} | {o['precision']:.2f} | {o['recall']:.2f} | {o['f1']:.2f} |")
    text = "\n".join(lines) + "\n"
    (demo / "report" / "report.md").write_text(text)
    return text


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "coverage":
        print(coverage(folder))
    elif command == "summary":
        print(summary(folder))
    else:
        sys.exit(f"unknown command {command!r}: coverage or summary")
