"""Command line of rts-aggregate: Level-1 files -> Level 2, tracks, coverage and H3."""

from __future__ import annotations

from pathlib import Path

import click

from rts_core import cli, contract

from .aggregation import aggregate_files
from .partitioned import SQUARE_M, Partitioning, default_workers
from .products import AggregateOptions

TOOL = "rts-aggregate"


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


@cli.command(TOOL, TOOL, epilog="""Examples:

\b
  rts-aggregate level1/*.l1.parquet -o products --gpkg
  rts-ensemble ... | rts-aggregate - -o products --years 2021-2023 --h3-resolution 5
  rts-aggregate old/level1.parquet --extents old/coverage_level1.parquet -o again
  rts-aggregate level1/*.l1.parquet --schema darts --dataset-version v1.2 -o darts_records

Each Level-1 file's extent is read from the <scene_id>.extent.parquet beside it, or
from --extents (files or folders). Writes level1, level2, tracks, coverage_level1,
coverage_level2, coverage_union, coverage_intersect and h3 as GeoParquet in EPSG:4326
(areas from the equal-area EPSG:6931), with --gpkg also rts.gpkg holding them as
layers, and prints their paths; also report.md with its figures under report/ (for
people: not printed). Polygons crossing the antimeridian are split there.

Work goes by squares of the EASE-Grid 2.0 North plane (--square-km) on --workers
processes, with a spill under $TMPDIR: memory follows the busiest square, not the
number of features, and the products equal those of one pass over everything.

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
@click.option("--schema", type=click.Choice(["rtsmap", "darts"]), default="rtsmap", show_default=True,
              help="Columns of level1 and level2: rtsmap's (CONTRACT.md section 5), or exactly the published DARTS v1 "
                   "data records' (id, id_geohash, date, ..., DARTS_AI_model_version, image_id), to concatenate "
                   "with the DARTS dataset.")
@click.option("--dataset-version", default="unreleased", show_default=True,
              help="DARTS_dataset_version of the records (--schema darts).")
@click.option("--gpkg", is_flag=True, help="Also write rts.gpkg with one layer per product.")
@click.option("--volume", "volume", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="rts-volume's volume.parquet: adds each track's volume change over the longest pair of DEM "
                   "dates, and each Level-2 feature's since the DEM before its year, with their 1-sigma "
                   "errors; keeps the rows as volume.parquet, and the report gains their figures.")
@click.option("--workers", type=click.IntRange(1), default=default_workers, show_default="all cores",
              help="Processes reading inputs and aggregating squares.")
@click.option("--square-km", type=click.FloatRange(1, min_open=False), default=SQUARE_M / 1000, show_default=True,
              help="Side of the squares of the EASE-Grid 2.0 North plane aggregated one at a time: memory follows "
                   "the busiest square, not the number of features. Products do not depend on it.")
@click.option("--partial", is_flag=True, help="Aggregate the readable inputs even if others fail.")
@cli.run_options(TOOL)
def main(paths, out, extents, h3_resolution, years, schema, dataset_version, gpkg, volume, workers, square_km,
         partial, run):
    """Aggregate Level-1 footprints into Level 2, tracks, coverage and H3 products."""
    options = AggregateOptions(years=years, h3_resolution=h3_resolution, schema=schema,
                               dataset_version=dataset_version)
    result = aggregate_files(cli.expand_paths(paths), extent_files(extents), out, options, gpkg=gpkg, partial=partial,
                             run=run, partitioning=Partitioning(square_m=square_km * 1000, workers=workers),
                             volume=volume)
    cli.exit_with(failed=result.failed)
