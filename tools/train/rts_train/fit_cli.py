"""The rts-train fit command: options -> fit.fit_and_export (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

from rts_core import cli, contract

from .options import architecture_option, bands_option

TOOL = "rts-train"


@click.command("fit", cls=cli.Command, epilog="""Example:

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
@click.option("--bands", "band_spec", default="tcvis", callback=bands_option,
              help="tcvis (10 bands), notcvis (7) or comma-separated band names.")
@click.option("--name", help="Model name (default: the --bands set, or 'custom').")
@click.option("--arch", "architecture", default="UnetPlusPlus", callback=architecture_option,
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
    from .fit import FitOptions, fit_and_export

    config = model_config(band_spec, name, architecture, encoder, encoder_depth, decoder_channels, infer_tile_size,
                          infer_overlap)
    options = FitOptions(epochs=epochs, batch_size=batch_size, steps=steps, lr=lr, tile_size=tile_size,
                         val_scenes=[s for s in val_scenes.split(",") if s], val_fraction=val_fraction,
                         seed=seed, threads=threads, debug=run.debug)
    try:
        result = fit_and_export(cli.expand_paths(paths), labels, footprints, out, config, options,
                                version=cli.version_string(TOOL), overwrite=run.overwrite)
    except Exception as exc:  # noqa: BLE001 - one line, no partial model
        cli.fail(labels, exc, debug=run.debug)
    click.echo(result.onnx)
    cli.exit_with(failed=bool(result.failed))


def model_config(band_spec, name, architecture, encoder, encoder_depth, decoder_channels, tile_size, overlap):
    """The model's description from the options (a usage error if they do not fit)."""
    from .config import ModelConfig

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
        return ModelConfig(name=name or set_name, bands=bands, architecture=architecture, encoder=encoder,
                           encoder_depth=encoder_depth, decoder_channels=widths, tile_size=tile_size, overlap=overlap)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
