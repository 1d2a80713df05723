"""DARTS clean-up of an ensemble probability raster (pure numpy/scipy).

Objects are 8-connected groups of pixels above the threshold. An object is dropped when
it touches the invalid-data mask grown by ``edge_px`` or comes within ``edge_px`` of
the image border (its outline there is unknown), when it has fewer than ``min_px``
pixels, or when more than ``max_water`` of it lies on water.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class CleanupOptions:
    threshold: float = 0.5
    edge_px: int = 10
    min_px: int = 32
    max_water: float = 0.2


def forbidden_zone(valid: np.ndarray, edge_px: int) -> np.ndarray:
    """Pixels within ``edge_px`` of invalid data or of the image border."""
    zone = ~valid
    if edge_px > 0:
        # growing by edge_px steps of 8-connectivity = a (2 edge_px + 1) square maximum
        # filter; the border counts as invalid ("constant" mode with cval 1)
        zone = ndimage.maximum_filter(zone, size=2 * edge_px + 1, mode="constant", cval=True)
    return zone


def clean(probability: np.ndarray, valid: np.ndarray, options: CleanupOptions,
          water: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (int32, 0 = background) of the objects that survive, renumbered 1..n,
    and their pixel counts (object i at index i - 1), which the Level-1 attributes need."""
    binary = (probability > options.threshold) & valid
    labels, count = ndimage.label(binary, structure=EIGHT)
    if count == 0:
        return labels, np.zeros(0, np.int64)
    # per-object counts by bincount over the labelled pixels only: no scene-sized
    # temporaries beyond the labels themselves
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    zone = forbidden_zone(valid, options.edge_px)
    touching = np.zeros(count + 1, bool)
    touching[labels[zone]] = True
    del zone
    keep = (sizes >= options.min_px) & ~touching[1:]
    if water is not None:
        wet = np.bincount(labels[water], minlength=count + 1)[1:] / np.maximum(sizes, 1)
        keep &= wet <= options.max_water
    remap = np.zeros(count + 1, np.int32)
    remap[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    np.take(remap, labels, out=labels)  # in place: a scene-sized int32 array less
    return labels, sizes[keep].astype(np.int64)  # renumbering keeps the objects' order
