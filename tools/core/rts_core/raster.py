"""Cloud-Optimized GeoTIFF output, the ``RTS_*`` tags and window helpers.

Rasters are streamed: :class:`CogWriter` takes windows one at a time into a tiled
temporary GeoTIFF and, on success, converts it to a COG (tiled, compressed, with
overviews) under another temporary name before the atomic rename. Tags, band
descriptions, scale/offset and nodata travel with the copy. Nearest-neighbour
overviews are taken from each window as it is written (see :class:`CogWriter`).
"""

from __future__ import annotations

import contextlib
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
from rasterio import Affine
from rasterio._err import CPLE_BaseError  # what GDAL's errors raise (rasterio.errors has no base for them)
from rasterio.windows import Window

from . import atomic, contract
from .sceneid import check_acquired, format_acquired, parse_acquired

COG_BLOCKSIZE = 512


def silence_native_error_printing() -> bool:
    """Keep GDAL's and libtiff's process-wide error printers (of the libraries rasterio's
    wheel bundles) off stderr, so that a failed input gives its one error line only.

    A GDAL call made through rasterio reports its errors to rasterio, which raises them
    (our writers name the output and, where the disk is full, say so). What is left for
    the process-wide printers comes from threads no handler covers, GDAL's own COG
    compression workers, and from libtiff calls made without a file: they were printed
    bare beside the error line ("ERROR 1: TIFFAppendToStrip:Write error at scanline
    1024", "_tiffWriteProc: No space left on device."), while the failure itself still
    reaches the caller. Returns whether the bundled libraries were found (a conda or
    system GDAL keeps its own printers)."""
    import ctypes
    import glob
    import os

    libraries = os.path.join(os.path.dirname(rasterio.__file__), os.pardir, "rasterio.libs")
    found = {name: glob.glob(os.path.join(libraries, f"{name}-*.so*")) for name in ("libtiff", "libgdal")}
    if not all(found.values()):
        return False
    try:
        libtiff = ctypes.CDLL(found["libtiff"][0])
        libtiff.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        libtiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
        libtiff.TIFFSetErrorHandler(None)
        libgdal = ctypes.CDLL(found["libgdal"][0])
        libgdal.CPLSetErrorHandler.argtypes = [ctypes.c_void_p]
        libgdal.CPLSetErrorHandler.restype = ctypes.c_void_p
        libgdal.CPLSetErrorHandler(ctypes.cast(libgdal.CPLQuietErrorHandler, ctypes.c_void_p))
    except (OSError, AttributeError):
        return False
    return True


silence_native_error_printing()


def scene_tags(scene_id: str, acquired: datetime | str, tool_version: str, *,
               sensor: str = contract.DEFAULT_SENSOR, model: str | Sequence[str] | None = None,
               fingerprint: str | None = None, **extra: str) -> dict[str, str]:
    """The contract's per-scene tags (plus the output's fingerprint, see
    rts_core.runner, and any ``extra`` ones, e.g. the provider)."""
    if isinstance(acquired, datetime):
        acquired = format_acquired(acquired)
    tags = {contract.TAG_SCENE_ID: scene_id, contract.TAG_ACQUIRED: acquired,
            contract.TAG_SENSOR: sensor, contract.TAG_VERSION: tool_version}
    if model is not None:
        tags[contract.TAG_MODEL] = model if isinstance(model, str) else ",".join(model)
    if fingerprint is not None:
        tags[contract.TAG_FINGERPRINT] = fingerprint
    tags.update({key: str(value) for key, value in extra.items()})
    return tags


@dataclass(frozen=True)
class SceneInfo:
    """What the tags of a per-scene raster say about its scene."""

    scene_id: str
    acquired: datetime
    sensor: str
    model: str | None = None


class MissingTagError(ValueError):
    pass


def read_scene_info(dataset_or_path) -> SceneInfo:
    """Scene id, acquisition time and sensor from a raster's ``RTS_*`` tags; an
    acquisition outside 1990-2100 or a day from the id's is ImplausibleDate."""
    with _opened(dataset_or_path) as dataset:
        tags = dataset.tags()
    missing = [key for key in (contract.TAG_SCENE_ID, contract.TAG_ACQUIRED) if key not in tags]
    if missing:
        raise MissingTagError(f"raster lacks the tag(s) {', '.join(missing)}")
    scene_id = tags[contract.TAG_SCENE_ID]
    acquired = check_acquired(parse_acquired(tags[contract.TAG_ACQUIRED]), scene_id, contract.TAG_ACQUIRED)
    return SceneInfo(scene_id, acquired,
                     tags.get(contract.TAG_SENSOR, contract.DEFAULT_SENSOR),
                     tags.get(contract.TAG_MODEL))


@contextlib.contextmanager
def _opened(dataset_or_path):
    if isinstance(dataset_or_path, (str, Path)):
        with rasterio.open(dataset_or_path) as dataset:
            yield dataset
    else:
        yield dataset_or_path


def outer_window(bounds, transform, *, margin_px: int = 0, shape: tuple[int, int] | None = None,
                 tolerance: float = 0.0) -> Window | None:
    """The whole-pixel window covering ``bounds`` (left, bottom, right, top) on the grid
    of ``transform``, snapped outward, grown by ``margin_px`` on every side and, with
    ``shape`` (height, width), clipped to the raster; None when nothing is left.
    ``tolerance`` (pixels) keeps a bound that falls on a pixel edge from taking the
    next pixel too."""
    from rasterio.windows import from_bounds

    inner = from_bounds(*bounds, transform=transform)
    col0 = math.floor(inner.col_off + tolerance) - margin_px
    row0 = math.floor(inner.row_off + tolerance) - margin_px
    col1 = math.ceil(inner.col_off + inner.width - tolerance) + margin_px
    row1 = math.ceil(inner.row_off + inner.height - tolerance) + margin_px
    if shape is not None:
        col0, row0 = max(col0, 0), max(row0, 0)
        col1, row1 = min(col1, shape[1]), min(row1, shape[0])
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def row_windows(height: int, width: int, rows: int) -> Iterator[Window]:
    """Full-width strips of ``rows`` rows covering a raster top to bottom."""
    for row in range(0, height, rows):
        yield Window(0, row, width, min(rows, height - row))


def block_windows(height: int, width: int, size: int) -> Iterator[Window]:
    """Square blocks of ``size`` pixels (smaller at the right and bottom edges)."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Window(col, row, min(size, width - col), min(size, height - row))


def overview_factors(width: int, height: int, block: int = COG_BLOCKSIZE) -> list[int]:
    """The overview levels a COG gets (as GDAL's COG driver chooses them): halving
    until the smallest level fits in one block."""
    factors, factor = [], 2
    while max(math.ceil(width * 2 / factor), math.ceil(height * 2 / factor)) > block:
        factors.append(factor)
        factor *= 2
    return factors


def nearest_overview(array: np.ndarray, window: Window, factor: int) -> tuple[np.ndarray, Window] | None:
    """The part of the nearest-neighbour overview at ``factor`` that the pixels of
    ``window`` give (overview pixel i is full-resolution pixel i x factor, as GDAL
    samples it), and where it lies in the overview; None if the window holds none."""
    row_off, col_off = int(window.row_off), int(window.col_off)
    part = array[..., (-row_off) % factor::factor, (-col_off) % factor::factor]
    if part.shape[-1] == 0 or part.shape[-2] == 0:
        return None
    return part, Window(-(-col_off // factor), -(-row_off // factor), part.shape[-1], part.shape[-2])


class CogWriter:
    """Write a raster window by window; it appears as a COG under ``path`` only when
    the ``with`` block completes without error.

    >>> with CogWriter(path, width=w, height=h, count=1, dtype="uint8", crs=crs,
    ...                transform=transform, nodata=255, tags=tags) as out:
    ...     for window in row_windows(h, w, 512):
    ...         out.write(block, window=window)

    With ``overview_resampling="nearest"`` (and no mask written) the overview levels
    are sampled from each window as it arrives, into drafts of their own that the COG
    takes as they are: GDAL would otherwise read the whole raster again per level,
    which took most of the conversion time for multi-band stacks.
    """

    def __init__(self, path: Path | str, *, width: int, height: int, count: int, dtype: str,
                 crs, transform, nodata: float | None = None,
                 tags: Mapping[str, str] | None = None,
                 band_descriptions: Sequence[str] | None = None,
                 scales: Sequence[float] | None = None, offsets: Sequence[float] | None = None,
                 overview_resampling: str = "average", compress: str = "deflate",
                 compress_level: int | None = None):
        if crs is None:
            raise ValueError("a COG needs a CRS")
        self.path = Path(path)
        self.profile = dict(driver="GTiff", width=width, height=height, count=count,
                            dtype=dtype, crs=crs, transform=transform, nodata=nodata,
                            tiled=True, blockxsize=COG_BLOCKSIZE, blockysize=COG_BLOCKSIZE,
                            BIGTIFF="IF_SAFER", compress="none",
                            interleave="band")  # plain copies in; the COG interleaves once
        self.tags = dict(tags or {})
        self.band_descriptions = band_descriptions
        self.scales, self.offsets = scales, offsets
        self.overview_resampling = overview_resampling
        self.compress = compress
        self.compress_level = compress_level
        self._dataset = None
        self._draft: Path | None = None
        self._overviews: list[tuple[int, object, Path]] = []  # (factor, dataset, draft)

    def __enter__(self) -> CogWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._draft = atomic.temporary_path(self.path.with_suffix(".draft.tif"))
        try:
            with self._failures_named():
                self._open_drafts()
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _open_drafts(self) -> None:
        """The draft (uncompressed, tiled) and, for nearest overviews, one draft per level."""
        self._dataset = rasterio.open(self._draft, "w", **self.profile)
        dataset = self._dataset
        dataset.update_tags(**self.tags)
        if self.band_descriptions:
            for index, description in enumerate(self.band_descriptions, start=1):
                dataset.set_band_description(index, description)
        if self.scales is not None:
            dataset.scales = tuple(self.scales)
        if self.offsets is not None:
            dataset.offsets = tuple(self.offsets)
        if self.overview_resampling == "nearest":
            width, height = self.profile["width"], self.profile["height"]
            for factor in overview_factors(width, height):
                draft = atomic.temporary_path(self.path.with_suffix(f".overview{factor}.tif"))
                profile = dict(self.profile, width=math.ceil(width / factor),
                               height=math.ceil(height / factor),
                               transform=self.profile["transform"] @ Affine.scale(factor))
                self._overviews.append((factor, rasterio.open(draft, "w", **profile), draft))

    def write(self, array: np.ndarray, window: Window | None = None, indexes=None) -> None:
        """Write a (bands, rows, cols) or (rows, cols) array at ``window``."""
        if array.ndim == 2 and indexes is None:
            indexes = 1
        with self._failures_named():
            self._dataset.write(array, indexes=indexes, window=window)
            if window is None:
                window = Window(0, 0, self.profile["width"], self.profile["height"])
            for factor, overview, _ in self._overviews:
                sampled = nearest_overview(array, window, factor)
                if sampled is not None:
                    overview.write(sampled[0], indexes=indexes, window=sampled[1])

    @contextlib.contextmanager
    def _failures_named(self):
        """A GDAL write error as the output's own, in the OS's words where the disk is
        full (atomic.write_failure), while the drafts still show how full it is."""
        try:
            yield
        except (rasterio.errors.RasterioError, CPLE_BaseError, OSError) as exc:
            if isinstance(exc, atomic.IncompleteWrite):
                raise
            raise atomic.write_failure(self.path, exc) from None

    def write_mask(self, valid: np.ndarray, window: Window | None = None) -> None:
        """Write the per-dataset validity mask (True = valid). The mask needs overviews
        too, so GDAL makes them all from the finished raster instead."""
        self._drop_overviews()
        self._dataset.write_mask(np.where(valid, 255, 0).astype("uint8"), window=window)

    def _drop_overviews(self) -> None:
        for _, overview, draft in self._overviews:
            overview.close()
            atomic.remove_quietly(draft)
        self._overviews = []

    def __exit__(self, exc_type, exc, tb) -> None:
        draft = self._draft
        overview_drafts = [path for _, _, path in self._overviews]
        temporaries = [draft, Path(f"{draft}.msk"), *overview_drafts]
        try:
            with self._failures_named() if exc_type is None else contextlib.nullcontext():
                for dataset in [self._dataset, *(overview for _, overview, _ in self._overviews)]:
                    if dataset is not None:
                        dataset.close()
            if exc_type is None:
                source = draft
                if overview_drafts:
                    source = atomic.temporary_path(self.path.with_suffix(".vrt"))
                    temporaries.append(source)
                    with self._failures_named():
                        with_overviews(draft, overview_drafts, source)
                with atomic.atomic_path(self.path, verified=True) as temporary, self._failures_named():
                    to_cog(source, temporary, compress=self.compress, level=self.compress_level,
                           overview_resampling=self.overview_resampling)
                    # checked while the drafts still fill the disk, so that a full disk is named
                    atomic.verify_whole(temporary, self.path)
                    # the drafts go before the COG takes its name: once it is there, nothing
                    # of its writing is left, whenever the process is killed
                    atomic.remove_quietly(*temporaries)
        finally:
            self._overviews = []
            atomic.remove_quietly(*temporaries)


def with_overviews(raster: Path, overviews: Sequence[Path], vrt: Path) -> None:
    """Write a VRT of ``raster`` (all its metadata) whose bands have ``overviews``
    (same bands, coarsest last) as their overview levels."""
    rasterio.shutil.copy(str(Path(raster).resolve()), str(vrt), driver="VRT")
    tree = ET.parse(vrt)
    for band in tree.getroot().iter("VRTRasterBand"):
        for overview in overviews:
            element = ET.SubElement(band, "Overview")
            ET.SubElement(element, "SourceFilename", relativeToVRT="0").text = str(Path(overview).resolve())
            ET.SubElement(element, "SourceBand").text = band.get("band")
    tree.write(vrt)


def to_cog(source: Path | str, destination: Path | str, *, compress: str = "deflate",
           level: int | None = None, overview_resampling: str = "average") -> None:
    """Copy any GDAL raster to a Cloud-Optimized GeoTIFF (tiled, compressed, with
    overviews down to one block). ``level``: compression level (1 = fastest)."""
    options = {"LEVEL": str(level)} if level is not None else {}
    rasterio.shutil.copy(
        str(source), str(destination), driver="COG", COMPRESS=compress.upper(),
        PREDICTOR="YES", BLOCKSIZE=str(COG_BLOCKSIZE), OVERVIEWS="AUTO",
        OVERVIEW_RESAMPLING=overview_resampling.upper(), RESAMPLING="NEAREST",
        BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS", **options)


def write_cog(path: Path | str, array: np.ndarray, *, crs, transform, nodata=None,
              tags=None, band_descriptions=None, scales=None, offsets=None,
              overview_resampling: str = "average", valid: np.ndarray | None = None) -> Path:
    """Write a whole in-memory array (bands, rows, cols) as a COG, atomically.
    ``valid`` optionally gives a per-dataset mask (True = valid)."""
    if array.ndim == 2:
        array = array[np.newaxis]
    count, height, width = array.shape
    with CogWriter(path, width=width, height=height, count=count, dtype=array.dtype.name,
                   crs=crs, transform=transform, nodata=nodata, tags=tags,
                   band_descriptions=band_descriptions, scales=scales, offsets=offsets,
                   overview_resampling=overview_resampling) as out:
        out.write(array)
        if valid is not None:
            out.write_mask(valid)
    return Path(path)
