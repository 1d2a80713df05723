"""Do two runs of the chain hold the same products? Used by the piping, Snakemake,
crash-and-resume and container tests, and by `make test-images`:

    python -m tests.e2e.compare_products RUN_A RUN_B

Compares every aggregated product (rows, attributes, geometries), every Level-1 file
and, where both have one, the validation metrics. File bytes may differ (GeoParquet
metadata carries no timestamps, but row groups may be laid out differently); contents
may not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rts_core.contract import PRODUCTS


def _frames_equal(a, b, name: str) -> list[str]:
    import shapely

    problems = []
    if list(a.columns) != list(b.columns):
        return [f"{name}: columns {list(a.columns)} != {list(b.columns)}"]
    if len(a) != len(b):
        return [f"{name}: {len(a)} rows != {len(b)} rows"]
    attributes = [c for c in a.columns if c != a.geometry.name]
    left = a.sort_values(attributes, kind="stable").reset_index(drop=True) if attributes else a
    right = b.sort_values(attributes, kind="stable").reset_index(drop=True) if attributes else b
    for column in attributes:
        if not left[column].equals(right[column]):
            problems.append(f"{name}: column {column} differs")
    same = shapely.equals_exact(shapely.normalize(left.geometry.values), shapely.normalize(right.geometry.values),
                                tolerance=1e-9)
    if not same.all():
        problems.append(f"{name}: {int((~same).sum())} geometries differ")
    return problems


def differences(run_a: Path, run_b: Path) -> list[str]:
    """What differs between the products of two runs (empty: the same)."""
    import geopandas

    problems = []
    for name in PRODUCTS:
        path_a, path_b = run_a / "products" / f"{name}.parquet", run_b / "products" / f"{name}.parquet"
        if not path_a.exists() or not path_b.exists():
            problems.append(f"{name}: missing in {run_a if not path_a.exists() else run_b}")
            continue
        problems += _frames_equal(geopandas.read_parquet(path_a), geopandas.read_parquet(path_b), name)
    level1_a = sorted(p.name for p in (run_a / "level1").glob("*.l1.parquet"))
    level1_b = sorted(p.name for p in (run_b / "level1").glob("*.l1.parquet"))
    if level1_a != level1_b:
        problems.append(f"level1 files differ: {len(level1_a)} vs {len(level1_b)}")
    else:
        for name in level1_a:
            problems += _frames_equal(geopandas.read_parquet(run_a / "level1" / name),
                                      geopandas.read_parquet(run_b / "level1" / name), name)
    metrics_a, metrics_b = run_a / "validation" / "metrics.json", run_b / "validation" / "metrics.json"
    if metrics_a.exists() and metrics_b.exists():
        a, b = (json.loads(p.read_text()) for p in (metrics_a, metrics_b))
        for key in ("overall", "groups", "summary"):
            if a[key] != b[key]:
                problems.append(f"validation {key} differs")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = differences(Path(argv[0]), Path(argv[1]))
    for problem in problems:
        print(f"differs: {problem}", file=sys.stderr)
    if not problems:
        print(f"{argv[0]} and {argv[1]} hold the same products", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
