"""A water mask on a scene's grid, from a land-cover raster in any CRS (class codes;
its no-data and anything outside it count as water, as in DARTS) or from water
polygons in any vector format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio import features, warp
from rasterio.enums import Resampling

from rts_core.errors import InputError, RunError, one_line
from rts_core.vector import data_path, is_vector_file, is_virtual, read_vector


class WaterSource:
    def __init__(self, path: Path, classes: tuple[int, ...]):
        self.path, self.classes = data_path(path), classes
        self.is_vector = is_vector_file(self.path)
        if self.is_vector:
            frame = read_vector(self.path)
            if frame.crs is None:
                raise ValueError("the water polygons have no CRS")
            self.frame = frame
        else:
            try:
                opened = rasterio.open(path)
            except rasterio.errors.RasterioIOError as exc:
                raise InputError(f"cannot read land cover: {one_line(exc)}") from None
            with opened as dataset:
                if dataset.crs is None:
                    raise ValueError("the land cover has no CRS")

    def mask(self, shape, transform, crs) -> np.ndarray:
        if self.is_vector:
            frame = self.frame.to_crs(crs)
            geometries = [g for g in frame.geometry if g is not None and not g.is_empty]
            if not geometries:
                return np.zeros(shape, bool)
            return features.rasterize(geometries, out_shape=shape, transform=transform, fill=0, dtype="uint8") > 0
        classes = np.full(shape, np.nan, np.float32)
        try:
            with rasterio.open(self.path) as dataset:
                nodata = dataset.nodata
                warp.reproject(rasterio.band(dataset, 1), classes, dst_transform=transform, dst_crs=crs,
                               dst_nodata=np.nan, src_nodata=nodata, resampling=Resampling.nearest)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read land cover {self.path}: {exc}") from None
        return ~np.isfinite(classes) | np.isin(classes, self.classes)  # NaN and inf are no-data


def open_water(path: Path | None, classes: tuple[int, ...] = (1,)) -> WaterSource | None:
    """The run's --water source (None if not given) with its water ``classes``; one that
    cannot be used stops the run before any scene (RunError: one line, exit 2)."""
    if path is None:
        return None
    if not is_virtual(path) and not Path(path).exists():
        raise RunError(f"--water {path}", "no such file")
    try:
        return WaterSource(data_path(path), classes)
    except (InputError, ValueError) as exc:
        raise RunError(f"--water {path}", str(exc)) from None
