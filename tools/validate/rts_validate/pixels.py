"""Pixel-level accuracy of a prediction raster against a reference raster or polygons,
window by window (a scene is never held whole).

The prediction is a probability raster (positive where it reaches ``threshold``: the
one rule of rts_core.metrics, as rts-ensemble binarises) or a 0/1 mask. A reference
raster is resampled (nearest) onto the prediction's grid and is positive where its
value exceeds 0.5; reference polygons are rasterised on that grid (pixel centres
inside). Only pixels valid in both count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rts_core.errors import InputError
from rts_core.log import progress, scene_items
from rts_core.metrics import PIXEL_KEYS, confusion, is_rts, pixel_scores, thresholds_reached

__all__ = ["PIXEL_KEYS", "assess_pixels", "confusion", "pixel_scores", "sweep_thresholds"]


def _open_raster(path: Path):
    """The reference opened as a raster, or None when it is a vector file (opened once:
    the test and the reading are the same call)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    from rts_core.vector import is_vector_file

    if is_vector_file(path):
        return None
    try:
        dataset = rasterio.open(path)
    except RasterioIOError:
        return None
    if dataset.count == 0:  # e.g. a GeoPackage of vectors under another extension
        dataset.close()
        return None
    return dataset


def burned(geometries, window, transform) -> np.ndarray:
    """Pixels of ``window`` whose centre lies in any of ``geometries``."""
    from rasterio.features import rasterize
    from rasterio.windows import transform as window_transform

    if not len(geometries):
        return np.zeros((window.height, window.width), bool)
    return rasterize(geometries, out_shape=(window.height, window.width), fill=0, default_value=1,
                     transform=window_transform(window, transform), dtype="uint8").astype(bool)


class RasterReference:
    """A reference raster on the prediction's grid (nearest): positive where its value
    exceeds 0.5, valid where it has data and is finite."""

    def __init__(self, source, prediction):
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        self.source = source
        self.vrt = WarpedVRT(source, crs=prediction.crs, transform=prediction.transform, width=prediction.width,
                             height=prediction.height, resampling=Resampling.nearest)
        self.scale, self.offset = (source.scales or (1.0,))[0], (source.offsets or (0.0,))[0]

    def read(self, window):
        values = self.vrt.read(1, window=window, masked=True)
        referenced = values.filled(0).astype(np.float64) * self.scale + self.offset
        return referenced > 0.5, ~np.ma.getmaskarray(values) & np.isfinite(referenced)

    def close(self):
        self.vrt.close()
        self.source.close()


class PolygonReference:
    """Reference polygons rasterised on the prediction's grid (pixel centres inside);
    every pixel valid."""

    def __init__(self, ref_path, prediction):
        import shapely

        from rts_core.vector import polygonal_rows, read_vector, repair_geometries

        frame = read_vector(ref_path)
        try:
            frame = frame[polygonal_rows(frame.geometry.values, f"{ref_path} (reference)")]
        except InputError as exc:
            raise InputError(str(exc), source=ref_path) from None
        if frame.crs is None and len(frame):
            raise InputError("the reference polygons have no CRS", source=ref_path)
        self.polygons = repair_geometries(frame.to_crs(prediction.crs).geometry.values if len(frame) else [],
                                          "reference")
        self.tree = shapely.STRtree(self.polygons)
        self.transform = prediction.transform

    def read(self, window):
        import rasterio.windows
        import shapely

        hits = self.tree.query(shapely.box(*rasterio.windows.bounds(window, self.transform))) \
            if len(self.polygons) else []
        return burned(self.polygons[hits] if len(hits) else [], window, self.transform), None

    def close(self):
        pass


def reference_on(ref_path, prediction):
    """The reference (raster or polygons) on the prediction's grid."""
    source = _open_raster(ref_path)
    if source is None:
        return PolygonReference(ref_path, prediction)
    if source.crs is None:
        source.close()
        raise InputError("the reference raster has no CRS", source=ref_path)
    return RasterReference(source, prediction)


def pixel_windows(pred_path: Path, ref_path: Path, coverage=None, window_rows: int = 1024):
    """(predicted value, reference positive, valid) per row window of one prediction
    raster, valid where both are and, with ``coverage`` (polygons), inside it."""
    import rasterio

    from rts_core.raster import row_windows

    try:
        prediction = rasterio.open(pred_path)
    except rasterio.errors.RasterioIOError:
        raise InputError("not a readable raster", source=pred_path) from None
    with prediction:
        if prediction.crs is None:
            raise InputError("the prediction raster has no CRS", source=pred_path)
        scale, offset = (prediction.scales or (1.0,))[0], (prediction.offsets or (0.0,))[0]
        reference = reference_on(ref_path, prediction)
        covered = None
        if coverage is not None:
            covered = [g for g in coverage.to_crs(prediction.crs).geometry.values if g is not None and not g.is_empty]
        try:
            windows = list(row_windows(prediction.height, prediction.width, window_rows))
            for window in scene_items(windows, Path(pred_path).name, unit="window"):
                values = prediction.read(1, window=window, masked=True)
                predicted = values.filled(0).astype(np.float64) * scale + offset
                valid = ~np.ma.getmaskarray(values) & np.isfinite(predicted)  # NaN and inf are invalid
                ref_positive, ref_valid = reference.read(window)
                if ref_valid is not None:
                    valid &= ref_valid
                if covered is not None:
                    valid &= burned(covered, window, prediction.transform)
                yield predicted, ref_positive, valid
        finally:
            reference.close()


def assess_pixels(pred_path: Path, ref_path: Path, threshold: float = 0.5, window_rows: int = 1024) -> dict:
    """The overall pixel scores of one prediction raster against its reference."""
    totals = np.zeros(4, np.int64)
    for predicted, ref_positive, valid in pixel_windows(pred_path, ref_path, window_rows=window_rows):
        totals += confusion(is_rts(predicted, threshold), ref_positive, valid)
    if totals.sum() == 0:
        raise InputError("no pixel is valid in both the prediction and the reference raster (do they overlap?)",
                         source=ref_path if _open_raster(ref_path) is not None else pred_path)
    return pixel_scores(*totals)


DEFAULT_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 ... 0.95


def sweep_thresholds(pred_paths, ref_path: Path, thresholds=DEFAULT_THRESHOLDS, coverage=None) -> list[dict]:
    """Pixel scores at every threshold (positive: p >= threshold, as ``pixels``), over all
    prediction rasters together, in one pass: each pixel's probability is counted in
    the interval between thresholds it falls in, and positives at a threshold are the
    pixels of every interval above it."""
    thresholds = np.asarray(sorted(thresholds), float)
    counts = np.zeros((2, thresholds.size + 1), np.int64)  # reference negative / positive x interval
    valid_total = 0
    for path in progress(pred_paths, label="prediction rasters"):
        for predicted, ref_positive, valid in pixel_windows(path, ref_path, coverage):
            interval = thresholds_reached(predicted[valid], thresholds)
            truth = ref_positive[valid]
            counts[0] += np.bincount(interval[~truth], minlength=thresholds.size + 1)
            counts[1] += np.bincount(interval[truth], minlength=thresholds.size + 1)
            valid_total += int(valid.sum())
    if valid_total == 0:
        raise InputError("no pixel is valid in the predictions, the reference and the coverage together",
                         source=ref_path)
    above = counts[:, ::-1].cumsum(axis=1)[:, ::-1]  # above[:, k]: pixels reaching at least k thresholds
    rows = []
    for index, threshold in enumerate(thresholds):
        tp, fp = int(above[1, index + 1]), int(above[0, index + 1])
        fn, tn = int(counts[1].sum()) - tp, int(counts[0].sum()) - fp
        rows.append({"threshold": float(threshold), **pixel_scores(tp, fp, fn, tn)})
    return rows
