"""Command line of rts-train: fit, export, inspect."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from rts_core import cli, contract
from rts_core.runner import fingerprint

TOOL = "rts-train"
log = logging.getLogger(__name__)


@cli.group(TOOL, TOOL, epilog="""Example:

\b
  rts-train fit stacks/*.stack.tif --labels truth/rts.parquet --footprints truth/extent.parquet \\
      --bands tcvis --encoder resnet18 --encoder-depth 3 --epochs 10 -o models/tcvis
  rts-train export darts_v1/RTS_v6_tcvis/ -o tcvis.onnx
  rts-train inspect models/tcvis/tcvis.onnx""")
def main():
    """Fit UNet++ models, export them to ONNX with their metadata, import DARTS v1 models."""


def _bands(_ctx, _param, value):
    from .config import resolve_bands

    try:
        return resolve_bands(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _preprocessing(_ctx, _param, values) -> dict:
    """KEY=VALUE pairs -> a preprocessing record (numbers where they parse as numbers)."""
    from rts_core import preprocessing

    record = {}
    for pair in values:
        key, equals, text = pair.partition("=")
        if not equals:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        try:
            value = float(text)
        except ValueError:
            value = text
        record[key.strip()] = value
    try:
        return preprocessing.check(record)
    except preprocessing.RecordError as exc:
        raise click.BadParameter(str(exc)) from None


def _architecture(_ctx, _param, value):
    from .model import check_architecture

    try:
        return check_architecture(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command("fit", epilog="""Example:

\b
  rts-train fit stacks/*.stack.tif --labels truth/rts.parquet --footprints truth/extent.parquet \\
      --bands notcvis --val-fraction 0.2 -o models/notcvis

Labels are polygons in any CRS and format with a scene_id (or image_id) column matching
the stacks' RTS_SCENE_ID. With --footprints (polygons with scene_id, e.g. rts-synth's
truth/extent.parquet or a label campaign's mapped areas), unlabelled pixels outside them
are ignored by the loss; without, the whole of each labelled scene counts as mapped.""")
@cli.paths_argument(metavar="STACK...")
@click.option("--labels", required=True, type=click.Path(exists=True, path_type=Path), help="Label polygons.")
@click.option("--footprints", type=click.Path(exists=True, path_type=Path), help="Where labels are complete.")
@cli.out_dir_option(help="Output folder: <name>.onnx, checkpoint.pt, metrics.csv, training.png.")
@click.option("--bands", "band_spec", default="tcvis", callback=_bands,
              help="tcvis (10 bands), notcvis (7) or comma-separated band names.")
@click.option("--name", help="Model name (default: the --bands set, or 'custom').")
@click.option("--arch", "architecture", default="UnetPlusPlus", callback=_architecture,
              help="Any segmentation_models_pytorch architecture.")
@click.option("--encoder", default="resnet34", help="Encoder (random init; nothing is downloaded).")
@click.option("--encoder-depth", default=contract.DEFAULT_ENCODER_DEPTH, type=click.IntRange(3, 5),
              help="Encoder depth (DARTS tuning: 3).")
@click.option("--decoder-channels", default="", help="Comma-separated decoder widths, one per encoder stage "
              "(default 256,128,64,32,16 cut to the depth; e.g. 64,32,16 for a small fast model).")
@click.option("--tile-size", default=256, type=click.IntRange(32), help="Training tile size, px.")
@click.option("--epochs", default=10, type=click.IntRange(1))
@click.option("--steps", default=50, type=click.IntRange(1), help="Batches per epoch.")
@click.option("--batch-size", default=8, type=click.IntRange(1))
@click.option("--lr", default=1e-3, type=float, help="Adam learning rate (ExponentialLR, gamma 0.9).")
@click.option("--val-scenes", default="", help="Comma-separated scene ids for validation.")
@click.option("--val-fraction", default=0.2, type=click.FloatRange(0, 0.9), help="Else this share of scenes.")
@click.option("--seed", default=0, type=int, help="Seed: identical results on CPU.")
@click.option("--threads", default=2, type=click.IntRange(1), help="CPU threads for torch.")
@click.option("--infer-tile-size", default=contract.DEFAULT_TILE_SIZE, type=click.IntRange(64),
              help="Tile size written for inference.")
@click.option("--infer-overlap", default=contract.DEFAULT_OVERLAP, type=click.IntRange(0),
              help="Tile overlap written for inference.")
@cli.run_options(TOOL)
def fit_command(paths, labels, footprints, out, band_spec, name, architecture, encoder, encoder_depth,
                decoder_channels, tile_size,
                epochs, steps, batch_size, lr, val_scenes, val_fraction, seed, threads, infer_tile_size,
                infer_overlap, run):
    """Fit a segmentation model on stacks and export its best epoch to ONNX."""
    from .config import ModelConfig
    from .export import is_current
    from .fit import FitOptions, fit, outputs

    set_name, bands = band_spec
    try:
        widths = [int(w) for w in decoder_channels.split(",") if w.strip()] or None
    except ValueError:
        raise click.BadParameter(f"not comma-separated integers: {decoder_channels!r}",
                                 param_hint="--decoder-channels") from None
    if widths and len(widths) != encoder_depth:
        raise click.BadParameter(f"give {encoder_depth} widths (one per encoder stage)",
                                 param_hint="--decoder-channels")
    try:
        config = ModelConfig(name=name or set_name, bands=bands, architecture=architecture, encoder=encoder,
                             encoder_depth=encoder_depth, decoder_channels=widths, tile_size=infer_tile_size,
                             overlap=infer_overlap)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    options = FitOptions(epochs=epochs, batch_size=batch_size, steps=steps, lr=lr, tile_size=tile_size,
                         val_scenes=[s for s in val_scenes.split(",") if s], val_fraction=val_fraction,
                         seed=seed, threads=threads, debug=run.debug)
    stacks = cli.expand_paths(paths)
    stamp = fingerprint([*stacks, labels, *([footprints] if footprints else [])], config, options.settings(),
                        f"{TOOL} {cli.tool_version(TOOL)}")
    paths_out = outputs(out, config)
    if not run.overwrite and is_current(list(paths_out.values()), stamp):
        log.info("%s is complete; skipped (--overwrite to refit)", paths_out["onnx"])
        click.echo(paths_out["onnx"])
        return
    try:
        result = fit(stacks, labels, footprints, out, config, options, stamp)
    except Exception as exc:  # noqa: BLE001 - one line, no partial model
        cli.fail(labels, exc, debug=run.debug)
    log.info("best epoch %d: validation F1 %.3f, IoU %.3f", result.best_epoch, result.best["f1"], result.best["iou"])
    click.echo(result.onnx)
    cli.exit_with(failed=bool(result.failed))


@main.command("export", epilog="""Example:

\b
  rts-train export models/tcvis/checkpoint.pt -o tcvis.onnx
  rts-train export darts_v1/RTS_v6_notcvis/ -o notcvis.onnx   # config.yml + checkpoints/NN.pt""")
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The ONNX file to write.")
@click.option("--name", help="Model name to write (default: from the checkpoint).")
@click.option("--tile-size", type=click.IntRange(64), help="Inference tile size to write.")
@click.option("--overlap", type=click.IntRange(0), help="Inference overlap to write.")
@click.option("--preprocessing", "stated", multiple=True, callback=_preprocessing, metavar="KEY=VALUE",
              help="State how the model's training stacks were made, overriding the checkpoint's record "
                   "(a DARTS v1 folder gets DARTS v1's): e.g. tpi_radius_m=100, slope_method=horn (repeatable).")
@cli.run_options(TOOL)
def export_command(checkpoint, output, name, tile_size, overlap, stated, run):
    """Export our checkpoint, or a DARTS v1 model folder, to ONNX with the rts metadata.

    Checkpoints are loaded as weights only: a file that needs more (pickled code) is
    refused, as loading it would run that code."""
    from .export import export_onnx, is_current, load_any

    sources = sorted(Path(checkpoint).rglob("*")) if Path(checkpoint).is_dir() else [checkpoint]
    stamp = fingerprint([p for p in sources if Path(p).is_file()], name, tile_size, overlap, sorted(stated.items()),
                        f"{TOOL} {cli.tool_version(TOOL)}")
    if not run.overwrite and is_current([output], stamp):
        log.info("%s is complete; skipped (--overwrite to export again)", output)
        click.echo(output)
        return
    try:
        model, config = load_any(checkpoint)
        config.name = name or config.name
        config.tile_size = tile_size or config.tile_size
        config.overlap = overlap if overlap is not None else config.overlap
        if stated:
            config.preprocessing = {**(config.preprocessing or {}), **stated}
        export_onnx(model, config, output, fingerprint=stamp)
    except Exception as exc:  # noqa: BLE001
        cli.fail(checkpoint, exc, debug=run.debug)
    click.echo(output)


@main.command("inspect", epilog="Example:\n\n\b\n  rts-train inspect models/tcvis/tcvis.onnx --json")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@cli.run_options(TOOL, overwrite=False)
def inspect_command(model, as_json, run):
    """Print an ONNX model's metadata, input and output shapes and parameter count."""
    from .inspect_model import describe, format_description

    try:
        info = describe(model)
    except Exception as exc:  # noqa: BLE001
        cli.fail(model, exc, debug=run.debug)
    click.echo(json.dumps(info, indent=2) if as_json else format_description(info))
