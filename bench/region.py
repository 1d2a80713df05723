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
                           [--infer-options "--device cuda --precision fp16"] [--piped]

A 5657 x 5657 px scene has the 32 Mpx of a PlanetScope scene of about 8000 x 4000 px.
Models default to the demo's two (ResNet-18 UNet++, 512 px tiles).

``--piped`` runs ``rts-prep | rts-infer | rts-ensemble`` as one pipeline instead (the
region's scenes through the first three stages, as a GPU node runs them): each output
line is timestamped as it leaves its stage, so a stage's busy time is the sum over
scenes of the time from when the scene reached it (or the stage finished the one before)
to when it left; rts-ensemble groups a run's rasters by scene, so it starts when
rts-infer has ended. Prints scenes per hour of the whole pipeline, each stage's Mpx/s
of busy time, the bounding stage, and on a GPU the share of the inference stage's
lifetime the GPU was busy (nvidia-smi).
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


def scene_of(line: str) -> str:
    """The scene id of an output path (the file name up to its first dot)."""
    return Path(line.strip()).name.split(".")[0]


def piped(commands: list[tuple[str, list[str], bool]], paths: list[Path]) -> tuple[float, list[dict], object]:
    """Run ``commands`` (name, argv, streams: whether it starts on each input as it
    arrives) as one pipeline fed ``paths``; the wall seconds, per stage its output time
    per scene, and the GPU sampler of the inference stage."""
    import threading

    from _child import GpuSampler

    start = time.perf_counter()
    processes = []
    times: list[dict] = [{} for _ in commands]
    for _, argv, _ in commands:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        processes.append(process)

    def relay(number: int) -> None:
        """Timestamp each line of stage ``number`` and hand it to the next stage."""
        source = processes[number].stdout
        target = processes[number + 1].stdin if number + 1 < len(processes) else None
        for line in source:
            times[number][scene_of(line)] = time.perf_counter() - start
            if target is not None:
                target.write(line)
                target.flush()
        if target is not None:
            target.close()

    relays = [threading.Thread(target=relay, args=(n,), daemon=True) for n in range(len(processes))]
    for thread in relays:
        thread.start()
    sampler = GpuSampler()
    with sampler:
        first = processes[0].stdin
        first.write("".join(f"{path}\n" for path in paths))
        first.close()
        for thread in relays:
            thread.join()
        codes = [process.wait() for process in processes]
    if any(codes):
        raise SystemExit(f"the pipeline failed: exit statuses {codes}")
    return time.perf_counter() - start, times, sampler


def busy_seconds(times: list[dict], streams: list[bool], scenes: list[str]) -> list[float]:
    """Each stage's busy time: for each scene, from when it reached the stage (or the
    stage finished the scene before, whichever was later) to when it left."""
    busy = []
    for number, stage_times in enumerate(times):
        total, free = 0.0, 0.0
        upstream = times[number - 1] if number else {}
        everything = max(upstream.values()) if upstream else 0.0
        for scene in scenes:
            if scene not in stage_times:
                continue
            arrived = (upstream.get(scene, 0.0) if streams[number] else everything) if number else 0.0
            total += stage_times[scene] - max(arrived, free)
            free = stage_times[scene]
        busy.append(total)
    return busy


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
    parser.add_argument("--infer-options", default="", help='rts-infer options, e.g. "--device cuda --precision fp16"')
    parser.add_argument("--piped", action="store_true", help="rts-prep | rts-infer | rts-ensemble as one pipeline")
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
    if args.piped:
        return report_piped(args, models, scenes, run, aux, megapixels)
    rows: list[dict] = []
    start = time.perf_counter()
    stage("prep", f"{BIN}/rts-prep -q - --dem {aux}/dem.tif --tcvis {aux}/tcvis.tif --landcover "
                  f"{aux}/landcover.tif -o {run}/stacks < {run}/scenes.txt > {run}/stacks.txt", rows, megapixels)
    model_options = " ".join(f"--model {m}" for m in models)
    stage("infer", f"{BIN}/rts-infer -q - {model_options} {args.infer_options} -o {run}/probs < {run}/stacks.txt "
                   f"> {run}/probs.txt", rows, megapixels)
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


def report_piped(args, models: list[Path], scenes: list[Path], run: Path, aux: Path, megapixels: float) -> None:
    import shlex

    commands = [
        ("prep", [str(BIN / "rts-prep"), "-q", "-", "--dem", str(aux / "dem.tif"), "--tcvis", str(aux / "tcvis.tif"),
                  "--landcover", str(aux / "landcover.tif"), "-o", str(run / "stacks")], True),
        ("infer", [str(BIN / "rts-infer"), "-q", "-", *(f"--model={m}" for m in models),
                   *shlex.split(args.infer_options), "-o", str(run / "probs")], True),
        ("ensemble", [str(BIN / "rts-ensemble"), "-q", "-", "--water", str(aux / "landcover.tif"),
                      "-o", str(run / "level1")], False),
    ]
    wall, times, sampler = piped(commands, scenes)
    ids = [path.parent.name for path in scenes]
    busy = busy_seconds(times, [streams for _, _, streams in commands], ids)
    print(f"{args.scenes} scenes of {args.size} x {args.size} px ({megapixels:.0f} Mpx), piped rts-prep | rts-infer "
          f"{args.infer_options} | rts-ensemble, {len(models)} model(s): {', '.join(m.name for m in models)}; "
          f"{os.cpu_count()} cores")
    print(f"{'stage':<10} {'busy s':>8} {'Mpx/s':>8} {'scenes/h':>9}")
    for (name, _, _), seconds in zip(commands, busy, strict=True):
        print(f"{name:<10} {seconds:>8.1f} {megapixels / seconds:>8.2f} {3600 * args.scenes / seconds:>9.0f}")
    bound = max(range(len(busy)), key=busy.__getitem__)
    print(f"{'pipeline':<10} {wall:>8.1f} {megapixels / wall:>8.2f} {3600 * args.scenes / wall:>9.0f}")
    gpu = f"; GPU busy {100 * sampler.busy:.0f} % of the pipeline's run" if sampler.busy is not None else ""
    print(f"bounded by {commands[bound][0]} ({busy[bound]:.1f} s busy of {wall:.1f} s){gpu}")


if __name__ == "__main__":
    main()
