"""DARTS clean-up of an ensemble probability raster (pure numpy/scipy).

Objects are 8-connected groups of pixels whose probability reaches the threshold
(p >= threshold, as DARTS v1's ensemble step). An object is dropped when any of its
pixels lies within Euclidean distance ``edge_px`` of invalid data or of the image
border (its outline there is unknown; both DARTS codes grow the invalid area by
``skimage.morphology.disk(edge_px)``), when it has fewer than ``min_px`` pixels, or
when more than ``max_water`` of it lies on water. :func:`clean_objects` also hands back
the dropped objects with their reasons (``edge``, ``size``, ``water``), for the quicklook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from rts_core.metrics import is_rts

EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class CleanupOptions:
    threshold: float = 0.5
    edge_px: int = 10
    min_px: int = 32
    max_water: float = 0.2


def forbidden_zone(valid: np.ndarray, edge_px: int) -> np.ndarray:
    """Pixels within Euclidean distance ``edge_px`` of invalid data or of the image
    border (pixels outside the image count as invalid): the invalid area dilated by a
    disk of radius ``edge_px`` (dy² + dx² <= edge_px², skimage's ``disk``).

    A disk is a stack of row spans, so the dilation is, per row offset dy, a horizontal
    maximum filter of half-width floor(sqrt(edge_px² - dy²)) shifted by dy: a handful of
    1-D passes (7 for 10 px), about four times faster than a distance transform."""
    invalid = ~valid
    if edge_px <= 0:
        return invalid
    rows, cols = valid.shape
    padded = np.pad(invalid, edge_px, constant_values=True).view(np.uint8)
    del invalid
    zone = np.zeros((rows, cols), bool)
    offsets = np.arange(-edge_px, edge_px + 1)
    half_widths = np.floor(np.sqrt(edge_px**2 - offsets**2 + 1e-9)).astype(int)
    for half in np.unique(half_widths):
        spread = ndimage.maximum_filter1d(padded, 2 * half + 1, axis=1)[:, edge_px:edge_px + cols].view(bool)
        for dy in offsets[half_widths == half]:
            zone |= spread[edge_px + dy:edge_px + dy + rows]
    return zone


REASONS = ("edge", "size", "water")  # why an object is dropped, in this order


@dataclass
class Cleaned:
    """The clean-up's result: the surviving objects, renumbered 1..n (``labels``, int32,
    0 = background) with their pixel counts (object i at index i - 1), and, when asked
    for, the dropped objects numbered 1..m in ``dropped`` (0 elsewhere) with the reasons
    each was dropped for (object j at index j - 1, a tuple of :data:`REASONS`)."""

    labels: np.ndarray
    n_pixels: np.ndarray
    dropped: np.ndarray | None = None
    reasons: list[tuple[str, ...]] | None = None


def clean_objects(probability: np.ndarray, valid: np.ndarray, options: CleanupOptions,
                  water: np.ndarray | None = None, keep_dropped: bool = False) -> Cleaned:
    """The DARTS clean-up (module docstring). With ``keep_dropped`` the objects it removes
    are labelled too, each with every rule it fails (one more scene-sized int32 array)."""
    binary = is_rts(probability, options.threshold) & valid
    labels, count = ndimage.label(binary, structure=EIGHT)
    del binary
    if count == 0:
        return Cleaned(labels, np.zeros(0, np.int64), np.zeros_like(labels) if keep_dropped else None,
                       [] if keep_dropped else None)
    # per-object counts by bincount over the labelled pixels only: no scene-sized
    # temporaries beyond the labels themselves
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    zone = forbidden_zone(valid, options.edge_px)
    touching = np.zeros(count + 1, bool)
    touching[labels[zone]] = True
    del zone
    failed = {"edge": touching[1:], "size": sizes < options.min_px}
    if water is not None:
        wet = np.bincount(labels[water], minlength=count + 1)[1:] / np.maximum(sizes, 1)
        failed["water"] = wet > options.max_water
    keep = ~np.logical_or.reduce(list(failed.values()))
    dropped = reasons = None
    if keep_dropped:
        gone = np.flatnonzero(~keep)
        reasons = [tuple(r for r in REASONS if r in failed and failed[r][i]) for i in gone]
        renumber = np.zeros(count + 1, np.int32)
        renumber[gone + 1] = np.arange(1, gone.size + 1)
        dropped = renumber[labels]
    remap = np.zeros(count + 1, np.int32)
    remap[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    np.take(remap, labels, out=labels)  # in place: a scene-sized int32 array less
    # renumbering keeps the objects' order
    return Cleaned(labels, sizes[keep].astype(np.int64), dropped, reasons)


def clean(probability: np.ndarray, valid: np.ndarray, options: CleanupOptions,
          water: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (int32, 0 = background) of the objects that survive, renumbered 1..n,
    and their pixel counts (object i at index i - 1), which the Level-1 attributes need."""
    cleaned = clean_objects(probability, valid, options, water)
    return cleaned.labels, cleaned.n_pixels
