"""rts-ensemble: Average model probabilities, clean up as DARTS does, and polygonise Level-1 footprints."""
