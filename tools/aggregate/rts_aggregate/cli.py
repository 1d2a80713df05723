"""Command line of rts-aggregate: Level-1 files -> Level 2, tracks, coverage and H3."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pandas

from rts_core import atomic, cli, contract
from rts_core.runner import InputError, emit, fingerprint, report_error, up_to_date
from rts_core.vector import write_geopackage, write_geoparquet

from .inputs import extent_beside, read_extents, read_level1
from .level2 import WORK_CRS
from .products import PRODUCTS, AggregateOptions, aggregate, summary_line

log = logging.getLogger(__name__)
TOOL = "rts-aggregate"
MANIFEST = "aggregate.json"
GPKG = "rts.gpkg"


def parse_years(_ctx, _param, value: str | None) -> tuple[int, ...] | None:
    """'2021-2023' or '2019,2021' (or both mixed) -> the sorted years."""
    if not value:
        return None
    years: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in value.split(","))):
            first, _, last = part.partition("-")
            start, end = int(first), int(last or first)
            if end < start:
                raise ValueError
            years.update(range(start, end + 1))
    except ValueError:
        raise click.BadParameter(f"expected years like 2021-2023 or 2019,2021, got {value!r}") from None
    return tuple(sorted(years))


def extent_files(given: tuple[Path, ...]) -> list[Path]:
    """--extents values: files, or folders holding *.extent.parquet files."""
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            found = sorted(path.glob("*" + contract.EXTENT_SUFFIX))
            if not found:
                raise click.BadParameter(f"{path}: no *{contract.EXTENT_SUFFIX} files in this folder",
                                         param_hint="--extents")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise click.BadParameter(f"{path} does not exist", param_hint="--extents")
    return files


def planned_reads(level1_paths: list[str], extents_given: list[Path]) -> list[Path] | None:
    """The files a run reads when every input is good: the Level-1 files, the extent
    beside each (without --extents) and the --extents files. None when an input is sure
    to fail or a file would be read twice; then only loading tells what is read."""
    reads: list[Path] = []
    for path in map(Path, level1_paths):
        if path.name.endswith(contract.EXTENT_SUFFIX):
            return None
        reads.append(path)
        if not extents_given:
            try:
                reads.append(extent_beside(path))
            except InputError:
                return None
    reads += extents_given
    # one role per file: a manifest matching this set then vouches that each was read fine
    return reads if len({p.resolve() for p in reads}) == len(reads) else None


def skip(outputs: list[Path], failures: int = 0) -> None:
    log.info("products are up to date with these inputs: skipped (--overwrite recomputes)")
    emit(outputs)
    cli.exit_with(failed=bool(failures))


def load(level1_paths: list[str], extents_given: list[Path], debug: bool):
    """Read every input; returns (Level-1 frames, extent frames, paths read, failures)."""
    level1_frames, extent_frames, read, failures = [], [], [], 0
    for path in map(Path, level1_paths):
        try:
            if path.name.endswith(contract.EXTENT_SUFFIX):
                raise InputError("an extent file among the Level-1 inputs: pass extents with --extents")
            frame = read_level1(path)
            extent = None if extents_given else extent_beside(path)
            extent_frame = read_extents(extent) if extent else None
        except Exception as exc:  # noqa: BLE001 - one line per bad input
            report_error(path, exc, debug=debug)
            failures += 1
            continue
        level1_frames.append(frame)
        read.append(path)
        if extent is not None:
            extent_frames.append(extent_frame)
            read.append(extent)
    for path in extents_given:
        try:
            extent_frames.append(read_extents(path))
            read.append(path)
        except Exception as exc:  # noqa: BLE001
            report_error(path, exc, debug=debug)
            failures += 1
    return level1_frames, extent_frames, read, failures


def concat(frames):
    """One frame of all; with no rows at all, an empty one with the files' columns."""
    import geopandas

    filled = [f for f in frames if len(f)]
    if filled:
        return pandas.concat(filled, ignore_index=True)
    if frames:
        return frames[0].iloc[:0].copy()
    return geopandas.GeoDataFrame({"scene_id": [], "acquired": pandas.to_datetime([], utc=True), "year": []},
                                  geometry=[], crs=WORK_CRS)


@cli.command(TOOL, TOOL, epilog="""Examples:

\b
  rts-aggregate level1/*.l1.parquet -o products --gpkg
  rts-ensemble ... | rts-aggregate - -o products --years 2021-2023 --h3-resolution 5
  rts-aggregate old/level1.parquet --extents old/coverage_level1.parquet -o again

Each Level-1 file's extent is read from the <scene_id>.extent.parquet beside it, or
from --extents (files or folders). Writes level1, level2, tracks, coverage_level1,
coverage_level2, coverage_union, coverage_intersect and h3 as GeoParquet in EPSG:4326
(areas from the equal-area EPSG:6931), with --gpkg also rts.gpkg holding them as
layers, and prints their paths. Polygons crossing the antimeridian are split there.

A bad input (unreadable, missing columns, no CRS) is reported on one error line each
and nothing is written, since products missing scenes would understate coverage and
detections; --partial aggregates the readable inputs anyway (exit status still 1).
Rerunning with the same inputs and options skips the work (see aggregate.json).""")
@cli.paths_argument(metavar="LEVEL1...")
@cli.out_dir_option()
@click.option("--extents", "extents", multiple=True, type=click.Path(exists=False, path_type=Path),
              help="Scene extent file or folder of *.extent.parquet (repeatable); default: the file "
                   "beside each Level-1 file.")
@click.option("--h3-resolution", default=4, show_default=True, type=click.IntRange(0, 15),
              help="H3 resolution of the density grid (4: cells of about 1,770 km2).")
@click.option("--years", callback=parse_years,
              help="Years to aggregate, e.g. 2021-2023 or 2019,2021; also the range over which "
                   "coverage_intersect is taken (default: the years present).")
@click.option("--gpkg", is_flag=True, help="Also write rts.gpkg with one layer per product.")
@click.option("--partial", is_flag=True, help="Aggregate the readable inputs even if others fail.")
@cli.run_options(TOOL)
def main(paths, out, extents, h3_resolution, years, gpkg, partial, run):
    """Aggregate Level-1 footprints into Level 2, tracks, coverage and H3 products."""
    inputs = cli.expand_paths(paths)
    extents_given = extent_files(extents)
    options = AggregateOptions(years=years, h3_resolution=h3_resolution)
    outputs = [out / f"{name}.parquet" for name in PRODUCTS] + ([out / GPKG] if gpkg else [])
    manifest = out / MANIFEST
    settings = (options, cli.tool_version(TOOL))
    early = None  # the fingerprint before loading, from file sizes and times alone
    if not run.overwrite and (planned := planned_reads(inputs, extents_given)) is not None:
        try:
            early = fingerprint(planned, *settings)
        except OSError:  # a missing input: loading reports it
            pass
        if early and up_to_date(manifest, early, outputs):
            atomic.cleanup_stale_temporaries(out)
            skip(outputs)
    level1_frames, extent_frames, read, failures = load(inputs, extents_given, run.debug)
    if failures and not partial:
        log.warning("%d of %d input(s) failed: nothing written (--partial aggregates the others)",
                    failures, len(inputs) + len(extents_given))
        cli.exit_with(failed=True)
    if not level1_frames:
        log.warning("no readable Level-1 input: nothing written")
        cli.exit_with(failed=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic.cleanup_stale_temporaries(out)
    stamp = fingerprint(read, *settings)
    # --partial: an earlier run may have aggregated the same readable subset
    if not run.overwrite and stamp != early and up_to_date(manifest, stamp, outputs):
        skip(outputs, failures)
    atomic.remove_quietly(manifest)  # products being rewritten are not vouched for until the end
    level1 = concat(level1_frames)
    extents_frame = concat(extent_frames)
    try:
        products = aggregate(level1, extents_frame, options)
        for name in PRODUCTS:
            write_geoparquet(products[name], out / f"{name}.parquet")
        if gpkg:
            latest = level1["acquired"].max() if len(level1) else None
            stamp_time = latest.strftime("%Y-%m-%dT%H:%M:%SZ") if latest is not None else "2000-01-01T00:00:00Z"
            write_geopackage(products, out / GPKG, timestamp=stamp_time)
        atomic.write_text(manifest, json.dumps({
            "tool": f"{TOOL} {cli.tool_version(TOOL)}", "fingerprint": stamp,
            "options": {"years": list(years) if years else None, "h3_resolution": h3_resolution},
            "inputs": [str(p) for p in read]}, indent=1) + "\n")
    except Exception as exc:  # noqa: BLE001 - one line, and no half-updated product set
        atomic.remove_quietly(*outputs, manifest)
        cli.fail(out, exc, debug=run.debug)
    log.info("%s", summary_line(products))
    emit(outputs)
    cli.exit_with(failed=bool(failures))
