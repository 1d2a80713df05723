"""Command line of rts-ensemble (not built yet: issue #7)."""

from rts_core import cli


@cli.command("rts-ensemble", "rts-ensemble", epilog="""Example:

\b
  rts-infer ... | rts-ensemble - -o level1

Not built yet (issue #7): the command says so and exits with status 1.""")
@cli.paths_argument(required=False)
@cli.out_dir_option(required=False)
@cli.run_options("rts-ensemble")
def main(paths, out, run):
    """Average model probabilities, clean up as DARTS does, and polygonise Level-1 footprints."""
    cli.not_built("rts-ensemble", 7)
