"""Cloud-Optimized GeoTIFF output, the ``RTS_*`` tags and window helpers.

Rasters are streamed: :class:`CogWriter` takes windows one at a time into a tiled
temporary GeoTIFF and, on success, converts it to a COG (tiled, compressed, with
overviews) under another temporary name before the atomic rename. Tags, band
descriptions, scale/offset and nodata travel with the copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from . import atomic, contract
from .sceneid import format_acquired, parse_acquired

COG_BLOCKSIZE = 512


def scene_tags(scene_id: str, acquired: datetime | str, tool_version: str, *,
               sensor: str = contract.DEFAULT_SENSOR, model: str | Sequence[str] | None = None,
               **extra: str) -> dict[str, str]:
    """The contract's per-scene tags (plus any ``extra`` ones, e.g. the provider)."""
    if isinstance(acquired, datetime):
        acquired = format_acquired(acquired)
    tags = {contract.TAG_SCENE_ID: scene_id, contract.TAG_ACQUIRED: acquired,
            contract.TAG_SENSOR: sensor, contract.TAG_VERSION: tool_version}
    if model is not None:
        tags[contract.TAG_MODEL] = model if isinstance(model, str) else ",".join(model)
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
    """Scene id, acquisition time and sensor from a raster's ``RTS_*`` tags."""
    with _opened(dataset_or_path) as dataset:
        tags = dataset.tags()
    missing = [key for key in (contract.TAG_SCENE_ID, contract.TAG_ACQUIRED) if key not in tags]
    if missing:
        raise MissingTagError(f"raster lacks the tag(s) {', '.join(missing)}")
    return SceneInfo(tags[contract.TAG_SCENE_ID], parse_acquired(tags[contract.TAG_ACQUIRED]),
                     tags.get(contract.TAG_SENSOR, contract.DEFAULT_SENSOR),
                     tags.get(contract.TAG_MODEL))


@contextlib.contextmanager
def _opened(dataset_or_path):
    if isinstance(dataset_or_path, (str, Path)):
        with rasterio.open(dataset_or_path) as dataset:
            yield dataset
    else:
        yield dataset_or_path


def row_windows(height: int, width: int, rows: int) -> Iterator[Window]:
    """Full-width strips of ``rows`` rows covering a raster top to bottom."""
    for row in range(0, height, rows):
        yield Window(0, row, width, min(rows, height - row))


def block_windows(height: int, width: int, size: int) -> Iterator[Window]:
    """Square blocks of ``size`` pixels (smaller at the right and bottom edges)."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Window(col, row, min(size, width - col), min(size, height - row))


class CogWriter:
    """Write a raster window by window; it appears as a COG under ``path`` only when
    the ``with`` block completes without error.

    >>> with CogWriter(path, width=w, height=h, count=1, dtype="uint8", crs=crs,
    ...                transform=transform, nodata=255, tags=tags) as out:
    ...     for window in row_windows(h, w, 512):
    ...         out.write(block, window=window)
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
                            BIGTIFF="IF_SAFER", compress="none")
        self.tags = dict(tags or {})
        self.band_descriptions = band_descriptions
        self.scales, self.offsets = scales, offsets
        self.overview_resampling = overview_resampling
        self.compress = compress
        self.compress_level = compress_level
        self._dataset = None
        self._draft: Path | None = None

    def __enter__(self) -> CogWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._draft = atomic.temporary_path(self.path.with_suffix(".draft.tif"))
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
        return self

    @property
    def dataset(self):
        return self._dataset

    def write(self, array: np.ndarray, window: Window | None = None, indexes=None) -> None:
        """Write a (bands, rows, cols) or (rows, cols) array at ``window``."""
        if array.ndim == 2 and indexes is None:
            indexes = 1
        self._dataset.write(array, indexes=indexes, window=window)

    def write_mask(self, valid: np.ndarray, window: Window | None = None) -> None:
        """Write the per-dataset validity mask (True = valid)."""
        self._dataset.write_mask(np.where(valid, 255, 0).astype("uint8"), window=window)

    def __exit__(self, exc_type, exc, tb) -> None:
        draft = self._draft
        try:
            self._dataset.close()
            if exc_type is None:
                with atomic.atomic_path(self.path) as temporary:
                    to_cog(draft, temporary, compress=self.compress, level=self.compress_level,
                           overview_resampling=self.overview_resampling)
        finally:
            atomic.remove_quietly(draft, Path(f"{draft}.msk"))


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
