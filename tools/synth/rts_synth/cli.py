"""Command line of rts-synth (not built yet: issue #3)."""

from rts_core import cli


@cli.command("rts-synth", "rts-synth", epilog="""Example:

\b
  rts-synth -o demo --scenes 12 --seed 1

Not built yet (issue #3): the command says so and exits with status 1.""")
@cli.out_dir_option(required=False)
@cli.run_options("rts-synth")
def main(out, run):
    """Build a synthetic demo world: PlanetScope-like scenes, DEM, TCVIS, land cover and the true slumps."""
    cli.not_built("rts-synth", 3)
