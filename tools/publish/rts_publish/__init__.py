"""rts-publish: rtsmap's products as a static site (web map, STAC catalogue, PMTiles)."""

from .site import PublishResult, publish_site

__all__ = ["PublishResult", "publish_site"]
