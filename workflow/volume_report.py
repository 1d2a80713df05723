"""The demo's volume figures, from the runs `make demo-volume` made (issue #32).

    python workflow/volume_report.py outlines DEMO_DIR   # writes DEMO_DIR/volume/truth_outlines.parquet
    python workflow/volume_report.py summary DEMO_DIR    # prints and writes DEMO_DIR/volume/report.md

``outlines``: each true slump's final outline, with its site id as ``id``: measuring these
shows the method's own error, apart from the detections'.
``summary``: rts-volume's volume change per slump and pair of DEM strips against the
truth (``world/truth/volume.parquet``), for three runs: the chain's tracks, the true
outlines, and the true outlines without co-registration. A track is compared with the
one true slump it overlaps (tracks overlapping several slumps, or none, are left out).
Printed: per run, the median and 90th percentile of the relative error for slumps of at
least 1 ha, the share within 10 %, and how often the reported 1-sigma covers the error.
"""

from __future__ import annotations

import sys
from pathlib import Path

RUNS = {"tracks": "the chain's tracks (detections over all years)", "outlines": "the true slump outlines",
        "raw": "the true outlines, without co-registration"}
MIN_AREA_M2 = 10_000.0


def outlines(demo: Path) -> Path:
    import geopandas

    rts = geopandas.read_parquet(demo / "world" / "truth" / "features.parquet")
    slumps = rts[rts["kind"] == "slump"][["feature_id", "geometry"]].rename(columns={"feature_id": "id"})
    out = demo / "volume" / "truth_outlines.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    slumps.to_parquet(out)
    return out


def compared(demo: Path, run: str):
    """The run's rows joined to the truth: one row per slump and pair."""
    import geopandas
    import pandas

    truth = geopandas.read_parquet(demo / "world" / "truth" / "volume.parquet")
    measured = geopandas.read_parquet(demo / "volume" / run / "volume.parquet")
    for frame in (truth, measured):
        for column in ("date_before", "date_after"):
            frame[column] = pandas.to_datetime(frame[column]).dt.date
    if run == "tracks":  # each track with the one slump it overlaps
        outlines = truth.drop_duplicates("site_id")[["site_id", "geometry"]].to_crs(measured.crs)
        tracks = measured.drop_duplicates("feature_id")[["feature_id", "geometry"]]
        hits = geopandas.sjoin(tracks, outlines, predicate="intersects")
        single = hits.groupby("feature_id")["site_id"].transform("size").eq(1) & \
            hits.groupby("site_id")["feature_id"].transform("size").eq(1)
        key = hits[single].set_index("feature_id")["site_id"]
        measured = measured[measured["feature_id"].isin(key.index)].copy()
        measured["site_id"] = measured["feature_id"].map(key)
    else:
        measured["site_id"] = measured["feature_id"]
    joined = measured.drop(columns="geometry").merge(truth.drop(columns="geometry"),
                                                     on=["site_id", "date_before", "date_after"],
                                                     suffixes=("", "_true"))
    joined = joined[(joined["area_m2_true"] >= MIN_AREA_M2) & (joined["volume_change_m3_true"] < 0)]
    joined = joined.dropna(subset=["volume_change_m3"])
    joined["error_m3"] = joined["volume_change_m3"] - joined["volume_change_m3_true"]
    joined["relative_error"] = joined["error_m3"].abs() / joined["volume_change_m3_true"].abs()
    joined["within_1_sigma"] = joined["error_m3"].abs() <= joined["volume_change_sigma_m3"]
    return joined


def summary(demo: Path) -> str:
    lines = ["# Volume change against the truth (make demo-volume)", "",
             f"Slumps of at least {MIN_AREA_M2 / 1e4:g} ha that lost ground, every pair of DEM strips.", "",
             "| run | rows | median error | 90th percentile | within 10 % | 1-sigma covers the error |",
             "| --- | --- | --- | --- | --- | --- |"]
    per_slump = []
    for run, label in RUNS.items():
        if not (demo / "volume" / run / "volume.parquet").exists():
            continue
        rows = compared(demo, run)
        if not len(rows):
            lines.append(f"| {label} | 0 | | | | |")
            continue
        lines.append(f"| {label} | {len(rows)} | {rows['relative_error'].median():.1%} | "
                     f"{rows['relative_error'].quantile(0.9):.1%} | {(rows['relative_error'] <= 0.10).mean():.0%} | "
                     f"{rows['within_1_sigma'].mean():.0%} |")
        if run == "tracks":
            per_slump = rows
    lines += ["", "Per slump (the chain's tracks):", "",
              "| slump | track | dates | true (m³) | measured (m³) | 1-sigma (m³) | error |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in (per_slump.itertuples() if len(per_slump) else []):
        lines.append(f"| {row.site_id} | {row.feature_id} | {row.date_before} to {row.date_after} | "
                     f"{row.volume_change_m3_true:,.0f} | {row.volume_change_m3:,.0f} | "
                     f"{row.volume_change_sigma_m3:,.0f} | {row.relative_error:.1%} |")
    text = "\n".join(lines) + "\n"
    (demo / "volume" / "report.md").write_text(text)
    return text


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "outlines":
        print(outlines(folder))
    elif command == "summary":
        text = summary(folder)
        print(text.split("\nPer slump")[0].rstrip())
        print(f"\nPer slump: {folder / 'volume' / 'report.md'}")
    else:
        sys.exit(f"unknown command {command!r}: outlines or summary")
