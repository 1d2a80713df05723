"""rts-volume: elevation and volume change of RTS features from dated DEMs, co-registered
on stable terrain, with 1-sigma uncertainty (CONTRACT.md section 7).

    from rts_volume import PairOptions, measure_volumes
    result = measure_volumes(["strips/"], "products/tracks.parquet", "volume", PairOptions())
    # -> result.products: {"volume": volume/volume.parquet, "pairs": volume/pairs.parquet}
"""

from .pair import PairOptions, measure_pair
from .volume import measure_volumes

__all__ = ["PairOptions", "measure_pair", "measure_volumes"]
