"""Command line of rts-validate (not built yet: issue #9)."""

from rts_core import cli


@cli.command("rts-validate", "rts-validate", epilog="""Example:

\b
  rts-validate objects products/level1.parquet truth/rts.parquet -o validation

Not built yet (issue #9): the command says so and exits with status 1.""")
@cli.out_dir_option(required=False)
@cli.run_options("rts-validate")
def main(out, run):
    """Score predictions against reference footprints, object by object or pixel by pixel."""
    cli.not_built("rts-validate", 9)
