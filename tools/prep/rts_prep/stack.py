"""One scene -> one input stack (CONTRACT.md section 3), streamed block by block.

Per block of the SR grid: reflectance and NDVI from the SR, validity from udm2, relative
elevation and slope computed on the DEM's own grid over the block plus a margin and
then resampled (cubic), TCVIS resampled (nearest), and optionally a water band from
land cover. Memory is bounded by the block size, whatever the scene size.

The stack is stored as int16 with a per-band GDAL scale/offset (values are read as
stored x scale + offset, in physical units), as DARTS v1 stored its inputs as scaled
integers: it halves the size of float32 and its write time. Reflectance (DN / 10000)
is exact; NDVI is kept to 1e-4, relative elevation and slope to 0.01 m and 0.01°.

Reflectance is stored clipped to 0-1 (CONTRACT.md section 3), and NDVI is computed from
the clipped red and nir, as darts-nextgen does
(darts-preprocessing/src/darts_preprocessing/engineering/indices.py, calculate_ndvi):
Sentinel-2 from baseline 04.00 on has negative reflectance over water and shadow, which
gave NDVI of -1.667 and worse. A pixel whose clipped red and nir are both 0 has no NDVI
and is invalid.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.transform
from rasterio import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window, from_bounds
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from rts_core import contract, preprocessing, raster
from rts_core.errors import InputError
from rts_core.fingerprints import fingerprint
from rts_core.log import scene_items
from rts_core.parallel import PerThreadDataset, ordered_map
from rts_core.runner import Plan

from . import sentinel2
from .auxiliary import Auxiliary, opened
from .resample import Patch, kernel_reach_px, resample
from .scene import SceneFiles, open_scene
from .sentinel2 import Sentinel2Scene
from .terrain import relative_elevation, slope_degrees
from .udm2 import valid_from_udm, valid_from_udm2

log = logging.getLogger(__name__)
NODATA = -32768
REFLECTANCE_DN_RANGE = (0, 10000)  # reflectance 0-1 stored as DN (scale 1e-4)
SCALE = {"blue": 1e-4, "green": 1e-4, "red": 1e-4, "nir": 1e-4, "ndvi": 1e-4,
         "relative_elevation": 0.01, "slope": 0.01, "tc_brightness": 1.0, "tc_greenness": 1.0,
         "tc_wetness": 1.0, "water": 1.0}


@dataclass(frozen=True)
class PrepOptions:
    tpi_radius_m: float = 100.0  # the DARTS code's circle (ee.Kernel.circle takes a radius)
    slope_method: str = "horn"
    keep_light_haze: bool = False
    water_classes: tuple[int, ...] = (1,)
    block_px: int = 1024
    threads: int = 2
    scl_invalid: tuple[int, ...] = sentinel2.INVALID_SCL  # Sentinel-2: SCL classes that are invalid
    bounds: tuple[float, float, float, float] | None = None  # Sentinel-2: a window of the tile (its CRS)
    asset_roots: tuple[Path, ...] = ()  # STAC: folders besides the item's own that local assets may lie in

    def settings(self) -> tuple:
        """What changes a stack (not the block size or the threads)."""
        return (self.tpi_radius_m, self.slope_method, self.keep_light_haze, self.water_classes, self.scl_invalid,
                self.bounds)


@dataclass(frozen=True)
class Sources:
    """The run's auxiliary rasters, open for the run."""

    dem: Auxiliary
    tcvis: Auxiliary
    landcover: Auxiliary | None = None

    @property
    def files(self) -> list[str]:
        return [source.path for source in (self.dem, self.tcvis, self.landcover) if source is not None]


@contextlib.contextmanager
def opened_sources(dem, tcvis, landcover=None):
    """--dem, --tcvis and --landcover open for the run; one that cannot be used stops
    the run before any scene (RunError, exit 2)."""
    with opened(dem, "DEM", "--dem", metric=True) as dem_source, opened(tcvis, "TCVIS", "--tcvis") as tcvis_source, \
            opened(landcover, "land cover", "--landcover") as landcover_source:
        yield Sources(dem_source, tcvis_source, landcover_source)


def band_names(with_water: bool) -> tuple[str, ...]:
    return contract.STACK_BANDS + ((contract.WATER_BAND,) if with_water else ())


def encode_into(out: np.ndarray, values: np.ndarray, scale: float) -> None:
    """Physical values -> int16 storage (rounded, clipped; NaN -> NODATA), in place."""
    stored = np.round(values / scale)
    stored[~np.isfinite(stored)] = NODATA
    np.clip(stored, NODATA, 32767, out=stored)
    out[:] = stored


def terrain_block(dem: Auxiliary, bounds, shape, transform, crs, options: PrepOptions) -> np.ndarray:
    """Relative elevation and slope (2, rows, cols) of one block, NaN where undefined."""
    pixel = dem.pixel_m(crs)
    reach = kernel_reach_px(Resampling.cubic, pixel / abs(transform.a))
    margin = int(np.ceil(options.tpi_radius_m / pixel)) + 2 + reach
    patch = dem.read(bounds, crs, margin_px=margin, indexes=1)
    if patch is None:
        return np.full((2, *shape), np.nan, np.float32)
    elevation = patch.data[0]
    terrain = np.stack([relative_elevation(elevation, pixel, options.tpi_radius_m),
                        slope_degrees(elevation, pixel, options.slope_method)])
    # Slope is undefined on the patch's outermost ring, which lies in the margin: drop
    # it, so that a patch without DEM gaps has no NaN (resample's faster case).
    patch = Patch(terrain[:, 1:-1, 1:-1], patch.transform @ Affine.translation(1, 1), patch.crs)
    terrain = resample(patch, 2, shape, transform, crs, Resampling.cubic)
    np.maximum(terrain[1], 0, out=terrain[1])  # cubic overshoot must not make slopes negative
    return terrain


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
            inner = from_bounds(*self.options.bounds, transform=blue.transform)
            first = np.floor(np.array([inner.col_off, inner.row_off]) + 1e-6).astype(int)
            last = np.ceil(np.array([inner.col_off + inner.width, inner.row_off + inner.height]) - 1e-6).astype(int)
            first, last = np.maximum(first, 0), np.minimum(last, [width, height])
            if (last <= first).any():
                raise InputError(f"--bounds {self.options.bounds} do not overlap the tile")
            window = Window(int(first[0]), int(first[1]), int(last[0] - first[0]), int(last[1] - first[1]))
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


def prep_block(blocks, transform_of_stack, crs, dem: Auxiliary, tcvis: Auxiliary, landcover: Auxiliary | None,
               window: Window, options: PrepOptions) -> tuple[np.ndarray, np.ndarray]:
    """Stored int16 band values (n, rows, cols; NODATA where invalid) and validity of
    one block of the stack's grid, each layer encoded as soon as it is computed."""
    shape = (int(window.height), int(window.width))
    transform = window_transform(window, transform_of_stack)
    bounds = window_bounds(window, transform_of_stack)
    names = band_names(landcover is not None)
    stored = np.empty((len(names), *shape), np.int16)
    stored[:4], red, nir, valid = blocks.read(window)
    total = nir + red  # float64: NDVI rounds exactly; red and nir clipped to 0-1, so NDVI is in -1...1
    with np.errstate(invalid="ignore", divide="ignore"):
        encode_into(stored[4], (nir - red) / total, SCALE["ndvi"])
    valid &= total > 0  # dark in both bands: no NDVI
    terrain = terrain_block(dem, bounds, shape, transform, crs, options)
    trend = resample(tcvis.read(bounds, crs, margin_px=2, indexes=[1, 2, 3]), 3, shape, transform, crs,
                     Resampling.nearest)
    valid &= np.isfinite(terrain).all(axis=0) & np.isfinite(trend).all(axis=0)
    for i, values in enumerate((*terrain, *trend), start=5):
        encode_into(stored[i], values, SCALE[names[i]])
    if landcover is not None:
        classes = resample(landcover.read(bounds, crs, margin_px=2, indexes=1), 1, shape, transform, crs,
                           Resampling.nearest)[0]
        # no-data or outside the land cover counts as water, as in DARTS
        stored[10] = np.isnan(classes) | np.isin(classes, options.water_classes)
    stored[:, ~valid] = NODATA
    return stored, valid


def preprocessing_record(options: PrepOptions, validity_rule: str, pixel_m: float,
                         sensor: str = contract.DEFAULT_SENSOR) -> dict:
    """What a model trained on this stack depends on (CONTRACT.md §3 RTS_PREPROCESSING)."""
    return {"tpi_radius_m": float(options.tpi_radius_m), "slope_method": options.slope_method,
            "terrain_resampling": "cubic", "validity_rule": validity_rule, "sensor": sensor,
            "pixel_size_m": round(float(pixel_m), 6)}


def plan_stack(path, *, out, sources: Sources, options: PrepOptions, version: str) -> Plan:
    """The stack a scene becomes, and the fingerprint of everything it is made from."""
    scene = open_scene(path, options.asset_roots)
    return Plan([out / contract.stack_name(scene.scene_id)], data=scene,
                fingerprint=fingerprint([*scene.files, *sources.files], options.settings(), version))


def make_stack(scene, *, dem, tcvis, out, landcover=None, options: PrepOptions = PrepOptions(),
               version: str = "rts-prep") -> Path:
    """One scene (PlanetScope SR file or folder, SAFE, STAC Item, COG folder) with the
    DEM and TCVIS (and land cover) as ``out``/<scene_id>.stack.tif, written whatever is
    there: the stage without the command's runner (no fingerprint skip, no progress)."""
    with opened_sources(dem, tcvis, landcover) as sources:
        plan = plan_stack(scene, out=Path(out), sources=sources, options=options, version=version)
        prep_scene(plan, sources=sources, options=options, version=version)
    return plan.outputs[0]


def prep_scene(plan: Plan, *, sources: Sources, options: PrepOptions, version: str) -> int:
    """Write the stack of the planned scene (atomically); returns the number of valid
    pixels. An input error if nothing is valid."""
    scene, out_path = plan.data, plan.outputs[0]
    dem, tcvis, landcover = sources.dem, sources.tcvis, sources.landcover
    names = band_names(landcover is not None)
    blocks = Sentinel2Blocks(scene, options) if isinstance(scene, Sentinel2Scene) else PlanetBlocks(scene, options)
    with contextlib.ExitStack() as stack:
        for source in (dem, tcvis, landcover):
            if source is not None:
                stack.callback(source.release_views)  # this scene's threads end with it
        stack.callback(blocks.close)
        try:
            crs, transform, width, height = blocks.grid()
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read: {exc}") from None
        bounds = rasterio.transform.array_bounds(height, width, transform)
        for source in (dem, tcvis):
            source.check_overlap((bounds[0], bounds[1], bounds[2], bounds[3]), crs)
        record = preprocessing_record(options, blocks.validity_rule(), abs(transform.a), scene.sensor)
        tags = raster.scene_tags(scene.scene_id, scene.acquired, version, sensor=scene.sensor,
                                 fingerprint=plan.fingerprint,
                                 **{contract.TAG_PREPROCESSING: preprocessing.dumps(record)})
        n_valid = 0
        writer = raster.CogWriter(out_path, width=width, height=height, count=len(names), dtype="int16",
                                  crs=crs, transform=transform, nodata=NODATA, tags=tags,
                                  band_descriptions=names, scales=[SCALE[n] for n in names],
                                  offsets=[0.0] * len(names), compress="zstd", compress_level=1,
                                  overview_resampling="nearest")

        def block(window):
            """One block, on a worker thread with its own dataset handles."""
            try:
                values, valid = prep_block(blocks, transform, crs, dem, tcvis, landcover, window, options)
            except rasterio.errors.RasterioIOError as exc:
                raise InputError(f"cannot read: {exc}") from None
            return window, values, int(valid.sum())

        windows = list(raster.block_windows(height, width, options.block_px))
        with writer as out:
            written = ordered_map(block, windows, workers=options.threads, ahead=options.threads + 1)
            for window, stored, count in scene_items(written, scene.scene_id, total=len(windows), unit="block"):
                out.write(stored, window=window)
                n_valid += count
            if n_valid == 0:
                raise InputError("no valid pixel at all (clouds and no-data flags, or no DEM/TCVIS under the scene)")
    return n_valid
