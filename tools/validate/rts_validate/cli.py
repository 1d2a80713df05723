"""Command line of rts-validate: object- and pixel-level accuracy with reports."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from rts_core import atomic, cli
from rts_core.runner import InputError, emit, fingerprint, up_to_date

from .assess import ObjectOptions, SideError, assess_objects
from .pixels import assess_pixels
from .report import write_all

log = logging.getLogger(__name__)
TOOL = "rts-validate"


def parse_columns(_ctx, _param, value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in (value or "").split(",") if c.strip())


def skip_if_done(out: Path, stamp: str, overwrite: bool) -> bool:
    """Print the outputs of an earlier run with the same fingerprint and say so."""
    done = None if overwrite else up_to_date(out / "metrics.json", stamp)
    if done:
        log.info("validation is up to date with these inputs: skipped (--overwrite recomputes)")
        emit(done)
    return bool(done)


def read_frames(paths: list[str], what: str, debug: bool):
    """One GeoDataFrame from one or more vector files (each in its own CRS); a file that
    cannot be read ends the command with one error line naming it."""
    import geopandas
    import pandas

    from rts_core.vector import read_vector

    frames = []
    for path in paths:
        try:
            frame = read_vector(Path(path))
            if len(frame) and frame.crs is None:
                raise InputError(f"no CRS information in the {what}")
        except Exception as exc:  # noqa: BLE001 - one line per unreadable input
            cli.fail(path, exc, debug=debug)
        frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    frames = [f.to_crs("EPSG:4326") for f in frames if len(f)]
    if not frames:
        return geopandas.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return geopandas.GeoDataFrame(pandas.concat(frames, ignore_index=True), crs="EPSG:4326")


def finish(out: Path, metrics: dict, inputs: dict, stamp: str, matches=None) -> None:
    written = write_all(out, {**metrics, "inputs": inputs, "fingerprint": stamp}, inputs, matches)
    overall = metrics["overall"]
    log.info("%s: precision %.3f, recall %.3f, F1 %.3f%s", metrics["mode"], overall["precision"],
             overall["recall"], overall["f1"],
             f" ({overall['n_pred']} predictions, {overall['n_ref']} references)" if "n_pred" in overall else "")
    emit(written)


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
    pred_paths = cli.expand_paths([pred])
    options = ObjectOptions(mode=mode, iou=iou_threshold, buffer_m=buffer_m, group_by=group_by,
                            min_area_m2=min_area_m2)
    sources = [*pred_paths, str(ref), *map(str, coverage)]
    for path in sources:
        if not Path(path).exists():
            cli.fail(path, InputError("no such file"), debug=run.debug)
    stamp = fingerprint(sources, options, "objects", cli.tool_version(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    predictions = read_frames(pred_paths, "predictions", run.debug)
    references = read_frames([str(ref)], "references", run.debug)
    cover = read_frames(list(map(str, coverage)), "coverage", run.debug) if coverage else None
    pred_file = pred_paths[0] if len(pred_paths) == 1 else None  # several: the message says "predictions"
    try:
        body, matches = assess_objects(predictions, references, options, cover)
    except SideError as exc:  # name the file at fault (several prediction files: "predictions")
        side = {"pred": pred_file or "predictions", "ref": ref}[exc.side]
        cli.fail(side, exc, debug=run.debug)
    except Exception as exc:  # noqa: BLE001 - unexpected: blamed on the predictions, as in pixels
        cli.fail(pred_file or pred, exc, debug=run.debug)
    try:
        atomic.cleanup_stale_temporaries(out)  # a no-op when the folder is new
        covered = (str(coverage[0]) if len(coverage) == 1 else f"{len(coverage)} files") if coverage else None
        inputs = {"pred": pred_file or f"{len(pred_paths)} files from {pred}",
                  "ref": str(ref), **({"coverage": covered} if coverage else {})}
        finish(out, {"mode": mode, "params": options.params(covered), **body},
               inputs, stamp, matches)
    except Exception as exc:  # noqa: BLE001 - the inputs were fine: writing the outputs failed
        cli.fail(out, exc, debug=run.debug)


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
    for path in (pred, ref):
        if not path.exists():
            cli.fail(path, InputError("no such file"), debug=run.debug)
    stamp = fingerprint([pred, ref], threshold, "pixels", cli.tool_version(TOOL))
    if skip_if_done(out, stamp, run.overwrite):
        return
    try:
        overall = assess_pixels(pred, ref, threshold)
        finish(out, {"mode": "pixels", "params": {"threshold": threshold}, "overall": overall, "groups": [],
                     "summary": {}}, {"pred": str(pred), "ref": str(ref)}, stamp)
    except Exception as exc:  # noqa: BLE001 - an InputError names the file at fault
        cli.fail(pred, exc, debug=run.debug)
