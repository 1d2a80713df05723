"""Auxiliary rasters (DEM, TCVIS, land cover) read window by window around a block of
the scene grid: whatever their CRS, resolution or size (a pan-Arctic mosaic or VRT),
only the part a block needs is read (resample.py warps it onto the block)."""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np
import rasterio
from rasterio import Affine, warp
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window, from_bounds

from rts_core.errors import InputError, RunError
from rts_core.parallel import PerThreadDataset
from rts_core.raster import outer_window

from .resample import Patch


class Auxiliary:
    """An auxiliary raster opened once per run and read by windows.

    Threads share one handle and take turns to read, so that GDAL's block cache
    decodes each compressed tile once: neighbouring blocks' windows overlap by their
    margins (per-thread handles decoded those tiles twice). With ``metric=True`` (the
    DEM) a raster in geographic coordinates is seen through a warped view in the
    scene's CRS, so that terrain is computed in metres; warping is work, so each
    thread has its own view."""

    def __init__(self, path, name: str, metric: bool = False):
        self.path, self.name, self.metric = str(path), name, metric
        try:
            dataset = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as exc:
            raise ValueError(f"cannot open the {name} raster: {exc}") from None
        if dataset.crs is None:
            dataset.close()
            raise ValueError(f"the {name} raster has no CRS")
        self.geographic = dataset.crs.is_geographic
        self._dataset = dataset
        self._lock = threading.Lock()
        self._views: dict = {}

    def release_views(self) -> None:
        """Close the warped views (each thread's, with the raster under it): threads
        live for one scene, so a run over many scenes would otherwise keep a view and
        two open files per worker thread of every scene."""
        with self._lock:
            views, self._views = list(self._views.values()), {}
        for view in views:
            view.close()

    def close(self) -> None:
        self.release_views()
        with self._lock:
            self._dataset.close()

    @contextlib.contextmanager
    def view(self, scene_crs):
        """The dataset to read from for a scene in ``scene_crs``, held for this thread."""
        if not (self.metric and self.geographic):
            with self._lock:
                yield self._dataset
            return
        key = str(scene_crs)
        with self._lock:
            if key not in self._views:
                self._views[key] = PerThreadDataset(key, lambda: WarpedVRT(
                    rasterio.open(self.path), crs=scene_crs, resampling=Resampling.bilinear),
                    closer=_close_view)
            views = self._views[key]
        yield views.get()

    def pixel_m(self, crs) -> float:
        """Pixel size of the raster as seen for a scene in ``crs`` (metres for the DEM)."""
        with self.view(crs) as view:
            return float(abs(view.transform.a))

    def check_overlap(self, bounds, crs) -> None:
        """An input error unless the raster overlaps the scene ``bounds`` (in ``crs``)."""
        with self.view(crs) as view:
            view_crs, own = view.crs, view.bounds
        left, bottom, right, top = warp.transform_bounds(crs, view_crs, *bounds, densify_pts=21)
        if left > right and view_crs.is_geographic:  # the scene straddles 180°: [left, 180] and [-180, right]
            apart = left >= own.right and right <= own.left
        else:
            apart = left >= own.right or right <= own.left
        if apart or bottom >= own.top or top <= own.bottom:
            raise InputError(f"the {self.name} raster ({self.path}) does not overlap the scene")

    def read(self, bounds, crs, margin_px: int, indexes=None) -> Patch | None:
        """The window of the raster covering ``bounds`` (in ``crs``) plus ``margin_px``
        of its own pixels; None where the raster does not reach."""
        with self.view(crs) as view:
            left, bottom, right, top = warp.transform_bounds(crs, view.crs, *bounds, densify_pts=21)
            if left > right and view.crs.is_geographic:
                # GDAL's bounds of a block that straddles 180° run from ``left`` east across
                # it to ``right``: read it as one patch whose longitudes go on past 180
                # (GDAL's warper maps those back), from both ends of the raster
                return self._read_across_antimeridian(view, left, bottom, right + 360.0, top, margin_px, indexes)
            window = outer_window((left, bottom, right, top), view.transform, margin_px=margin_px,
                                  shape=(view.height, view.width))
            if window is None:
                return None
            data = view.read(indexes, window=window, masked=True)
            where, view_crs = view.window_transform(window), view.crs
        if data.ndim == 2:
            data = data[np.newaxis]
        return Patch(data.astype(np.float32).filled(np.nan), where, view_crs)


    def _read_across_antimeridian(self, view, left, bottom, right, top, margin_px, indexes) -> Patch | None:
        """The patch over unwrapped longitudes [left, right] (right beyond 180): the
        raster's columns appear once as they are and once shifted by a full turn."""
        turn = 360.0 / view.transform.a  # columns per 360°
        if abs(turn - round(turn)) > 1e-6:
            raise InputError(f"the {self.name} raster ({self.path}) cannot be read across the antimeridian: "
                             "its pixel width does not divide 360°")
        turn = round(turn)
        window = from_bounds(left, bottom, right, top, transform=view.transform)
        col0 = math.floor(window.col_off) - margin_px
        col1 = math.ceil(window.col_off + window.width) + margin_px
        row0 = max(math.floor(window.row_off) - margin_px, 0)
        row1 = min(math.ceil(window.row_off + window.height) + margin_px, view.height)
        if row1 <= row0:
            return None
        count = 1 if isinstance(indexes, int) else len(indexes) if indexes is not None else view.count
        data = np.full((count, row1 - row0, col1 - col0), np.nan, np.float32)
        found = False
        for shift in (0, turn):  # raster column c lies at unwrapped column c + shift
            first, last = max(col0, shift), min(col1, shift + view.width)
            if last <= first:
                continue
            part = view.read(indexes, window=Window(first - shift, row0, last - first, row1 - row0), masked=True)
            data[:, :, first - col0:last - col0] = part.reshape(count, row1 - row0, last - first).astype(
                np.float32).filled(np.nan)
            found = True
        if not found:
            return None
        return Patch(data, view.transform * Affine.translation(col0, row0), view.crs)


def _close_view(view: WarpedVRT) -> None:
    """Close a warped view and the raster under it (closing the view alone leaves it open)."""
    source = view.src_dataset
    view.close()
    source.close()


@contextlib.contextmanager
def opened(path, name: str, option: str, metric: bool = False):
    """The auxiliary raster of a run-level option, open for the run (None if not
    given); one that cannot be used stops the run before any scene (exit 2)."""
    try:
        source = Auxiliary(path, name, metric) if path is not None else None
    except ValueError as exc:
        raise RunError(f"{option} {path}", str(exc)) from None
    try:
        yield source
    finally:
        if source is not None:
            source.close()
