"""rts-aggregate: Aggregate Level-1 footprints into Level 2, tracks, coverage and H3 products."""
