"""Command line of rts-infer (not built yet: issue #6)."""

from rts_core import cli


@cli.command("rts-infer", "rts-infer", epilog="""Example:

\b
  rts-prep ... | rts-infer - --model tcvis.onnx --model notcvis.onnx -o probs

Not built yet (issue #6): the command says so and exits with status 1.""")
@cli.paths_argument(required=False)
@cli.out_dir_option(required=False)
@cli.run_options("rts-infer")
def main(paths, out, run):
    """Run ONNX models tile by tile over whole stacks and write probability rasters."""
    cli.not_built("rts-infer", 6)
