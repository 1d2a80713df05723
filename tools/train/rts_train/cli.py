"""Command line of rts-train (not built yet: issue #5)."""

from rts_core import cli


@cli.command("rts-train", "rts-train", epilog="""Example:

\b
  rts-train fit stacks/*.stack.tif --labels truth/rts.parquet -o models/tcvis

Not built yet (issue #5): the command says so and exits with status 1.""")
@cli.out_dir_option(required=False)
@cli.run_options("rts-train")
def main(out, run):
    """Fit UNet++ models, export them to ONNX with their metadata, import DARTS v1 models."""
    cli.not_built("rts-train", 5)
