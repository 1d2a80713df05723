"""rts-prep: Turn PlanetScope scenes plus ArcticDEM and TCVIS into aligned, masked input stacks."""
