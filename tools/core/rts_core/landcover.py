"""Land cover: a raster of class codes in any CRS (ESRI's 10 m annual map in DARTS),
read by one reader for rts-ensemble's water filter and rts-validate's error anatomy,
with one water rule that rts-prep's water band also follows.

As in DARTS, a pixel without a class (the raster's no-data, or outside the raster)
counts as water: the water filter then errs on the side of dropping an object.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError, one_line
from .raster import outer_window


def water(classes: np.ndarray, water_classes) -> np.ndarray:
    """Where ``classes`` (float, NaN without a class) is water: a water class, or no class."""
    return ~np.isfinite(classes) | np.isin(classes, water_classes)


class LandCover:
    """A land-cover raster, checked when opened (readable, with a CRS); each read opens
    it again, so one LandCover serves several threads."""

    def __init__(self, path: Path | str):
        import rasterio

        self.path = path
        try:
            with rasterio.open(path) as dataset:
                if dataset.crs is None:
                    raise InputError("the land cover has no CRS", source=path)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read the land cover: {one_line(exc)}", source=path) from None

    def classes(self, shape: tuple[int, int], transform, crs) -> np.ndarray:
        """Class codes (float32, NaN without a class) on a grid, nearest neighbour."""
        import rasterio
        from rasterio import warp
        from rasterio.enums import Resampling

        classes = np.full(shape, np.nan, np.float32)
        try:
            with rasterio.open(self.path) as dataset:
                warp.reproject(rasterio.band(dataset, 1), classes, dst_transform=transform, dst_crs=crs,
                               dst_nodata=np.nan, src_nodata=dataset.nodata, resampling=Resampling.nearest)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read the land cover: {one_line(exc)}", source=self.path) from None
        return classes

    def water(self, shape: tuple[int, int], transform, crs, water_classes) -> np.ndarray:
        """Where a grid is water (see :func:`water`)."""
        return water(self.classes(shape, transform, crs), water_classes)

    def majority(self, geometries, crs) -> list[int | None]:
        """The class covering most of each polygon (pixel centres inside it, or the
        pixels it touches when it is smaller than one); None where there is no class
        under it. Polygons in ``crs``; one small window each."""
        import geopandas
        import rasterio
        from rasterio import features

        result: list[int | None] = []
        with rasterio.open(self.path) as dataset:
            for polygon in geopandas.GeoSeries(list(geometries), crs=crs).to_crs(dataset.crs).values:
                if polygon is None or polygon.is_empty:
                    result.append(None)
                    continue
                window = outer_window(polygon.bounds, dataset.transform, margin_px=1)
                values = dataset.read(1, window=window, masked=True, boundless=True)
                transform = dataset.window_transform(window)
                inside = features.rasterize([polygon], out_shape=values.shape, transform=transform).astype(bool)
                if not inside.any():
                    inside = features.rasterize([polygon], out_shape=values.shape, transform=transform,
                                                all_touched=True).astype(bool)
                data = np.asarray(values.data)[inside & ~np.ma.getmaskarray(values)]
                data = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data
                result.append(int(np.bincount(data.astype(np.int64)).argmax()) if data.size and (data >= 0).all()
                              else None)
        return result
