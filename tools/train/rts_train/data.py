"""Training data: stacks read into memory as stored integers, labels rasterised onto
them, and tiles sampled from them (slump tiles first, negatives added as training goes
on) with the augmentations of DARTS.

Targets per pixel: 1 slump, 0 no slump, 255 ignored. A pixel is ignored where the stack
is invalid, and, when footprints are given, outside the footprints of its scene (where
a missing label does not mean "no slump"). Without footprints the whole scene counts
as labelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio import features
from scipy import ndimage

from rts_core import contract, preprocessing
from rts_core.model_input import Normalisation, StackBands, model_input, stack_bands
from rts_core.runner import InputError
from rts_core.vector import read_vector

IGNORE = 255


@dataclass(eq=False)  # compared by identity: field-wise == would compare the arrays
class TrainingScene:
    scene_id: str
    path: Path
    stored: np.ndarray  # (bands, rows, cols) as stored in the stack, int16 or float
    bands: StackBands  # where the model's bands sit in the stack, stored -> physical
    valid: np.ndarray  # bool (rows, cols): the stack's mask
    target: np.ndarray  # uint8: 0, 1, IGNORE
    preprocessing: dict | None = None  # the stack's RTS_PREPROCESSING record

    @property
    def positives(self) -> int:
        return int((self.target == 1).sum())


def read_labels(path: Path, id_columns=("scene_id", "image_id")):
    """Label polygons with a scene id column, in any format GDAL reads."""
    frame = read_vector(path)
    column = next((c for c in id_columns if c in frame.columns), None)
    if column is None:
        raise InputError(f"labels have no {' or '.join(id_columns)} column")
    if frame.crs is None:
        raise InputError("labels have no CRS")
    return frame.rename(columns={column: "scene_id"})[["scene_id", "geometry"]]


def load_scene(path: Path, bands: list[str], labels, footprints) -> TrainingScene:
    """Read a stack's requested bands and rasterise its labels and footprints."""
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: {exc}") from None
    with dataset:
        scene_id = dataset.tags().get(contract.TAG_SCENE_ID)
        if not scene_id:
            raise InputError(f"not an rts-prep stack (no {contract.TAG_SCENE_ID} tag)")
        try:
            record = preprocessing.parse(dataset.tags().get(contract.TAG_PREPROCESSING))
        except preprocessing.RecordError as exc:
            raise InputError(str(exc)) from None
        selected = stack_bands(dataset, bands)
        stored = dataset.read(selected.indexes)
        valid = dataset.dataset_mask() > 0
        shape, transform, crs = dataset.shape, dataset.transform, dataset.crs
    mine = labels[labels.scene_id == scene_id].to_crs(crs)
    slump = np.zeros(shape, np.uint8)
    if len(mine):
        slump = features.rasterize(((g, 1) for g in mine.geometry if g is not None and not g.is_empty),
                                   out_shape=shape, transform=transform, fill=0, dtype="uint8")
    target = slump.copy()
    if footprints is not None:
        area = footprints[footprints.scene_id == scene_id].to_crs(crs)
        inside = np.zeros(shape, bool)
        if len(area):
            inside = features.rasterize(((g, 1) for g in area.geometry), out_shape=shape,
                                        transform=transform, fill=0, dtype="uint8") > 0
        target[~inside & (slump == 0)] = IGNORE
    target[~valid] = IGNORE
    return TrainingScene(scene_id, Path(path), stored, selected, valid, target, record)


class TileSampler:
    """Random tiles of ``size`` px: a share of them centred near slump pixels, the
    share of slump tiles falling from 90 % to 50 % over the epochs (DARTS: positives
    first, then more negatives to cut false positives)."""

    def __init__(self, scenes: list[TrainingScene], size: int, rng: np.random.Generator):
        self.scenes, self.size, self.rng = scenes, size, rng
        self.positive_pixels = [np.argwhere(s.target == 1) for s in scenes]

    def positive_share(self, epoch: int, epochs: int) -> float:
        return 0.9 - 0.4 * (epoch / max(epochs - 1, 1))

    def tile(self, positive: bool) -> tuple[int, int, int]:
        rng, size = self.rng, self.size
        candidates = [i for i, p in enumerate(self.positive_pixels) if len(p)] if positive else []
        if candidates:
            index = candidates[rng.integers(len(candidates))]
            row, col = self.positive_pixels[index][rng.integers(len(self.positive_pixels[index]))]
            margin = size // 8  # the slump pixel lands anywhere but at the tile's very edge
            row0 = row - rng.integers(margin, size - margin)
            col0 = col - rng.integers(margin, size - margin)
        else:
            index = int(rng.integers(len(self.scenes)))
            rows, cols = self.scenes[index].target.shape
            row0, col0 = rng.integers(0, max(rows - size, 0) + 1), rng.integers(0, max(cols - size, 0) + 1)
        rows, cols = self.scenes[index].target.shape
        row0 = int(np.clip(row0, 0, max(rows - size, 0)))
        col0 = int(np.clip(col0, 0, max(cols - size, 0)))
        return index, row0, col0

    def cut(self, index: int, row0: int, col0: int, normalisation: Normalisation) -> tuple[np.ndarray, np.ndarray]:
        """Model input (rts_core.model_input, as inference builds it) and target of a
        tile, reflection-padded up to ``size``."""
        scene, size = self.scenes[index], self.size
        window = (slice(row0, row0 + size), slice(col0, col0 + size))
        x = model_input(scene.stored[(slice(None), *window)], scene.valid[window], scene.bands, normalisation)
        target = scene.target[window]
        pad = ((0, size - target.shape[0]), (0, size - target.shape[1]))
        if any(p[1] for p in pad):
            x = np.pad(x, ((0, 0), *pad), mode="reflect")
            target = np.pad(target, pad, mode="constant", constant_values=IGNORE)
        return x, target


def augment(x: np.ndarray, y: np.ndarray, bands: list[str], rng: np.random.Generator, p: float = 0.5):
    """DARTS' augmentations, each with probability ``p``: flips, 90° rotations, blur,
    brightness/contrast (spectral bands), multiplicative noise, cutout."""
    if rng.random() < p:
        x, y = x[:, :, ::-1], y[:, ::-1]
    if rng.random() < p:
        x, y = x[:, ::-1], y[::-1]
    if rng.random() < p:
        turns = int(rng.integers(1, 4))
        x, y = np.rot90(x, turns, axes=(1, 2)), np.rot90(y, turns)
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    if rng.random() < p:
        x = ndimage.gaussian_filter(x, (0, rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0)))
    spectral = [i for i, b in enumerate(bands) if b in contract.SPECTRAL_BANDS]
    if spectral and rng.random() < p:
        gain, shift = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
        x[spectral] = x[spectral] * gain + shift
    if rng.random() < p:
        x = x * rng.uniform(0.95, 1.05, size=x.shape).astype(np.float32)
    if rng.random() < p:
        size = x.shape[1] // 8
        row, col = rng.integers(0, x.shape[1] - size), rng.integers(0, x.shape[2] - size)
        x[:, row:row + size, col:col + size] = 0
        y = y.copy()
        y[row:row + size, col:col + size] = IGNORE
    return x.astype(np.float32), y
