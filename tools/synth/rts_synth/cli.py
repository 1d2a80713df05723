"""Command line of rts-synth: options -> world -> files."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import click

from rts_core import cli
from rts_core.fingerprints import fingerprint
from rts_core.runner import run_items

from . import dems, files, sentinel2
from .confounders import KINDS, parse_rates
from .fields import Fields
from .shapes import load_label_shapes
from .world import RegionError, build_world

log = logging.getLogger(__name__)
TOOL = "rts-synth"


def parse_years(_ctx, _param, value: str) -> list[int]:
    try:
        years = sorted({int(part) for part in str(value).split(",") if part.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated years, got {value!r}") from None
    if not years:
        raise click.BadParameter("no year given")
    return years


def parse_confounders(_ctx, _param, value: str) -> dict[str, float]:
    try:
        return parse_rates(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def parse_regions(_ctx, _param, value: str) -> tuple[int, ...]:
    try:
        regions = tuple(sorted({int(part) for part in str(value).split(",") if part.strip()}))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated region numbers, got {value!r}") from None
    if any(r < 1 for r in regions):
        raise click.BadParameter("regions are numbered from 1")
    return regions


@cli.command(TOOL, TOOL, epilog="""Example:

\b
  rts-synth -o demo --labels data/rts_labels_sample.gpkg --quicklook
  rts-synth -o demo | rts-prep - --dem demo/aux/dem.tif --tcvis demo/aux/tcvis.tif -o stacks

The world is made of regions, each visited by two overlapping scenes a year; with more
than one region, the last region's scenes are held apart for testing (split "test" in
DIR/scenes.csv). The default world (24 scenes of 768 px, 4 regions) is generated in
well under a minute on 2 cores.""")
@cli.out_dir_option()
@click.option("--scenes", "n_scenes", default=24, type=click.IntRange(1), help="Number of scenes.")
@click.option("--size", default=768, type=click.IntRange(64), help="Scene width and height, pixels (3 m).")
@click.option("--years", default="2021,2022,2023", callback=parse_years,
              help="Comma-separated years; slumps grow upslope from year to year.")
@click.option("--seed", default=0, type=int, help="Same seed, identical files.")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Real slump polygons (any vector format, e.g. data/rts_labels_sample.gpkg) "
                   "to move onto the world, keeping size and shape; default: procedural shapes.")
@click.option("--quicklook", is_flag=True, help="Also write a false-colour PNG per scene with the truth "
              "(PlanetScope scenes).")
@click.option("--sensor", type=click.Choice(["planetscope", "sentinel2"]), default="planetscope", show_default=True,
              help="sentinel2: each scene as a Sentinel-2 L2A product of the same world on a 10 m grid, SAFE-like "
                   "folders (JPEG 2000) and STAC items (COGs) alternately, with SCL clouds, shadows and snow, "
                   "products before and after baseline 04.00 (25 January 2022).")
@click.option("--confounders", "confounder_rates", default="none", callback=parse_confounders, metavar="SPEC",
              help="Landforms that fool slump mappers, with their anatomy class in truth/features.parquet and "
                   "truth/anatomy.tif: 'hard' (the hard demo mix), 'hard*F' (that mix times F), or KIND=RATE "
                   "pairs per km\u00b2 of region, KIND one of " + ", ".join(KINDS) + ". Default: none.")
@click.option("--rts-free-regions", "rts_free", default="", callback=parse_regions, metavar="N,...",
              help="Regions (1-based) without slumps: confounders only, as DARTS added to fight false positives.")
@click.option("--test-regions", default=1, type=click.IntRange(1), show_default=True,
              help="How many of the last regions are held apart for testing (split 'test' in scenes.csv).")
@click.option("--input-errors", is_flag=True,
              help="The errors of real inputs (PlanetScope): gain by satellite generation and date, a reflectance "
                   "offset, haze that udm2 leaves clear, terrain shading under each scene's sun, and a DEM "
                   "misregistered by 2-6 m and made the year before the first scene (truth/input_errors.json).")
@click.option("--revegetated-slumps", "revegetated", default=0.0, type=click.FloatRange(0, 1), show_default=True,
              metavar="SHARE", help="The share of slumps whose floor is partly grown over (20-45 % vegetation), "
                                    "fainter than a fresh scar (column 'regrowth' in truth/features.parquet).")
@click.option("--dems", "n_dems", default=0, type=click.IntRange(0, 20), show_default=True, metavar="N",
              help="Also write N dated ArcticDEM-style DEM strips (DIR/dems/SETSM_..._dem.tif, EPSG:3413, 2 m) "
                   "over the world's years, slumps deepening and growing between them, each misregistered, "
                   "offset, tilted, noisy and with voids; their errors in truth/dem_strips.csv and each "
                   "slump's true volume change per pair in truth/volume.parquet (for rts-volume).")
@cli.run_options(TOOL)
def main(out: Path, n_scenes, size, years, seed, labels, quicklook, sensor, confounder_rates, rts_free, test_regions,
         input_errors, revegetated, n_dems, run):
    """Build a synthetic demo world of PlanetScope-like scenes with known thaw slumps.

    Writes DIR/scenes/<id>/ (SR, udm2, metadata JSON), DIR/aux/ (dem.tif in EPSG:3413,
    tcvis.tif in EPSG:4326, landcover.tif in EPSG:32607), DIR/truth/ (rts.parquet,
    rts.gpkg, extent.parquet, features.parquet, conditions.parquet) and DIR/scenes.csv,
    with --dems also DIR/dems/ and their truth, and prints each scene's SR path.
    """
    label_shapes = None
    if labels is not None:
        try:
            label_shapes = load_label_shapes(labels, max_area_m2=150_000)
        except Exception as exc:  # noqa: BLE001 - one line, as for any bad input
            raise click.BadParameter(f"{labels}: {exc}", param_hint="--labels") from None
    try:
        world = build_world(seed, n_scenes, size, years, label_shapes, confounder_rates, rts_free, test_regions,
                            input_errors, revegetated)
    except RegionError as exc:
        raise click.BadParameter(str(exc), param_hint="--rts-free-regions") from None
    if sensor == "sentinel2":
        world = sentinel2.with_sentinel2_ids(world)
        quicklook = False
    log.info("world: %d x %d px, %d regions, %d slumps, %d confounders, %d scenes", world.grid.width,
             world.grid.height, len(world.regions), len(world.slumps), len(world.confounders), len(world.scenes))
    version = cli.version_string(TOOL)
    extra = (sorted(confounder_rates.items()), rts_free, test_regions, input_errors, revegetated) \
        if confounder_rates or rts_free or test_regions != 1 or input_errors or revegetated else ()
    # (the classic world keeps its fingerprint)
    stamp = fingerprint([labels] if labels else [], seed, n_scenes, size, years, quicklook, sensor, *extra, version)
    strips = dems.plan_strips(world, n_dems) if n_dems else []
    result = run_items(files.items(world, sensor, strips),
                       partial(files.plan_item, out=out, quicklook=quicklook, stamp=stamp,
                               dem_stamp=fingerprint([], stamp, "dems", n_dems)),
                       partial(files.write_item, fields=Fields(world), out=out, quicklook=quicklook, version=version),
                       run, label="synth", out_dirs=files.out_dirs(out, world, sensor, strips))
    cli.exit_with(result)
