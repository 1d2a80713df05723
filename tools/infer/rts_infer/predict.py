"""One stack through one model: tiles read and normalised on worker threads while the
model runs batches, blended into a buffer that holds only the rows still receiving
tiles, and written row band by row band as a COG probability raster."""

from __future__ import annotations

import logging
import os
import queue
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from rts_core import contract, preprocessing, raster
from rts_core.log import scene_progress
from rts_core.model_input import StackBands, read_model_input, stack_bands
from rts_core.parallel import PerThreadDataset, ordered_map
from rts_core.runner import InputError, Plan, fingerprint

from .session import Model
from .tiling import Tile, layout, pad_to, reflect_index, round_up

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferOptions:
    tile_size: int | None = None  # default: the model's metadata
    overlap: int | None = None
    batch_size: int | None = None  # default: 4 on the CPU, from free memory on a GPU
    blending: str = "linear"
    readers: int | None = None  # threads reading tiles ahead of the model (default: reader_threads())
    precision: str = "fp32"
    allow_mismatch: bool = False  # run stacks made otherwise than a model's training stacks, with a warning

    def settings(self) -> tuple:
        """What changes a probability raster (not the batch size or the threads)."""
        return self.tile_size, self.overlap, self.blending, self.precision, self.allow_mismatch


def reader_threads(on_gpu: bool) -> int:
    """Threads reading tiles ahead of the model: 2 on the CPU, whose cores run the model;
    on a GPU up to 8, since decoding the stack is then what the run waits on."""
    return min(8, max(2, os.cpu_count() or 2)) if on_gpu else 2


def plan_stack(stack, *, out, models: list[Model], options: InferOptions, version: str) -> Plan:
    """One probability raster per model, each with the fingerprint of the stack, the
    model file and the options; the stack's preprocessing record rides along."""
    try:
        with rasterio.open(stack) as dataset:
            scene_id = raster.read_scene_info(dataset).scene_id
            record = read_stack_record(dataset)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: {exc}") from None
    return Plan([out / contract.model_prob_name(scene_id, model.info.name) for model in models],
                fingerprint=[fingerprint([stack, model.path], options.settings(), version) for model in models],
                data={"stack": stack, "record": record})


def infer_stack(plan: Plan, *, models: list[Model], options: InferOptions, version: str,
                overwrite: bool = False) -> None:
    """Every model over the planned stack, after checking that the stack was made the way
    each model's training stacks were (all models first: a stack that fits one model but
    not another gets nothing). Outputs already complete are kept unless ``overwrite``."""
    stack, record = plan.data["stack"], plan.data["record"]
    for model in models:
        warning = check_preprocessing(record, model, options.allow_mismatch)
        if warning:
            log.warning("%s: %s", stack, warning)
    if record is None:
        log.warning("%s: no %s record (made by an older rts-prep): cannot check it fits the model(s)", stack,
                    contract.TAG_PREPROCESSING)
    for index, model in enumerate(models):
        if overwrite or plan.output_state(index)[0] != "complete":
            predict_stack(stack, model, plan.outputs[index], options, version, plan.fingerprint_of(index))


def _tile_window(tile: Tile, context: int, shape) -> tuple[Window, tuple | None, tuple | None]:
    """The window of the scene a tile reads, and how the part of the tile outside the
    scene is mirrored from it (reflection about the edge pixels): a (before, after) pad
    per axis where numpy's reflect padding makes it, else the row and column indexes
    into the window (scenes smaller than the margin). ``tile`` is in the coordinates of
    the scene padded by ``context`` px at the top and left (and at least as much at the
    bottom and right). None and None for a tile inside the scene."""
    height, width = shape
    top, left = tile.row - context, tile.col - context
    bottom, right = top + tile.height, left + tile.width
    if top >= 0 and left >= 0 and bottom <= height and right <= width:
        return Window(left, top, tile.width, tile.height), None, None
    r0, r1, c0, c1 = max(top, 0), min(bottom, height), max(left, 0), min(right, width)
    pads = ((r0 - top, bottom - r1), (c0 - left, right - c1))
    if r1 > r0 and c1 > c0 and max(pads[0]) < r1 - r0 and max(pads[1]) < c1 - c0:
        return Window(c0, r0, c1 - c0, r1 - r0), pads, None  # one reflection suffices
    rows = reflect_index(np.arange(top, bottom), height)
    cols = reflect_index(np.arange(left, right), width)
    first_row, first_col = int(rows.min()), int(cols.min())
    window = Window(first_col, first_row, int(cols.max()) - first_col + 1, int(rows.max()) - first_row + 1)
    return window, None, (rows - first_row, cols - first_col)


def _mirrored(x: np.ndarray, pads, indexes) -> np.ndarray:
    if pads is not None:
        return np.pad(x, ((0, 0), *pads), mode="reflect")
    if indexes is not None:
        rows, cols = indexes
        return x[:, rows][:, :, cols]
    return x


def tile_input(dataset, tile: Tile, context: int, shape, selected: StackBands, model: Model,
               out: np.ndarray) -> None:
    """Fill ``out`` (bands, size, size) with a tile's model input on the host
    (rts_core.model_input: normalised per the metadata, 0 where invalid); pixels at
    the scene's edge see the same mirrored context whatever the tiling. In place, to
    keep memory bounded."""
    window, pads, indexes = _tile_window(tile, context, shape)
    x = _mirrored(read_model_input(dataset, window, selected, model.info.normalisation), pads, indexes)
    out[:] = pad_to(x, out.shape[1], out.shape[2])


def tile_stored(dataset, tile: Tile, context: int, shape, selected: StackBands, sentinel, out: np.ndarray) -> None:
    """Fill ``out`` (bands, size, size, the stack's integer type) with a tile's stored
    bands for a model that normalises its own input (graph.py): ``sentinel`` in every
    band where the stack is invalid."""
    window, pads, indexes = _tile_window(tile, context, shape)
    stored = dataset.read(selected.indexes, window=window)
    stored[:, dataset.dataset_mask(window=window) == 0] = sentinel
    out[:] = pad_to(_mirrored(stored, pads, indexes), out.shape[1], out.shape[2])


def sentinel_for(dtype, nodata) -> int:
    """The value an invalid pixel carries in every band: the stack's nodata when it is
    one of its type's values, else the type's minimum."""
    info = np.iinfo(dtype)
    if nodata is not None and float(nodata).is_integer() and info.min <= nodata <= info.max:
        return int(nodata)
    return int(info.min)


def check_preprocessing(stack_record: dict | None, model: Model, allow_mismatch: bool) -> str | None:
    """Whether the stack was made the way the model's training stacks were: an input
    error naming both values when not, or with ``allow_mismatch`` the warning to give.
    Without a record on either side (older files) there is nothing to compare."""
    model_record = model.info.preprocessing
    if stack_record is None or model_record is None:
        return None
    differences = preprocessing.mismatches(stack_record, model_record)
    if not differences:
        return None
    sensor = [d for d in differences if d[0] in preprocessing.SENSOR_KEYS]
    if sensor:
        raise InputError(f"{preprocessing.describe(sensor, model.info.name)}: a model runs only on stacks of the "
                         "sensor and pixel size it was trained on (no option overrides this)")
    text = preprocessing.describe(differences, model.info.name)
    if allow_mismatch:
        return f"{text} (running anyway: --allow-preprocessing-mismatch)"
    raise InputError(f"{text} (prep the scene as the model's training stacks were, or "
                     f"--allow-preprocessing-mismatch)")


def read_stack_record(dataset) -> dict | None:
    try:
        return preprocessing.parse(dataset.tags().get(contract.TAG_PREPROCESSING))
    except preprocessing.RecordError as exc:
        raise InputError(str(exc)) from None


def predict_stack(stack_path, model: Model, out_path, options: InferOptions, tool_version: str,
                  fingerprint: str | None = None) -> None:
    info = model.info
    try:
        opened = rasterio.open(stack_path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: {exc}") from None
    with opened as dataset:
        scene = raster.read_scene_info(dataset)
        selected = stack_bands(dataset, info.bands)
        height, width = dataset.shape
        profile = dict(crs=dataset.crs, transform=dataset.transform)
        dtypes = {dataset.dtypes[i - 1] for i in selected.indexes}
        dtype = np.dtype(dtypes.pop()) if len(dtypes) == 1 else None
        in_graph = dtype is not None and model.in_graph(dtype)  # else normalised on the host
        sentinel = sentinel_for(dtype, dataset.nodata) if in_graph else None
    stride = info.multiple
    tile = round_up(options.tile_size or info.tile_size, stride)  # the network's input size
    overlap = min(options.overlap if options.overlap is not None else info.overlap, tile // 2)
    # mirrored margin around the scene: half the overlap, rounded up to the stride so that
    # scene pixels sit at the same phase as in whole-scene inference; the bottom and right
    # get what makes the padded scene a multiple of the stride (so every tile origin is)
    context = round_up((overlap + 1) // 2, stride)
    padded_height, padded_width = round_up(height + 2 * context, stride), round_up(width + 2 * context, stride)
    size = min(tile, max(padded_height, padded_width))
    rows = layout(padded_height, padded_width, tile, overlap, options.blending, stride)
    readers = PerThreadDataset(stack_path)
    tags = raster.scene_tags(scene.scene_id, scene.acquired, tool_version, sensor=scene.sensor, model=info.name,
                             fingerprint=fingerprint, RTS_PROVIDER=model.provider,
                             **{contract.TAG_MODEL_SHA256: model.sha256}, RTS_PRECISION=model.precision,
                             RTS_NORMALISED="graph" if in_graph else "host",
                             RTS_TILE=f"{tile}", RTS_OVERLAP=f"{overlap}")
    tiles = [t for line in rows for t in line]
    per_batch = model.batch_size(size, options.batch_size)
    batches = [tiles[i:i + per_batch] for i in range(0, len(tiles), per_batch)]

    fixed = model.feed == "persistent"  # CUDA graphs: every batch the same shape (the last one padded)

    shape = (len(selected.indexes), size, size)
    spare: queue.SimpleQueue = queue.SimpleQueue()  # batch buffers handed back after each model call

    def prepare(batch):
        dataset = readers.get()
        count = per_batch if fixed else len(batch)
        try:
            x = spare.get_nowait()  # reused: fresh pages of tens of MB per batch cost the kernel's zeroing
        except queue.Empty:
            x = np.empty((per_batch, *shape), dtype if in_graph else np.float32)
        x = x[:count]
        for slot, t in zip(x, batch, strict=False):
            if in_graph:
                tile_stored(dataset, t, context, (height, width), selected, sentinel, slot)
            else:
                tile_input(dataset, t, context, (height, width), selected, model, slot)
        x[len(batch):] = x[len(batch) - 1]
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
                              band_descriptions=("rts_probability",), **profile) as out, \
                scene_progress(len(tiles), f"{scene.scene_id} {info.name}", unit="tile") as shown:
            workers = options.readers or reader_threads(model.on_gpu)
            for batch, x in ordered_map(prepare, batches, workers=workers, ahead=workers):
                probabilities = (model.run_stored(x, selected.scale, selected.offset, sentinel) if in_graph
                                 else model(x))[:len(batch)]
                spare.put(x.base if x.base is not None else x)
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
                            _write_rows(out, readers.get(), acc[:n], weight[:n], top, context, height, width,
                                        selected)
                            keep = filled - n  # shift the unfinished rows up, in place
                            acc[:keep], weight[:keep] = acc[n:filled], weight[n:filled]
                            acc[keep:filled], weight[keep:filled] = 0, 0
                            top, filled = top + n, keep
                shown.update(len(batch))
    finally:
        readers.close()


def _write_rows(out, dataset, acc, weight, top, context, height, width, selected: StackBands) -> None:
    """Write the padded rows [top, top + len(acc)) that fall inside the scene: no-data
    where the stack is invalid (its mask, or NaN/inf in a float stack's model bands)."""
    first, last = max(top - context, 0), min(top + acc.shape[0] - context, height)
    if last <= first:
        return
    rows = slice(first + context - top, last + context - top)
    cols = slice(context, context + width)
    window = Window(0, first, width, last - first)
    valid = dataset.dataset_mask(window=window) > 0
    if np.issubdtype(np.dtype(dataset.dtypes[0]), np.floating):
        valid &= np.isfinite(dataset.read(selected.indexes, window=window)).all(axis=0)
    probability = acc[rows, cols] / np.maximum(weight[rows, cols], 1e-12)
    stored = np.round(probability / contract.PROB_SCALE).astype(np.uint8)
    stored[~valid] = contract.PROB_NODATA
    out.write(stored, window=window)
