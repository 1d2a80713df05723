"""rts-validate: Score predictions against reference footprints, object by object or
pixel by pixel.

    from rts_validate import ObjectOptions, score_objects, score_pixels
    scores, matches = score_objects("level1/x.l1.parquet", "inventory.gpkg", ObjectOptions(mode="iou"))
    scores["overall"]["f1"]
    score_pixels("level1/x.prob.tif", "inventory.gpkg", threshold=0.5)["f1"]
"""

from .objects import ObjectOptions, score_objects
from .pixels import assess_pixels as score_pixels

__all__ = ["ObjectOptions", "score_objects", "score_pixels"]
