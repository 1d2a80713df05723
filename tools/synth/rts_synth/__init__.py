"""rts-synth: a synthetic demo world of PlanetScope-like scenes, DEM, TCVIS, land cover and true slumps."""
