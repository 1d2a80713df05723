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


def weighted_mean(probabilities: list[np.ndarray], valids: list[np.ndarray], weights: list[float]):
    """Mean probability (float32) and validity: valid where every model is valid."""
    total = np.zeros(probabilities[0].shape, np.float32)
    for probability, weight in zip(probabilities, weights, strict=True):
        total += probability * np.float32(weight)
    total /= np.float32(sum(weights))
    valid = np.logical_and.reduce(valids)
    return total, valid


def forbidden_zone(valid: np.ndarray, edge_px: int) -> np.ndarray:
    """Pixels within ``edge_px`` of invalid data or of the image border."""
    zone = ~valid
    if edge_px > 0:
        padded = np.pad(zone, edge_px, constant_values=True)  # the border counts as invalid
        grown = ndimage.binary_dilation(padded, structure=EIGHT, iterations=edge_px)
        zone = grown[edge_px:-edge_px, edge_px:-edge_px]
    return zone


def clean(probability: np.ndarray, valid: np.ndarray, options: CleanupOptions,
          water: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Labels (int32, 0 = background) of the objects that survive, renumbered 1..n."""
    binary = (probability > options.threshold) & valid
    labels, count = ndimage.label(binary, structure=EIGHT)
    if count == 0:
        return labels, 0
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(binary, labels, index)
    touching = ndimage.maximum(forbidden_zone(valid, options.edge_px), labels, index).astype(bool)
    keep = (sizes >= options.min_px) & ~touching
    if water is not None:
        wet = ndimage.sum_labels(water, labels, index) / np.maximum(sizes, 1)
        keep &= wet <= options.max_water
    remap = np.zeros(count + 1, np.int32)
    remap[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    return remap[labels], int(keep.sum())
