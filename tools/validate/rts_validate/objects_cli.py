"""The rts-validate objects command: options -> validation.validate_objects (registered by cli.py)."""

from __future__ import annotations

import click

from rts_core import cli

from .objects import ESRI_LEGEND, ObjectOptions
from .runs import TOOL, validate_objects


def parse_columns(_ctx, _param, value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in (value or "").split(",") if c.strip())


def parse_bounds(_ctx, _param, value: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected two areas in m2 like 1000,10000, got {value!r}") from None
    if not 0 < low < high:
        raise click.BadParameter("the bounds must be positive and increasing")
    return low, high


def parse_classes(_ctx, _param, value: str | None) -> tuple[tuple[int, str], ...]:
    if not value:
        return ESRI_LEGEND
    try:
        return tuple((int(code), name.strip()) for code, _, name in (p.partition("=") for p in value.split(","))
                     if name.strip())
    except ValueError:
        raise click.BadParameter(f"expected code=name pairs like 1=water,8=bare ground, got {value!r}") from None


@click.command("objects", cls=cli.Command, epilog="""Matching: in intersect mode (DARTS) a prediction is true if it
intersects a (buffered) reference and a reference is found if any prediction intersects
it; in iou mode predictions and references are matched one to one at IoU >= --iou,
with as many matches as possible (Hungarian method), and panoptic quality (PQ = SQ x RQ)
and the mean boundary IoU of the matches (--boundary-m) are reported too. Items only
match across sides when their values agree on every --group-by column both sides have. A
side lacking a group column takes it from its partner, else from the --coverage polygon
it lies in, else from the nearest item of the other side. The summary gives mean and
sample standard deviation across groups. Every score is also given per size class
(--size-bounds-m2), and with --landcover every false prediction and missed reference
gets the land-cover class under most of it. PRED may be - (Level-1 file paths on
standard input).""")
@click.argument("pred", metavar="PRED")
@click.argument("ref", metavar="REF", type=cli.DATA_PATH)
@cli.out_dir_option()
@click.option("--mode", type=click.Choice(["intersect", "iou"]), default="intersect", show_default=True,
              help="Matching rule (see below).")
@click.option("--iou", "iou_threshold", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="IoU threshold of --mode iou.")
@click.option("--buffer-m", type=click.FloatRange(0), help="Buffer references by this many metres (points need "
              "one; DARTS used 5 m for polygons, 500 m for point inventories).")
@click.option("--coverage", multiple=True, type=cli.DATA_PATH,
              help="Only count predictions and references that intersect these polygons (repeatable: "
                   "e.g. the .extent.parquet of each scene).")
@click.option("--group-by", callback=parse_columns, default="", help="Columns to score by, e.g. region,year.")
@click.option("--min-area-m2", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Do not count predictions smaller than this.")
@click.option("--size-bounds-m2", default="1000,10000", callback=parse_bounds,
              help="Size classes: small below the first area (m2), large from the second.")
@click.option("--boundary-m", type=click.FloatRange(0, min_open=True), default=3.0,
              help="Boundary IoU's band along each outline (m), in --mode iou.")
@click.option("--landcover", type=cli.DATA_PATH,
              help="Land-cover raster (any CRS): the class under each false prediction and missed reference.")
@click.option("--landcover-classes", callback=parse_classes,
              help="Class names, e.g. 1=water,8=bare ground (default: ESRI's 10 m legend).")
@cli.run_options(TOOL)
def objects(pred, ref, out, mode, iou_threshold, buffer_m, coverage, group_by, min_area_m2, size_bounds_m2,
            boundary_m, landcover, landcover_classes, run):
    """Object-level precision, recall and F1 of predicted polygons against references."""
    options = ObjectOptions(mode=mode, iou=iou_threshold, buffer_m=buffer_m, group_by=group_by,
                            min_area_m2=min_area_m2, size_bounds_m2=size_bounds_m2, boundary_m=boundary_m,
                            landcover=str(landcover) if landcover else None, landcover_names=landcover_classes)
    validate_objects(cli.expand_paths([pred]), pred, ref, list(coverage), out, options, run)
