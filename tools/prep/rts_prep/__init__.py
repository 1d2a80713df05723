"""rts-prep: Turn PlanetScope or Sentinel-2 scenes plus ArcticDEM and TCVIS into aligned,
masked input stacks.

    from rts_prep import PrepOptions, make_stack
    make_stack("scenes/20220714_201530_42_24a3", dem="dem.vrt", tcvis="tcvis.tif", out="stacks")
    # -> stacks/20220714_201530_42_24a3.stack.tif
"""

from .stack import PrepOptions, make_stack

__all__ = ["PrepOptions", "make_stack"]
