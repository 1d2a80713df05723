"""Command line of rts-aggregate (not built yet: issue #8)."""

from rts_core import cli


@cli.command("rts-aggregate", "rts-aggregate", epilog="""Example:

\b
  rts-aggregate level1/*.l1.parquet -o products --gpkg

Not built yet (issue #8): the command says so and exits with status 1.""")
@cli.paths_argument(required=False)
@cli.out_dir_option(required=False)
@cli.run_options("rts-aggregate")
def main(paths, out, run):
    """Aggregate Level-1 footprints into Level 2, tracks, coverage and H3 products."""
    cli.not_built("rts-aggregate", 8)
