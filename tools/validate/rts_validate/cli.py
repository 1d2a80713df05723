"""Command line of rts-validate: object- and pixel-level accuracy, thresholds, comparisons."""

from __future__ import annotations

from pathlib import Path

import click

from rts_core import cli

from .objects_cli import objects
from .pixels import DEFAULT_THRESHOLDS
from .runs import TOOL, compare_runs, summarise_crossval, validate_pixels, validate_threshold


@cli.group(TOOL, TOOL, epilog="""Examples:

\b
  rts-validate objects products/level1.parquet truth/rts.parquet --group-by region,year -o validation
  rts-validate objects level1.parquet inventory_points.gpkg --buffer-m 500 --coverage cover.parquet -o v
  rts-validate objects pred.gpkg ref.shp --mode iou --iou 0.5 --landcover esri_lc.tif -o v
  rts-validate pixels scene.prob.tif truth.gpkg -o v_pixels
  rts-validate threshold probs/*.prob.tif truth.gpkg --coverage extents.parquet -o v_thresholds
  rts-validate compare runs/*/validation -o v_compare
  rts-validate crossval cv/folds/*/* -o cv/summary

Writes metrics.json, metrics.csv and report.md (with PNG charts) under -o; objects also
matches.parquet, every prediction and reference with its status.""")
def main():
    """Score predictions against reference footprints, object by object or pixel by pixel."""


main.add_command(objects)


def parse_thresholds(_ctx, _param, value: str | None) -> tuple[float, ...]:
    if not value:
        return DEFAULT_THRESHOLDS
    try:
        thresholds = tuple(sorted({float(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated thresholds, got {value!r}") from None
    if not thresholds or not all(0 <= t < 1 for t in thresholds):
        raise click.BadParameter("thresholds lie in [0, 1)")
    return thresholds


@main.command("pixels", epilog="""The prediction is positive above --threshold (a probability raster of
rts-infer or rts-ensemble) or where it is 1 (a mask). A reference raster is resampled
(nearest) to the prediction's grid; reference polygons are rasterised on it. Only pixels
valid in both count.""")
@click.argument("pred", metavar="PRED_RASTER", type=cli.DATA_PATH)
@click.argument("ref", metavar="REF", type=cli.DATA_PATH)
@cli.out_dir_option()
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Probability above which a pixel is predicted RTS.")
@cli.run_options(TOOL)
def pixels(pred, ref, out, threshold, run):
    """Pixel-level confusion matrix, F1, IoU and Cohen's kappa of a prediction raster."""
    validate_pixels(pred, ref, out, threshold, run)


@main.command("threshold", epilog="""Every pixel valid in a probability raster and its reference (and inside
--coverage) counts; a pixel is positive when its probability is above the threshold, as
in pixels. Object-level thresholds come from the production clean-up itself: run
rts-ensemble --threshold T and rts-validate objects per threshold, then rts-validate
compare (make thresholds does).""")
@cli.paths_argument("preds", metavar="PROB... REF")
@cli.out_dir_option()
@click.option("--coverage", multiple=True, type=cli.DATA_PATH,
              help="Count only pixels inside these polygons (repeatable).")
@click.option("--thresholds", callback=parse_thresholds, help="Comma-separated (default 0.05 to 0.95 by 0.05).")
@cli.run_options(TOOL)
def threshold(preds, out, coverage, thresholds, run):
    """Pixel precision, recall, F1 and IoU at each threshold; the best threshold by F1."""
    paths = cli.expand_paths(preds)
    if len(paths) < 2:
        raise click.UsageError("give probability rasters and then the reference")
    validate_threshold(paths[:-1], Path(paths[-1]), list(coverage), thresholds, out, run)


@main.command("compare", epilog="Each RUN_DIR holds a metrics.json of rts-validate (or is one).")
@cli.paths_argument("runs", metavar="RUN_DIR...")
@cli.out_dir_option()
@cli.run_options(TOOL)
def compare(runs, out, run):
    """Several validation runs side by side: one table and chart, the best run by F1."""
    compare_runs([Path(p) for p in cli.expand_paths(runs)], out, run)


@main.command("crossval", epilog="""Each FOLD is a folder CONFIGURATION/REGION (workflow/crossval.smk
writes them) holding model/metrics.csv of rts-train fit, validated on that region's
scenes, and validation/metrics.json of rts-validate objects on the model's Level 1 there.
The pixel scores are those of the best epoch (the highest validation F1, the one
rts-train keeps), as in Nitze et al. (2021); standard deviations are sample ones (ddof 1)
across regions. The best configuration has the highest mean pixel IoU.""")
@cli.paths_argument("folds", metavar="FOLD...")
@cli.out_dir_option()
@cli.run_options(TOOL)
def crossval(folds, out, run):
    """A regional cross-validation summarised: scores per held-out region and configuration."""
    summarise_crossval([Path(p) for p in cli.expand_paths(folds)], out, run)
