"""rts-ensemble: Average model probabilities, clean up as DARTS does, and polygonise
Level-1 footprints.

    from rts_ensemble import CleanupOptions, level1
    level1(["probs/x.tcvis.prob.tif", "probs/x.notcvis.prob.tif"], "level1", CleanupOptions(threshold=0.5))
    # -> {"prob": level1/x.prob.tif, "mask": ..., "l1": level1/x.l1.parquet, "extent": ...}
"""

from .cleanup import CleanupOptions
from .stage import level1

__all__ = ["CleanupOptions", "level1"]
