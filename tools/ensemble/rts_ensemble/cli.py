"""Command line of rts-ensemble: probability rasters grouped by scene -> Level 1."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from rts_core import cli, contract
from rts_core.raster import read_scene_info
from rts_core.runner import InputError, Plan, report_error

from .cleanup import CleanupOptions
from .scene import Member, ensemble_scene
from .water import WaterSource

log = logging.getLogger(__name__)
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

Per scene: <scene_id>.prob.tif (mean probability), .mask.tif (1 = RTS after clean-up),
.l1.parquet (Level-1 polygons, scene CRS) and .extent.parquet (valid footprint). Prints
the .l1.parquet paths.""")
@cli.paths_argument(metavar="PROB...")
@cli.out_dir_option()
@click.option("--threshold", default=0.5, type=click.FloatRange(0, 1),
              help="Keep pixels whose mean probability reaches this (p >= threshold, as DARTS v1's ensemble).")
@click.option("--edge-px", default=10, type=click.IntRange(0),
              help="Drop objects with a pixel within this Euclidean distance (px) of the image border or of "
                   "no-data (as both DARTS codes: a disk of this radius).")
@click.option("--min-px", default=32, type=click.IntRange(1),
              help="Drop objects smaller than this (pixels; objects are 8-connected).")
@click.option("--water", type=click.Path(dir_okay=False, path_type=Path),
              help="Land-cover raster (any CRS) or water polygons (any vector format).")
@click.option("--water-classes", default="1", help="Land-cover classes that are water (ESRI: 1).")
@click.option("--max-water", default=0.2, type=click.FloatRange(0, 1),
              help="Drop objects with more than this share of their area on water.")
@click.option("--weights", default="", callback=parse_weights,
              help="Per-model weights of the mean, e.g. tcvis=0.6,notcvis=0.4 (default: equal).")
@cli.run_options(TOOL)
def main(paths, out, threshold, edge_px, min_px, water, water_classes, max_water, weights, run):
    """Average model probabilities, clean up as DARTS does, and polygonise Level-1 footprints."""
    inputs = cli.expand_paths(paths)  # first: in a pipeline, upstream may still be writing --water
    if water is not None and not water.exists():
        raise click.BadParameter(f"{water} does not exist", param_hint="--water")
    try:
        classes = tuple(int(c) for c in water_classes.split(",") if c.strip())
        water_source = WaterSource(water, classes) if water else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--water") from None
    except InputError as exc:  # an unreadable --water file: one line, before any output
        report_error(water, exc, debug=run.debug)
        sys.exit(1)
    options = CleanupOptions(threshold=threshold, edge_px=edge_px, min_px=min_px, max_water=max_water)
    version = f"{TOOL} {cli.tool_version(TOOL)}"
    groups: dict[str, list[Member]] = {}
    failed = False
    for path in inputs:
        try:
            info = read_scene_info(path)
            if not info.model:
                raise InputError("no RTS_MODEL tag: not a probability raster of rts-infer")
        except Exception as exc:  # noqa: BLE001 - one line per unreadable input
            report_error(path, exc, debug=run.debug)
            failed = True
            continue
        groups.setdefault(info.scene_id, []).append(Member(Path(path), info.model))
    unknown = set(weights) - {m.model for members in groups.values() for m in members}
    if unknown:
        log.warning("--weights names model(s) not among the inputs: %s", ", ".join(sorted(unknown)))

    def scene_outputs(scene_id) -> dict[str, Path]:
        return {"prob": out / contract.prob_name(scene_id), "mask": out / contract.mask_name(scene_id),
                "l1": out / contract.l1_name(scene_id), "extent": out / contract.extent_name(scene_id)}

    def plan(scene_id):
        outputs = scene_outputs(scene_id)
        return Plan(list(outputs.values()), printed=[outputs["l1"]])

    def process(scene_id, _plan):
        count = ensemble_scene(groups[scene_id], scene_outputs(scene_id), options, weights, water_source, version)
        log.debug("%s: %d Level-1 objects", scene_id, count)

    result = run.items(list(groups), plan, process, label="ensemble",
                       source=lambda scene_id: groups[scene_id][0].path, out_dirs=[out])
    sys.exit(1 if failed or result.failed else 0)
