"""The model-input transform: a stack window -> what a network sees (CONTRACT.md §3, §4).

Training and inference both use :func:`normalise_band` (through :func:`model_input`, or
band by band when rts-infer normalises a stack's rows once for several models), so a
model sees during inference exactly the tensor it was trained on: bands picked by name,
stored -> physical (``stored x scale + offset`` of the stack) -> normalised (``x x scale
+ offset`` of the model's metadata) -> clipped, and 0 wherever the pixel is invalid
(DARTS v1 set masked pixels to 0 in every input; so do we, after normalisation). A pixel
is invalid where the stack's mask says so or where any selected band is NaN or infinite.

The two affine steps are one multiply-add in float32 (:func:`affine`: the factor and
term folded in float64 first): two passes over a band instead of five.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class Normalisation:
    """A model's input bands and their normalisation (from its ``rts`` metadata)."""

    bands: tuple[str, ...]
    scale: np.ndarray  # float32, per band
    offset: np.ndarray
    clip: tuple[float, float] | None = None

    @classmethod
    def of(cls, bands: Sequence[str], scale, offset, clip=None) -> Normalisation:
        scale, offset = np.asarray(scale, np.float32), np.asarray(offset, np.float32)
        if not (len(bands) == scale.size == offset.size):
            raise ValueError("bands, scale and offset differ in length")
        return cls(tuple(bands), scale, offset, tuple(float(c) for c in clip) if clip is not None else None)


@dataclass(frozen=True)
class StackBands:
    """Where a model's bands sit in one stack, and their stored -> physical scaling."""

    indexes: list[int]  # 1-based, in the model's order
    scale: np.ndarray  # float32, per selected band
    offset: np.ndarray


def stack_bands(dataset, bands: Sequence[str]) -> StackBands:
    """Select ``bands`` of an open stack by their band descriptions (names)."""
    names = list(dataset.descriptions)
    missing = [b for b in bands if b not in names]
    if missing:
        raise InputError(f"stack lacks band(s) {', '.join(missing)} needed by the model")
    twice = sorted({b for b in bands if names.count(b) > 1})
    if twice:  # which one the model should get is not the reader's guess
        raise InputError(f"stack has two bands named {', '.join(twice)}")
    indexes = [names.index(b) + 1 for b in bands]
    return StackBands(indexes, np.array([dataset.scales[i - 1] for i in indexes], np.float32),
                      np.array([dataset.offsets[i - 1] for i in indexes], np.float32))


def affine(selected: StackBands, normalisation: Normalisation) -> tuple[np.ndarray, np.ndarray]:
    """Per band factor and term (float32) that take stored values to the normalised
    input in one multiply-add: ``(stored x stack_scale + stack_offset) x scale + offset``."""
    scale = normalisation.scale.astype(np.float64)
    factor = selected.scale.astype(np.float64) * scale
    term = selected.offset.astype(np.float64) * scale + normalisation.offset.astype(np.float64)
    return factor.astype(np.float32), term.astype(np.float32)


def normalise_band(stored: np.ndarray, factor: np.float32, term: np.float32, out: np.ndarray) -> np.ndarray:
    """One band's stored values (rows, cols) -> ``out`` (float32): ``stored x factor + term``,
    the cast from the stored type inside the multiply (not clipped, not masked)."""
    np.multiply(stored, factor, out=out, casting="unsafe")
    out += term
    return out


def model_input(stored: np.ndarray, valid: np.ndarray, selected: StackBands, normalisation: Normalisation,
                out: np.ndarray | None = None) -> np.ndarray:
    """Model input (bands, rows, cols) float32 from stored band values of the same shape
    and the stack's validity mask (rows, cols). ``out`` (float32, same shape) is
    filled in place when given, to keep memory flat on reader threads."""
    x = out if out is not None else np.empty(stored.shape, np.float32)
    factor, term = affine(selected, normalisation)
    for band in range(x.shape[0]):
        normalise_band(stored[band], factor[band], term[band], x[band])
    invalid = ~valid | ~np.isfinite(x).all(axis=0)
    if normalisation.clip is not None:
        np.clip(x, normalisation.clip[0], normalisation.clip[1], out=x)
    x[:, invalid] = 0.0
    return x

