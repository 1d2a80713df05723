"""One run of rts-aggregate: Level-1 and extent files read, products computed and
written with a manifest, and an unchanged rerun skipped before any input is read."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas

from rts_core import atomic, cli, contract, geoparquet
from rts_core.errors import InputError, RunError, blamed, report_error
from rts_core.fingerprints import fingerprint, up_to_date
from rts_core.runner import RunOptions, emit, read_each
from rts_core.sceneid import same_acquisitions
from rts_core.vector import write_geopackage

from . import report
from . import volume as volume_join
from .geometry import WORK_CRS
from .inputs import extent_beside, read_extents
from .partitioned import Partitioning, Workers, aggregate_scanned, scan_inputs
from .products import AggregateOptions

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


def one_input_per_acquisition(level1_paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The Level-1 inputs without those whose scene is an acquisition another input
    already brings (rts_core.sceneid.same_acquisitions: the same id twice, or one
    satellite's ids minutes apart), and the (left-out file, scene kept) pairs. Counted
    twice, one acquisition would double its detections and its coverage in Level 2."""
    scene_of = {path: Path(path).name[: -len(contract.L1_SUFFIX)] for path in level1_paths
                if Path(path).name.endswith(contract.L1_SUFFIX)}
    repeated = same_acquisitions(set(scene_of.values()))
    kept, left_out, seen = [], [], set()
    for path in sorted(level1_paths, key=lambda p: (Path(p).name, str(p))):
        scene_id = scene_of.get(path)
        if scene_id is not None and (scene_id in seen or scene_id in repeated):
            left_out.append((path, repeated.get(scene_id, scene_id)))
            continue
        seen.add(scene_id)
        kept.append(path)
    for path, scene_id in left_out:
        log.warning("%s: the acquisition of scene %s, which another input brings: counted once, this file left out",
                    path, scene_id)
    return kept, left_out


def read_given_extents(extents_given: list[Path], debug: bool):
    """The --extents files: (frames, paths read, failures reported)."""
    read, failed = read_each(extents_given, read_extents, debug=debug)
    return [frame for _, frame in read], [path for path, _ in read], len(failed)


def concat(frames):
    """One frame of all; with no rows at all, an empty one with the files' columns."""
    import geopandas

    filled = [f for f in frames if f is not None and len(f)]
    if filled:
        return pandas.concat(filled, ignore_index=True)
    if any(f is not None for f in frames):
        return next(f for f in frames if f is not None).iloc[:0].copy()
    return geopandas.GeoDataFrame({"scene_id": [], "acquired": pandas.to_datetime([], utc=True),
                                   "year": np.empty(0, np.int64)}, geometry=[], crs=WORK_CRS)


def aggregate_files(inputs: list[str], extents_given: list[Path], out: Path, options: AggregateOptions, *,
                    gpkg: bool, partial: bool, run: RunOptions,
                    partitioning: Partitioning = Partitioning(), volume: Path | None = None) -> Outcome:
    """Aggregate the Level-1 files (each with its extent, or ``extents_given``) into the
    products under ``out``, printing their paths; see the command's help for the rules
    and rts_aggregate.partitioned for how the work is split."""
    outputs = [out / f"{name}.parquet" for name in contract.PRODUCTS] + ([out / GPKG] if gpkg else []) + \
        ([out / volume_join.VOLUME_NAME] if volume is not None else []) + [out / report.REPORT]
    manifest = out / MANIFEST
    settings = (options, cli.version_string(TOOL))
    early = None  # the fingerprint before loading, from file sizes and times alone
    if volume is not None:
        try:  # a bad volume file stops the run before any input is read
            volume_join.read_volume(volume)
        except InputError as exc:
            raise RunError(volume, str(exc)) from None
    given_volume = [volume] if volume is not None else []
    if not run.overwrite and (planned := planned_reads(inputs, extents_given)) is not None:
        early = fingerprint(planned + given_volume, *settings)
        if up_to_date(manifest, early, outputs):
            atomic.cleanup_stale_temporaries(out)
            return skipped(outputs)
    inputs, repeated = one_input_per_acquisition(inputs)
    with (tempfile.TemporaryDirectory(prefix="rts-aggregate-") as folder,  # $TMPDIR: node-local on clusters
          Workers(partitioning.workers, (run.quiet, run.debug)) as workers):
        scanned = scan_inputs(inputs, not extents_given, Path(folder), options, partitioning, workers)
        for path, exc in scanned.failures:
            report_error(path, exc, debug=run.debug)
        given, given_read, given_failures = read_given_extents(extents_given, run.debug)
        failures = len(scanned.failures) + given_failures
        if failures and not partial:
            log.warning("%d of %d input(s) failed: nothing written (--partial aggregates the others)",
                        failures, len(inputs) + len(extents_given))
            return Outcome([], True)
        if not scanned.any_level1:
            log.warning("no readable Level-1 input: nothing written")
            return Outcome([], True)
        out.mkdir(parents=True, exist_ok=True)
        atomic.cleanup_stale_temporaries(out)
        read = scanned.read + given_read
        stamp = fingerprint(read + given_volume, *settings)
        # --partial: an earlier run may have aggregated the same readable subset
        if not run.overwrite and stamp != early and up_to_date(manifest, stamp, outputs):
            return skipped(outputs, failures)
        atomic.remove_quietly(manifest)  # products being rewritten are not vouched for until the end
        extents = concat([r.extents for r in scanned.results] + given)
        if options.years:
            extents = extents[extents["year"].isin(options.years)]
        try:
            report.check_folder(out)  # before the products: a run that cannot finish does not start
            aggregate_scanned(scanned, extents, out, options, partitioning, workers)
            if volume is not None:
                volume_join.join_volume(out, volume)
            if gpkg:
                write_gpkg(out)
            report.write_report(out, repeated)
            atomic.write_text(manifest, json.dumps({
                "tool": cli.version_string(TOOL), "fingerprint": stamp,
                "options": {"years": list(options.years) if options.years else None,
                            "h3_resolution": options.h3_resolution, "schema": options.schema,
                            "dataset_version": options.dataset_version},
                "inputs": [str(p) for p in read + given_volume]}, indent=1) + "\n")
        except Exception as exc:  # noqa: BLE001 - one line, and no half-updated product set
            atomic.remove_quietly(*outputs, manifest)
            raise blamed(out, exc) from exc
    log.info("%s", summary_of_files(out))
    emit(consumed(outputs))
    return Outcome(outputs, bool(failures))


def aggregate(level1_paths, out, options: AggregateOptions = AggregateOptions(), *, extents=(),
              workers: int = 1) -> dict[str, Path]:
    """Level-1 files (each with the extent beside it, or ``extents``) as every product of
    CONTRACT.md section 5 and the report in ``out``, always computed: the stage without
    the command's options. Returns the product paths by name."""
    run = RunOptions(TOOL, overwrite=True, quiet=True)
    outcome = aggregate_files([str(p) for p in level1_paths], [Path(e) for e in extents], Path(out), options,
                              gpkg=False, partial=False, run=run, partitioning=Partitioning(workers=workers))
    if outcome.failed:
        raise InputError("some Level-1 inputs could not be aggregated (see the error lines)", source=out)
    return {path.stem: path for path in outcome.outputs if path.suffix == ".parquet"}


def consumed(outputs: list[Path]) -> list[Path]:
    """The outputs a next stage reads, printed on standard output (the report is for people)."""
    return [p for p in outputs if p.name != report.REPORT]


def skipped(outputs: list[Path], failures: int = 0) -> Outcome:
    log.info("products are up to date with these inputs: skipped (--overwrite recomputes)")
    emit(consumed(outputs))
    return Outcome(outputs, bool(failures))


def write_gpkg(out: Path) -> None:
    """rts.gpkg from the GeoParquet products, a row group at a time; the newest
    acquisition dates the GeoPackage, so reruns give identical bytes."""
    import pyarrow.compute
    import pyarrow.parquet as parquet

    acquired = parquet.read_table(out / "level1.parquet", columns=["acquired"]).column(0) \
        if "acquired" in parquet.read_schema(out / "level1.parquet").names else None
    latest = pyarrow.compute.max(acquired).as_py() if acquired is not None and len(acquired) else None
    timestamp = latest.strftime("%Y-%m-%dT%H:%M:%SZ") if latest is not None else "2000-01-01T00:00:00Z"
    write_geopackage({name: geoparquet.read_row_groups(out / f"{name}.parquet") for name in contract.PRODUCTS},
                     out / GPKG, timestamp=timestamp)


def summary_of_files(out: Path) -> str:
    """One line for people from the written products: how much was found, where and when."""
    import pyarrow.compute
    import pyarrow.parquet as parquet

    level2_columns = parquet.read_schema(out / "level2.parquet").names
    area = "area_ha" if "area_ha" in level2_columns else None
    table = parquet.read_table(out / "level2.parquet", columns=["year"] + ([area] if area else []))
    years = sorted(set(table.column("year").to_pylist()))
    hectares = pyarrow.compute.sum(table.column(area)).as_py() or 0.0 if area else 0.0
    covered = pyarrow.compute.sum(parquet.read_table(out / "coverage_union.parquet", columns=["area_km2"])
                                  .column(0)).as_py() or 0.0
    return (f"{parquet.ParquetFile(out / 'level1.parquet').metadata.num_rows} Level-1 features -> "
            f"{len(table)} Level-2 features ({hectares:.1f} ha) in "
            f"{parquet.ParquetFile(out / 'tracks.parquet').metadata.num_rows} tracks, "
            f"years {','.join(map(str, years)) or 'none'}; covered {covered:.1f} km2")
