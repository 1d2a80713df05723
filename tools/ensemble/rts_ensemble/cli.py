"""Command line of rts-ensemble: probability rasters grouped by scene -> Level 1."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from rts_core import cli
from rts_core.errors import RunError
from rts_core.runner import run_items

from .cleanup import CleanupOptions
from .stage import Quicklook, ensemble_scene, group_members, plan_scene
from .water import open_water

TOOL = "rts-ensemble"


def parse_weights(_ctx, _param, value: str) -> dict[str, float]:
    weights = {}
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        name, _, number = part.partition("=")
        try:
            weights[name] = float(number)
        except ValueError:
            raise click.BadParameter(f"expected model=weight pairs, got {part!r}") from None
        if weights[name] <= 0:
            raise click.BadParameter(f"weights must be positive: {part!r}")
    return weights


@cli.command(TOOL, TOOL, epilog="""Example:

\b
  rts-ensemble probs/*.prob.tif --water esri_lc.tif -o level1
  rts-infer ... | rts-ensemble - --weights tcvis=0.6,notcvis=0.4 -o level1
  rts-ensemble probs/*.prob.tif --water esri_lc.tif --quicklook --stacks stacks -o level1

Per scene: <scene_id>.prob.tif (mean probability), .mask.tif (1 = RTS after clean-up),
.l1.parquet (Level-1 polygons, scene CRS) and .extent.parquet (valid footprint); with
--quicklook also .quicklook.png (1024 px: Level-1 outlines in yellow, dropped objects in
magenta labelled edge, size or water, no-data hatched grey). Prints the .l1.parquet paths.""")
@cli.paths_argument(metavar="PROB...")
@cli.out_dir_option()
@click.option("--threshold", default=0.5, type=click.FloatRange(0, 1),
              help="Keep pixels whose mean probability reaches this (p >= threshold, as DARTS v1's ensemble).")
@click.option("--edge-px", default=10, type=click.IntRange(0),
              help="Drop objects with a pixel within this Euclidean distance (px) of the image border or of "
                   "no-data (as both DARTS codes: a disk of this radius).")
@click.option("--min-px", default=32, type=click.IntRange(1),
              help="Drop objects smaller than this (pixels; objects are 8-connected).")
@click.option("--water", type=cli.DATA_PATH,
              help="Land-cover raster (any CRS) or water polygons (any vector format).")
@click.option("--water-classes", default="1", callback=cli.class_codes,
              help="Land-cover classes that are water (ESRI: 1).")
@click.option("--max-water", default=0.2, type=click.FloatRange(0, 1),
              help="Drop objects with more than this share of their area on water.")
@click.option("--weights", default="", callback=parse_weights,
              help="Per-model weights of the mean, e.g. tcvis=0.6,notcvis=0.4 (default: equal).")
@click.option("--models", "model_names", default="",
              help="The models every scene must have, e.g. tcvis,notcvis (default: every model among the inputs).")
@click.option("--allow-partial", is_flag=True,
              help="Write a scene from the models it has when it lacks some (with a warning) instead of refusing it.")
@click.option("--quicklook", is_flag=True,
              help="Also write <scene_id>.quicklook.png: Level-1 outlines, the objects the clean-up dropped "
                   "labelled with why (edge, size, water) and no-data, about 1024 px on the long side.")
@click.option("--stacks", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the rts-prep stacks (<scene_id>.stack.tif): the quicklook shows the scene in false "
                   "colour (nir, red, green) instead of the probability. Needs --quicklook.")
@cli.run_options(TOOL)
def main(paths, out, threshold, edge_px, min_px, water, water_classes, max_water, weights, model_names, allow_partial,
         quicklook, stacks, run):
    """Average model probabilities, clean up as DARTS does, and polygonise Level-1 footprints.

    Every scene is averaged over the full set of models of the run (--models, or every
    model among the inputs): a scene missing one is an error for that scene, and a
    raster without its RTS_MODEL tag an error for it and its scene, unless --allow-partial."""
    if stacks is not None and not quicklook:
        raise click.UsageError("--stacks is for the quicklook: add --quicklook")
    inputs = cli.expand_paths(paths)  # first: in a pipeline, upstream may still be writing --water
    if stacks is not None and not stacks.is_dir():  # and the stacks
        raise RunError(f"--stacks {stacks}", "no such folder")
    water = open_water(water, water_classes)  # an unusable --water stops the run
    options = CleanupOptions(threshold=threshold, edge_px=edge_px, min_px=min_px, max_water=max_water)
    models = tuple(sorted({m.strip() for m in model_names.split(",") if m.strip()}))
    groups, failed = group_members(inputs, models, allow_partial, weights, debug=run.debug)
    shared = dict(options=options, weights=weights, water=water, version=cli.version_string(TOOL),
                  quicklook=Quicklook(stacks) if quicklook else None)
    result = run_items(groups.items(), partial(plan_scene, out=out, **shared), partial(ensemble_scene, **shared),
                       run, label="ensemble", source=lambda group: group[1][0].path, out_dirs=[out])
    cli.exit_with(result, failed=failed)
