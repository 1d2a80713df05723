"""A region-year as users run it: PlanetScope-sized scenes through rts-prep, rts-infer
(on the CPU here), rts-ensemble, rts-aggregate and rts-validate, each stage over all
scenes in one call, as the Makefile's pipeline runs them. Prints per stage the seconds,
the scene megapixels per second, the peak memory (RSS of the process and its workers
together) and which stage bounds the run.

The scenes are acquisitions of one synthetic world (rts-synth, with truth): ``--distinct``
scenes are generated and each is acquired again on other dates of the summer (its files
linked under new scene ids, the metadata's date changed), as a region is revisited
through a season. Generating them is not timed.

    python bench/region.py [--scenes 20] [--size 5657] [--distinct 2] [--model M ...] [--work DIR]

A 5657 x 5657 px scene has the 32 Mpx of a PlanetScope scene of about 8000 x 4000 px.
Models default to the demo's two (ResNet-18 UNet++, 512 px tiles).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas
from _child import measured_tree

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
YEAR = 2023


def world(folder: Path, distinct: int, size: int) -> list[Path]:
    """``distinct`` synthetic scenes of ``size`` px (kept between runs in ``folder``)."""
    if not (folder / "scenes.csv").exists():
        print(f"generating {distinct} scene(s) of {size} px with rts-synth in {folder} ...", file=sys.stderr)
        subprocess.run([str(BIN / "rts-synth"), "-q", "-o", str(folder), "--scenes", str(distinct), "--size",
                        str(size), "--years", str(YEAR), "--seed", "3",
                        "--labels", str(ROOT / "data" / "rts_labels_sample.gpkg")],
                       check=True, stdout=subprocess.DEVNULL)
    table = pandas.read_csv(folder / "scenes.csv")
    return [folder / path for path in table["sr_path"]]


def acquisitions(sources: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` scenes: the sources acquired again on other summer dates (hard links)."""
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for index in range(count):
        source = sources[index % len(sources)]
        source_id = source.parent.name
        acquired = pandas.Timestamp(f"{YEAR}-06-10T20:00:00Z") + pandas.Timedelta(days=4 * index, minutes=index)
        scene_id = f"{acquired:%Y%m%d_%H%M%S}_{index % 100:02d}_{source_id.rsplit('_', 1)[1]}"
        target = folder / scene_id
        target.mkdir(exist_ok=True)
        for kind in ("3B_AnalyticMS_SR.tif", "3B_udm2.tif"):
            link = target / f"{scene_id}_{kind}"
            if not link.exists():
                os.link(source.parent / f"{source_id}_{kind}", link)
        metadata = json.loads((source.parent / f"{source_id}_metadata.json").read_text())
        metadata["id"] = scene_id
        metadata["properties"]["acquired"] = f"{acquired:%Y-%m-%dT%H:%M:%S.000000Z}"
        (target / f"{scene_id}_metadata.json").write_text(json.dumps(metadata))
        scenes.append(target / f"{scene_id}_3B_AnalyticMS_SR.tif")
    return scenes


def stage(name: str, command: str, rows: list, megapixels: float) -> str:
    """Run one stage (a shell command reading paths on stdin) and record its figures."""
    print(f"{name} ...", file=sys.stderr, flush=True)
    seconds, peak, output = measured_tree(["bash", "-o", "pipefail", "-c", command])
    rows.append({"stage": name, "seconds": seconds, "Mpx/s": megapixels / seconds, "peak MB": peak})
    return output


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--size", type=int, default=5657, help="scene width and height, px")
    parser.add_argument("--distinct", type=int, default=2, help="scenes generated; the others are re-acquisitions")
    parser.add_argument("--model", action="append", type=Path,
                        help="ONNX model (repeatable; default: models/demo/tcvis.onnx and notcvis.onnx)")
    parser.add_argument("--work", type=Path, help="keep the world here between runs (default: a temporary folder)")
    args = parser.parse_args()
    models = args.model or [ROOT / "models" / "demo" / "tcvis.onnx", ROOT / "models" / "demo" / "notcvis.onnx"]
    work = args.work or Path(tempfile.mkdtemp(prefix="rts-bench-region-"))
    synth = work / f"world{args.size}x{args.distinct}"
    scenes = acquisitions(world(synth, args.distinct, args.size), args.scenes, work / "scenes")
    run = work / "run"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    run.mkdir(parents=True)
    (run / "scenes.txt").write_text("\n".join(map(str, scenes)) + "\n")
    megapixels = args.scenes * args.size * args.size / 1e6
    aux = synth / "aux"
    rows: list[dict] = []
    start = time.perf_counter()
    stage("prep", f"{BIN}/rts-prep -q - --dem {aux}/dem.tif --tcvis {aux}/tcvis.tif --landcover "
                  f"{aux}/landcover.tif -o {run}/stacks < {run}/scenes.txt > {run}/stacks.txt", rows, megapixels)
    model_options = " ".join(f"--model {m}" for m in models)
    stage("infer", f"{BIN}/rts-infer -q - {model_options} -o {run}/probs < {run}/stacks.txt > {run}/probs.txt",
          rows, megapixels)
    stage("ensemble", f"{BIN}/rts-ensemble -q - --water {aux}/landcover.tif -o {run}/level1 < {run}/probs.txt "
                      f"> {run}/level1.txt", rows, megapixels)
    stage("aggregate", f"{BIN}/rts-aggregate -q - -o {run}/products < {run}/level1.txt > {run}/products.txt",
          rows, megapixels)
    coverage = " ".join(f"--coverage {p.replace('.l1.parquet', '.extent.parquet')}"
                        for p in (run / "level1.txt").read_text().split())
    stage("validate", f"{BIN}/rts-validate objects -q - {synth}/truth/rts.parquet --group-by year {coverage} "
                      f"-o {run}/validation < {run}/level1.txt > {run}/validation.txt", rows, megapixels)
    total = time.perf_counter() - start
    table = pandas.DataFrame(rows)
    metrics = json.loads((run / "validation" / "metrics.json").read_text())
    overall = metrics.get("overall", metrics)
    level1 = sum(len(pandas.read_parquet(p, columns=["scene_id"])) for p in (run / "level1.txt").read_text().split())
    print(f"{args.scenes} scenes of {args.size} x {args.size} px ({megapixels:.0f} Mpx; {args.distinct} distinct, "
          f"the others re-acquired), {len(models)} model(s): {', '.join(m.name for m in models)}; "
          f"{os.cpu_count()} cores")
    print(f"{'stage':<10} {'seconds':>8} {'Mpx/s':>8} {'peak MB':>8} {'share':>6}")
    for row in rows:
        print(f"{row['stage']:<10} {row['seconds']:>8.1f} {row['Mpx/s']:>8.2f} {row['peak MB']:>8.0f} "
              f"{row['seconds'] / total:>6.0%}")
    bound = table.loc[table["seconds"].idxmax()]
    print(f"{'total':<10} {total:>8.1f} {megapixels / total:>8.2f} {table['peak MB'].max():>8.0f}")
    print(f"bounded by {bound['stage']} ({bound['seconds'] / total:.0%} of the wall time); "
          f"{level1} Level-1 features; object F1 {overall.get('f1', float('nan')):.2f} against the truth")


if __name__ == "__main__":
    main()
