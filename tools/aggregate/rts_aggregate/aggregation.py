"""One run of rts-aggregate: Level-1 and extent files read, products computed and
written with a manifest, and an unchanged rerun skipped before any input is read."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas

from rts_core import atomic, cli, contract
from rts_core.runner import InputError, RunOptions, emit, fingerprint, report_error, up_to_date
from rts_core.vector import write_geopackage, write_geoparquet

from .geometry import WORK_CRS
from .inputs import extent_beside, read_extents, read_level1
from .products import AggregateOptions, aggregate, summary_line

log = logging.getLogger(__name__)
TOOL = "rts-aggregate"
MANIFEST = "aggregate.json"
GPKG = "rts.gpkg"


@dataclass
class Outcome:
    outputs: list[Path]
    failed: bool  # some input failed (reported); the products may still have been written (--partial)


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


def aggregate_files(inputs: list[str], extents_given: list[Path], out: Path, options: AggregateOptions, *,
                    gpkg: bool, partial: bool, run: RunOptions) -> Outcome:
    """Aggregate the Level-1 files (each with its extent, or ``extents_given``) into the
    products under ``out``, printing their paths; see the command's help for the rules."""
    outputs = [out / f"{name}.parquet" for name in contract.PRODUCTS] + ([out / GPKG] if gpkg else [])
    manifest = out / MANIFEST
    settings = (options, cli.version_string(TOOL))
    early = None  # the fingerprint before loading, from file sizes and times alone
    if not run.overwrite and (planned := planned_reads(inputs, extents_given)) is not None:
        early = fingerprint(planned, *settings)
        if up_to_date(manifest, early, outputs):
            atomic.cleanup_stale_temporaries(out)
            return skipped(outputs)
    level1_frames, extent_frames, read, failures = load(inputs, extents_given, run.debug)
    if failures and not partial:
        log.warning("%d of %d input(s) failed: nothing written (--partial aggregates the others)",
                    failures, len(inputs) + len(extents_given))
        return Outcome([], True)
    if not level1_frames:
        log.warning("no readable Level-1 input: nothing written")
        return Outcome([], True)
    out.mkdir(parents=True, exist_ok=True)
    atomic.cleanup_stale_temporaries(out)
    stamp = fingerprint(read, *settings)
    # --partial: an earlier run may have aggregated the same readable subset
    if not run.overwrite and stamp != early and up_to_date(manifest, stamp, outputs):
        return skipped(outputs, failures)
    atomic.remove_quietly(manifest)  # products being rewritten are not vouched for until the end
    level1 = concat(level1_frames)
    try:
        products = aggregate(level1, concat(extent_frames), options)
        write_products(products, out, gpkg, level1)
        atomic.write_text(manifest, json.dumps({
            "tool": cli.version_string(TOOL), "fingerprint": stamp,
            "options": {"years": list(options.years) if options.years else None,
                        "h3_resolution": options.h3_resolution, "schema": options.schema,
                        "dataset_version": options.dataset_version},
            "inputs": [str(p) for p in read]}, indent=1) + "\n")
    except Exception as exc:  # noqa: BLE001 - one line, and no half-updated product set
        atomic.remove_quietly(*outputs, manifest)
        cli.fail(out, exc, debug=run.debug)
    log.info("%s", summary_line(products))
    emit(outputs)
    return Outcome(outputs, bool(failures))


def skipped(outputs: list[Path], failures: int = 0) -> Outcome:
    log.info("products are up to date with these inputs: skipped (--overwrite recomputes)")
    emit(outputs)
    return Outcome(outputs, bool(failures))


def write_products(products: dict, out: Path, gpkg: bool, level1) -> None:
    for name in contract.PRODUCTS:
        write_geoparquet(products[name], out / f"{name}.parquet")
    if gpkg:  # the newest acquisition dates the GeoPackage, so reruns give identical bytes
        latest = level1["acquired"].max() if len(level1) else None
        timestamp = latest.strftime("%Y-%m-%dT%H:%M:%SZ") if latest is not None else "2000-01-01T00:00:00Z"
        write_geopackage(products, out / GPKG, timestamp=timestamp)
