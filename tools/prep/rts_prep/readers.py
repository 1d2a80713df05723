"""The sensors' readers: a scene read block by block on the stack's grid, as stored
reflectance (int16), red and nir for NDVI, and validity. PlanetScope from its SR file
and udm2 (or legacy udm); Sentinel-2 L2A from its band files and SCL."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window, from_bounds
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from rts_core.errors import InputError
from rts_core.parallel import PerThreadDataset
from rts_core.raster import outer_window

from . import sentinel2
from .encoding import REFLECTANCE_DN_RANGE, SCALE, encode_into
from .scene import SceneFiles
from .sentinel2 import Sentinel2Scene
from .udm2 import valid_from_udm, valid_from_udm2

if TYPE_CHECKING:
    from .stack import PrepOptions

log = logging.getLogger(__name__)


class PlanetBlocks:
    """A PlanetScope scene read block by block: reflectance (DN / 10000, so the stored
    value is the DN) and validity from the SR no-data and udm2."""

    def __init__(self, scene: SceneFiles, options: PrepOptions):
        self.scene, self.options = scene, options
        self.srs = PerThreadDataset(scene.sr)
        self.udm2s = PerThreadDataset(scene.udm2) if scene.udm2 else None
        self.udms = PerThreadDataset(scene.udm) if scene.udm and not scene.udm2 else None
        self.window_offset = (0, 0)

    def grid(self):
        """(crs, transform, width, height) of the stack, after checking the files agree."""
        sr = self.srs.get()
        if self.udm2s is not None:
            udm2 = self.udm2s.get()
            if udm2.shape != sr.shape or udm2.transform != sr.transform or udm2.count != 8:
                raise InputError(f"udm2 {self.scene.udm2.name} does not match the SR grid or has not 8 bands")
            if udm2.crs is not None and udm2.crs != sr.crs:  # the same numbers in another CRS are another place
                raise InputError(f"udm2 {self.scene.udm2.name} is in {udm2.crs.to_string()}, the SR in "
                                 f"{sr.crs.to_string() if sr.crs else 'no CRS'}")
        elif self.udms is not None:
            udm = self.udms.get()
            if udm.shape != sr.shape or udm.transform != sr.transform or (udm.crs is not None and udm.crs != sr.crs):
                raise InputError(f"udm {self.scene.udm.name} does not match the SR grid")
            log.info("%s: no udm2; validity from the legacy udm %s (any flag: unusable)", self.scene.scene_id,
                     self.scene.udm.name)
        else:
            log.warning("%s: no udm2 or udm beside the SR file; only the SR no-data masks pixels", self.scene.sr)
        return sr.crs, sr.transform, sr.width, sr.height

    def validity_rule(self) -> str:
        if self.udm2s is None:
            return "udm_darts_v1" if self.udms is not None else "sr_nodata"
        return "udm2_darts_v1_light_haze" if self.options.keep_light_haze else "udm2_darts_v1"

    def read(self, window: Window):
        """Stored reflectance (4, rows, cols) int16, red and nir (in one common unit) and
        validity of one window of the stack's grid."""
        sr = self.srs.get()
        dn = sr.read(self.scene.bands, window=window)
        valid = sr.dataset_mask(window=window) > 0
        if self.udm2s is not None:
            valid &= valid_from_udm2(self.udm2s.get().read(window=window), self.options.keep_light_haze)
        elif self.udms is not None:
            valid &= valid_from_udm(self.udms.get().read(1, window=window))
        if dn.dtype.kind == "f":  # a float SR: NaN and infinity are no reflectance (they were stored 0 or 32767, valid)
            valid &= np.isfinite(dn).all(axis=0)
            stored = np.empty(dn.shape, np.int16)
            encode_into(stored, np.clip(dn, *REFLECTANCE_DN_RANGE), 1.0)
        else:
            stored = np.clip(dn, *REFLECTANCE_DN_RANGE).astype(np.int16)
        # red and nir as (clipped) DN: NDVI does not depend on the common scale
        return stored, stored[2].astype(np.float64), stored[3].astype(np.float64), valid

    def close(self):
        self.srs.close()
        for datasets in (self.udm2s, self.udms):
            if datasets is not None:
                datasets.close()


class Sentinel2Blocks:
    """A Sentinel-2 L2A scene read block by block on its 10 m grid (or the window of it
    that --bounds gives): reflectance = DN x scale + offset per band, validity from DN 0
    and the SCL classes (20 m, read nearest)."""

    def __init__(self, scene: Sentinel2Scene, options: PrepOptions):
        self.scene, self.options = scene, options
        self.bands = [PerThreadDataset(band.href) for band in scene.bands]
        self.scl = PerThreadDataset(scene.scl)
        self.window_offset = (0, 0)

    def grid(self):
        blue = self.bands[0].get()
        for name, dataset in zip(sentinel2.BANDS[1:], (b.get() for b in self.bands[1:]), strict=True):
            if dataset.crs != blue.crs or dataset.transform != blue.transform or dataset.shape != blue.shape:
                raise InputError(f"band {name} is not on the grid of band B02")
        scl = self.scl.get()
        if scl.crs != blue.crs or any(abs(a - b) > abs(scl.transform.a) for a, b in zip(scl.bounds, blue.bounds,
                                                                                           strict=True)):
            raise InputError("the scene classification (SCL) does not cover the tile of band B02")
        if abs(abs(blue.transform.a) - sentinel2.PIXEL_M) > 1e-6:
            log.warning("%s: band B02 has %.2f m pixels, not Sentinel-2's 10 m", self.scene.scene_id,
                        abs(blue.transform.a))
        width, height, transform = blue.width, blue.height, blue.transform
        if self.options.bounds is not None:
            window = outer_window(self.options.bounds, blue.transform, shape=(height, width), tolerance=1e-6)
            if window is None:
                raise InputError(f"--bounds {self.options.bounds} do not overlap the tile")
            self.window_offset = (int(window.col_off), int(window.row_off))
            width, height, transform = int(window.width), int(window.height), window_transform(window, transform)
        return blue.crs, transform, width, height

    def validity_rule(self) -> str:
        return "sentinel2_scl_invalid_" + "-".join(map(str, sorted(self.options.scl_invalid)))

    def read(self, window: Window):
        source = Window(window.col_off + self.window_offset[0], window.row_off + self.window_offset[1],
                        window.width, window.height)
        dn = np.stack([band.get().read(1, window=source) for band in self.bands])
        valid = (dn > 0).all(axis=0)  # DN 0 is Sentinel-2's no data
        reflectance = np.empty(dn.shape, np.float64)
        for i, band in enumerate(self.scene.bands):
            np.multiply(dn[i], band.scale, out=reflectance[i])
            reflectance[i] += band.offset
        np.clip(reflectance, REFLECTANCE_DN_RANGE[0] * SCALE["blue"], REFLECTANCE_DN_RANGE[1] * SCALE["blue"],
                out=reflectance)  # NaN stays NaN: invalid below
        stored = np.empty(dn.shape, np.int16)
        encode_into(stored, reflectance, SCALE["blue"])
        scl = self.scl.get()
        blue = self.bands[0].get()
        scl_window = from_bounds(*window_bounds(source, blue.transform), transform=scl.transform)
        classes = scl.read(1, window=scl_window, out_shape=dn.shape[1:], resampling=Resampling.nearest,
                           boundless=True, fill_value=0)
        valid &= ~np.isin(classes, self.options.scl_invalid)
        valid &= np.isfinite(reflectance).all(axis=0)  # a float COG's NaN or infinity is no reflectance
        return stored, reflectance[2], reflectance[3], valid

    def close(self):
        for band in self.bands:
            band.close()
        self.scl.close()
