"""A water mask on a scene's grid, from a land-cover raster in any CRS (class codes;
its no-data and anything outside it count as water, as in DARTS) or from water
polygons in any vector format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio import features

from rts_core.errors import InputError, RunError
from rts_core.landcover import LandCover
from rts_core.vector import data_path, is_vector_file, is_virtual, read_vector


class WaterSource:
    """--water: water polygons, or a land-cover raster (rts_core.landcover) and its water classes."""

    def __init__(self, path: Path, classes: tuple[int, ...]):
        self.path, self.classes = data_path(path), classes
        self.is_vector = is_vector_file(self.path)
        if self.is_vector:
            frame = read_vector(self.path)
            if frame.crs is None:
                raise ValueError("the water polygons have no CRS")
            self.frame = frame
        else:
            self.landcover = LandCover(self.path)

    def mask(self, shape, transform, crs) -> np.ndarray:
        if not self.is_vector:
            return self.landcover.water(shape, transform, crs, self.classes)
        frame = self.frame.to_crs(crs)
        geometries = [g for g in frame.geometry if g is not None and not g.is_empty]
        if not geometries:
            return np.zeros(shape, bool)
        return features.rasterize(geometries, out_shape=shape, transform=transform, fill=0, dtype="uint8") > 0


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
