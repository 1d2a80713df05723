"""One scene -> one input stack (CONTRACT.md section 3), streamed block by block.

Per block of the SR grid: reflectance and validity from the sensor's reader
(rts_prep.readers), NDVI, relative
elevation and slope computed on the DEM's own grid over the block plus a margin and
then resampled (cubic), TCVIS resampled (nearest), and optionally a water band from
land cover. Memory is bounded by the block size, whatever the scene size.

The stack is stored (rts_prep.encoding) as int16 with a per-band GDAL scale/offset (values are read as
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
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from rts_core import contract, preprocessing, raster
from rts_core import landcover as landcover_rules
from rts_core.errors import InputError
from rts_core.fingerprints import fingerprint
from rts_core.log import scene_items
from rts_core.parallel import ordered_map
from rts_core.runner import Plan

from . import sentinel2
from .auxiliary import Auxiliary, opened
from .encoding import NODATA, SCALE, encode_into
from .readers import PlanetBlocks, Sentinel2Blocks
from .resample import Patch, kernel_reach_px, resample
from .scene import open_scene
from .sentinel2 import Sentinel2Scene
from .terrain import relative_elevation, slope_degrees

log = logging.getLogger(__name__)

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
        stored[10] = landcover_rules.water(classes, options.water_classes)  # no class counts as water
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
