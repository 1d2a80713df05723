"""One stack through one model: tiles read and normalised on worker threads while the
model runs batches, blended into a buffer that holds only the rows still receiving
tiles, and written row band by row band as a COG probability raster."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from rts_core import contract, raster
from rts_core.parallel import PerThreadDataset, ordered_map
from rts_core.runner import InputError

from .session import Model
from .tiling import Tile, layout, pad_to


@dataclass(frozen=True)
class InferOptions:
    tile_size: int | None = None  # default: the model's metadata
    overlap: int | None = None
    batch_size: int = 4
    blending: str = "linear"
    readers: int = 2  # threads reading and normalising tiles ahead of the model


def stack_bands(dataset, bands) -> tuple[list[int], np.ndarray, np.ndarray]:
    """1-based indexes and stored->physical scale/offset of the model's bands."""
    names = list(dataset.descriptions)
    missing = [b for b in bands if b not in names]
    if missing:
        raise InputError(f"stack lacks band(s) {', '.join(missing)} needed by the model")
    indexes = [names.index(b) + 1 for b in bands]
    scales = np.array([dataset.scales[i - 1] for i in indexes], np.float32)
    offsets = np.array([dataset.offsets[i - 1] for i in indexes], np.float32)
    return indexes, scales, offsets


def tile_input(dataset, tile: Tile, context: int, shape, indexes, stored_scale, stored_offset, model: Model,
               out: np.ndarray) -> None:
    """Fill ``out`` (bands, size, size) with a tile's model input: physical values
    normalised per the metadata, 0 where invalid. ``tile`` is in the coordinates of the
    scene padded by ``context`` px on every side; the part outside the scene is its
    mirror image (reflection), so pixels at the scene's edge see the same context
    whatever the tiling. Works in place to keep memory bounded."""
    info = model.info
    height, width = shape
    top, left = tile.row - context, tile.col - context
    bottom, right = top + tile.height, left + tile.width
    r0, r1, c0, c1 = max(top, 0), min(bottom, height), max(left, 0), min(right, width)
    window = Window(c0, r0, c1 - c0, r1 - r0)
    x = dataset.read(indexes, window=window, out_dtype=np.float32)
    valid = dataset.dataset_mask(window=window) > 0
    x *= (stored_scale * info.scale)[:, None, None]
    x += (stored_offset * info.scale + info.offset)[:, None, None]
    if info.clip is not None:
        np.clip(x, info.clip[0], info.clip[1], out=x)
    x[:, ~valid] = 0.0
    pads = ((0, 0), (r0 - top, bottom - r1), (c0 - left, right - c1))
    if any(p for pair in pads for p in pair):
        x = np.pad(x, pads, mode="reflect")
    size = out.shape[1]
    out[:] = pad_to(x, size, size)


def padded_size(tile: int, multiple: int) -> int:
    return -(-tile // multiple) * multiple


def predict_stack(stack_path, model: Model, out_path, options: InferOptions, tool_version: str) -> None:
    info = model.info
    try:
        opened = rasterio.open(stack_path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: {exc}") from None
    with opened as dataset:
        scene = raster.read_scene_info(dataset)
        indexes, stored_scale, stored_offset = stack_bands(dataset, info.bands)
        height, width = dataset.shape
        profile = dict(crs=dataset.crs, transform=dataset.transform)
    tile = options.tile_size or info.tile_size
    overlap = min(options.overlap if options.overlap is not None else info.overlap, tile // 2)
    context = min((overlap + 1) // 2, height - 1, width - 1)  # mirrored margin around the scene
    padded_height, padded_width = height + 2 * context, width + 2 * context
    size = padded_size(min(tile, max(padded_height, padded_width)), info.multiple)
    rows = layout(padded_height, padded_width, tile, overlap, options.blending)
    readers = PerThreadDataset(stack_path)
    tags = raster.scene_tags(scene.scene_id, scene.acquired, tool_version, sensor=scene.sensor, model=info.name,
                             RTS_PROVIDER=model.provider, RTS_PRECISION=model.precision,
                             RTS_TILE=f"{tile}", RTS_OVERLAP=f"{overlap}")
    tiles = [t for line in rows for t in line]
    batches = [tiles[i:i + options.batch_size] for i in range(0, len(tiles), options.batch_size)]

    def prepare(batch):
        dataset = readers.get()
        x = np.empty((len(batch), len(indexes), size, size), np.float32)
        for slot, t in zip(x, batch, strict=True):
            tile_input(dataset, t, context, (height, width), indexes, stored_scale, stored_offset, model, slot)
        return batch, x

    # the blending buffer covers padded rows [top, top + len(acc)); a tile row is
    # flushed once complete, up to where the next tile row starts
    top, filled = 0, 0  # buffer row 0 is padded row ``top``; rows below ``filled`` hold sums
    capacity = max(t.height for t in tiles) + max(
        [b[0].row - a[0].row for a, b in zip(rows, rows[1:], strict=False)] or [0])
    acc = np.zeros((capacity, padded_width), np.float32)
    weight = np.zeros((capacity, padded_width), np.float32)
    flush_until = {line[0].row: (rows[i + 1][0].row if i + 1 < len(rows) else padded_height)
                   for i, line in enumerate(rows)}
    done_in_row: dict[int, int] = {}
    per_row = len(rows[0])
    try:
        with raster.CogWriter(out_path, width=width, height=height, count=1, dtype=contract.PROB_DTYPE,
                              nodata=contract.PROB_NODATA, scales=[contract.PROB_SCALE], offsets=[0.0], tags=tags,
                              band_descriptions=("rts_probability",), **profile) as out:
            for batch, x in ordered_map(prepare, batches, workers=options.readers, ahead=options.readers):
                probabilities = model(x)
                for t, p in zip(batch, probabilities, strict=True):
                    filled = max(filled, t.row + t.height - top)
                    rs = slice(t.row - top, t.row - top + t.height)
                    cs = slice(t.col, t.col + t.width)
                    acc[rs, cs] += p[: t.height, : t.width] * t.weights
                    weight[rs, cs] += t.weights
                    done_in_row[t.row] = done_in_row.get(t.row, 0) + 1
                    if done_in_row[t.row] == per_row:
                        n = flush_until[t.row] - top
                        if n > 0:
                            _write_rows(out, readers.get(), acc[:n], weight[:n], top, context, height, width)
                            keep = filled - n  # shift the unfinished rows up, in place
                            acc[:keep], weight[:keep] = acc[n:filled], weight[n:filled]
                            acc[keep:filled], weight[keep:filled] = 0, 0
                            top, filled = top + n, keep
    finally:
        readers.close()


def _write_rows(out, dataset, acc, weight, top, context, height, width) -> None:
    """Write the padded rows [top, top + len(acc)) that fall inside the scene."""
    first, last = max(top - context, 0), min(top + acc.shape[0] - context, height)
    if last <= first:
        return
    rows = slice(first + context - top, last + context - top)
    cols = slice(context, context + width)
    window = Window(0, first, width, last - first)
    valid = dataset.dataset_mask(window=window) > 0
    probability = acc[rows, cols] / np.maximum(weight[rows, cols], 1e-12)
    stored = np.round(probability / contract.PROB_SCALE).astype(np.uint8)
    stored[~valid] = contract.PROB_NODATA
    out.write(stored, window=window)
