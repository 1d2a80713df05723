"""Command line of rts-validate: object- and pixel-level accuracy with reports."""

from __future__ import annotations

from pathlib import Path

import click

from rts_core import cli

from .objects import ObjectOptions
from .validation import TOOL, validate_objects, validate_pixels


def parse_columns(_ctx, _param, value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in (value or "").split(",") if c.strip())


@cli.group(TOOL, TOOL, epilog="""Examples:

\b
  rts-validate objects products/level1.parquet truth/rts.parquet --group-by region,year -o validation
  rts-validate objects level1.parquet inventory_points.gpkg --buffer-m 500 --coverage cover.parquet -o v
  rts-validate objects pred.gpkg ref.shp --mode iou --iou 0.5 -o v
  rts-validate pixels scene.prob.tif truth.gpkg -o v_pixels

Writes metrics.json, metrics.csv and report.md (with PNG charts) under -o; objects also
matches.parquet, every prediction and reference with its status.""")
def main():
    """Score predictions against reference footprints, object by object or pixel by pixel."""


@main.command("objects", epilog="""Matching: in intersect mode (DARTS) a prediction is true if it
intersects a (buffered) reference and a reference is found if any prediction intersects
it; in iou mode predictions and references are matched one to one at IoU >= --iou,
with as many matches as possible (Hungarian method). Items only match across sides when
their values agree on every --group-by column both sides have. A side lacking a group
column takes it from its partner, else from the --coverage polygon it lies in, else from
the nearest item of the other side. The summary gives mean and sample standard
deviation across groups. PRED may be - (Level-1 file paths on standard input).""")
@click.argument("pred", metavar="PRED")
@click.argument("ref", metavar="REF", type=click.Path(dir_okay=False, path_type=Path))
@cli.out_dir_option()
@click.option("--mode", type=click.Choice(["intersect", "iou"]), default="intersect", show_default=True,
              help="Matching rule (see below).")
@click.option("--iou", "iou_threshold", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="IoU threshold of --mode iou.")
@click.option("--buffer-m", type=click.FloatRange(0), help="Buffer references by this many metres (points need "
              "one; DARTS used 5 m for polygons, 500 m for point inventories).")
@click.option("--coverage", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Only count predictions and references that intersect these polygons (repeatable: "
                   "e.g. the .extent.parquet of each scene).")
@click.option("--group-by", callback=parse_columns, default="", help="Columns to score by, e.g. region,year.")
@click.option("--min-area-m2", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Do not count predictions smaller than this.")
@cli.run_options(TOOL)
def objects(pred, ref, out, mode, iou_threshold, buffer_m, coverage, group_by, min_area_m2, run):
    """Object-level precision, recall and F1 of predicted polygons against references."""
    options = ObjectOptions(mode=mode, iou=iou_threshold, buffer_m=buffer_m, group_by=group_by,
                            min_area_m2=min_area_m2)
    validate_objects(cli.expand_paths([pred]), pred, ref, list(coverage), out, options, run)


@main.command("pixels", epilog="""The prediction is positive above --threshold (a probability raster of
rts-infer or rts-ensemble) or where it is 1 (a mask). A reference raster is resampled
(nearest) to the prediction's grid; reference polygons are rasterised on it. Only pixels
valid in both count.""")
@click.argument("pred", metavar="PRED_RASTER", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ref", metavar="REF", type=click.Path(dir_okay=False, path_type=Path))
@cli.out_dir_option()
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Probability above which a pixel is predicted RTS.")
@cli.run_options(TOOL)
def pixels(pred, ref, out, threshold, run):
    """Pixel-level confusion matrix, F1, IoU and Cohen's kappa of a prediction raster."""
    validate_pixels(pred, ref, out, threshold, run)
