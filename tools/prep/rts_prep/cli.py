"""Command line of rts-prep (not built yet: issue #4)."""

from rts_core import cli


@cli.command("rts-prep", "rts-prep", epilog="""Example:

\b
  rts-prep scenes/*/ --dem dem.vrt --tcvis tcvis.tif -o stacks

Not built yet (issue #4): the command says so and exits with status 1.""")
@cli.paths_argument(required=False)
@cli.out_dir_option(required=False)
@cli.run_options("rts-prep")
def main(paths, out, run):
    """Turn PlanetScope scenes plus ArcticDEM and TCVIS into aligned, masked input stacks."""
    cli.not_built("rts-prep", 4)
