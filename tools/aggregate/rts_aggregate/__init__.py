"""rts-aggregate: Aggregate Level-1 footprints into Level 2, tracks, coverage and H3 products.

    from rts_aggregate import AggregateOptions, aggregate
    products = aggregate(sorted(Path("level1").glob("*.l1.parquet")), "products", AggregateOptions(years=(2021, 2022)))
    # -> {"level1": products/level1.parquet, "level2": ..., "tracks": ..., "h3": ...}
"""

from .aggregation import aggregate
from .products import AggregateOptions

__all__ = ["AggregateOptions", "aggregate"]
