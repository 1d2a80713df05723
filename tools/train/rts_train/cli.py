"""Command line of rts-train: fit, export, inspect."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rts_core import cli

from .fit_cli import fit_command
from .options import preprocessing_option

TOOL = "rts-train"


@cli.group(TOOL, TOOL, epilog="""Example:

\b
  rts-train fit stacks/*.stack.tif --labels truth/rts.parquet --footprints truth/extent.parquet \\
      --bands tcvis --encoder resnet18 --encoder-depth 3 --epochs 10 -o models/tcvis
  rts-train export darts_v1/RTS_v6_tcvis/ -o tcvis.onnx
  rts-train inspect models/tcvis/tcvis.onnx""")
def main():
    """Fit UNet++ models, export them to ONNX with their metadata, import DARTS v1 models."""


main.add_command(fit_command)


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
@click.option("--preprocessing", "stated", multiple=True, callback=preprocessing_option, metavar="KEY=VALUE",
              help="State how the model's training stacks were made, overriding the checkpoint's record "
                   "(a DARTS v1 folder gets DARTS v1's): e.g. tpi_radius_m=100, slope_method=horn (repeatable).")
@cli.run_options(TOOL)
def export_command(checkpoint, output, name, tile_size, overlap, stated, run):
    """Export our checkpoint, or a DARTS v1 model folder, to ONNX with the rts metadata.

    Checkpoints are loaded as weights only: a file that needs more (pickled code) is
    refused, as loading it would run that code."""
    from .export import export_model

    try:
        export_model(checkpoint, output, name=name, tile_size=tile_size, overlap=overlap, stated=stated,
                     version=cli.version_string(TOOL), overwrite=run.overwrite)
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
