"""Scenes through the models on four threads, so the model's thread only runs models and
the device never waits on the host between scenes:

    reader     strips of each stack decoded once, validity once per strip, tiles cut
               for every model (strips.py); the next scene's first tiles while the
               models run this one's last
    model      each batch through every model of its group
    writer     blending, division and quantisation into the probability rasters' rows
               (blending.py), written as they complete
    finisher   each scene's COG encoding (GDAL's threads), then the scene is done

A scene is a :class:`SceneJob`; :meth:`Pipeline.submit` returns the future that
completes when its rasters are in place (or holds the error that stopped it: nothing of
that scene is then kept). Queues between the threads are short, so memory is bounded by
a few batches, the strips of one scene and the row buffers of one scene.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio

from rts_core import raster
from rts_core.errors import InputError
from rts_core.log import scene_progress

from .blending import Blender, quantised
from .session import Model, to_probability
from .strips import Feed, Grid, StackStrips

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class Group:
    """Models that share one tiling of a scene, and how each takes the stack's bands."""

    grid: Grid
    models: list[int]  # indexes into the run's models
    feeds: list[Feed]
    batch_size: int
    fixed: bool  # some model needs every batch of the same shape (CUDA graphs)


@dataclass
class SceneJob:
    """One stack: its groups, and for each model that runs the output, tags and writer."""

    stack: Path
    label: str
    groups: list[Group]
    outputs: dict[int, Path]  # model index -> probability raster
    tags: dict[int, dict]
    profile: dict  # width, height, crs, transform
    sentinel: int | None
    future: Future = field(default_factory=Future)
    error: BaseException | None = None
    writers: dict = field(default_factory=dict)
    progress: object = None
    _closing: contextlib.ExitStack | None = None

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    @property
    def tiles(self) -> int:
        return sum(group.grid.tiles for group in self.groups)


@dataclass
class Batch:
    job: SceneJob
    group: int
    tiles: list
    inputs: list[np.ndarray]  # per model of the group: (batch size, bands, size, size)
    validity: list  # strips read since the previous batch: (first row, per model output validity)
    last: bool  # the group's last batch


class Pipeline:
    """The four threads; use as a context manager (leaving it with an exception stops
    the threads and removes what unfinished scenes had written)."""

    def __init__(self, models: list[Model], on_gpu: bool | None = None, depth: int | None = None):
        self.models = models
        on_gpu = any(m.on_gpu for m in models) if on_gpu is None else on_gpu
        # batches in memory at once: on the CPU one run while the next is cut; on a GPU a
        # few more, so the device never waits for the host
        self.batches = threading.Semaphore(depth or (4 if on_gpu else 2))
        self.decode_threads = "ALL_CPUS"
        self.jobs: queue.Queue = queue.Queue(maxsize=1)
        self.to_model: queue.Queue = queue.Queue()
        self.to_writer: queue.Queue = queue.Queue(maxsize=2)
        self.to_finisher: queue.Queue = queue.Queue()
        self.spare: dict[tuple, list] = {}  # input buffers handed back by the model thread
        self.spare_lock = threading.Lock()
        self.aborting = threading.Event()
        self.threads = [threading.Thread(target=self._guard, args=(target,), name=f"rts-infer-{name}", daemon=True)
                        for name, target in (("reader", self._reader), ("model", self._model),
                                             ("writer", self._writer), ("finisher", self._finisher))]
        self.crashed: BaseException | None = None
        self.open_jobs: dict[int, SceneJob] = {}  # submitted, not yet finished
        self.open_lock = threading.Lock()

    def __enter__(self) -> Pipeline:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.aborting.set()
        with contextlib.suppress(_Aborted):
            self._put(self.jobs, _STOP)
        for thread in self.threads:
            thread.join()
        error = self.crashed or _Aborted("interrupted")
        with self.open_lock:
            left = list(self.open_jobs.values())
        for job in left:  # stopped midway: what they wrote goes
            job.fail(error)
            self._close_writers(job)
            self._resolve(job, error)
        # no cycle keeps the models (and their ONNX Runtime sessions) alive after the run:
        # freed by reference counting here, never by a garbage collection in a process
        # forked later (a session freed there waits forever on a lock of a thread that
        # did not come along)
        self.threads, self.models, self.spare = [], [], {}

    def submit(self, job: SceneJob) -> Future:
        """Queue a scene (waiting while the reader is a scene ahead); its future."""
        if self.crashed is not None:
            raise RuntimeError(f"rts-infer's pipeline stopped: {self.crashed!r}")
        with self.open_lock:
            self.open_jobs[id(job)] = job
        try:
            self._put(self.jobs, job)
        except _Aborted:
            with self.open_lock:
                self.open_jobs.pop(id(job), None)
            raise RuntimeError(f"rts-infer's pipeline stopped: {self.crashed or 'interrupted'!r}") from None
        return job.future

    # -- plumbing ---------------------------------------------------------------------------

    def _put(self, target: queue.Queue, item) -> None:
        while True:
            try:
                target.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.aborting.is_set() or self.crashed is not None:
                    raise _Aborted from None

    def _get(self, source: queue.Queue):
        while True:
            try:
                return source.get(timeout=0.2)
            except queue.Empty:
                if self.aborting.is_set() or self.crashed is not None:
                    raise _Aborted from None

    def _resolve(self, job: SceneJob, error: BaseException | None) -> None:
        """Complete a scene's future once (its result: the rasters written)."""
        with self.open_lock:
            self.open_jobs.pop(id(job), None)
            if job.future.done():
                return
            if error is None:
                job.future.set_result(list(job.outputs.values()))
            else:
                job.future.set_exception(error)

    def _fail_open(self, error: BaseException) -> None:
        """Fail every scene not yet finished (the pipeline itself stopped)."""
        with self.open_lock:
            jobs = list(self.open_jobs.values())
        for job in jobs:
            job.fail(error)
            self._resolve(job, error)

    def _guard(self, target) -> None:
        """A stage's loop; an unexpected error stops the pipeline (every waiting scene
        fails with it) instead of leaving the other threads waiting."""
        try:
            target()
            log.debug("%s: %.2f CPU s", threading.current_thread().name, time.thread_time())
        except _Aborted:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported through every scene's future
            log.debug("pipeline thread failed", exc_info=True)
            self.crashed = exc
            self.aborting.set()
            self._fail_open(RuntimeError(f"rts-infer's pipeline stopped: {exc!r}"))

    def _buffer(self, shape: tuple, dtype) -> np.ndarray:
        key = (shape, np.dtype(dtype).str)
        with self.spare_lock:
            free = self.spare.get(key)
            if free:
                return free.pop()
        return np.empty(shape, dtype)

    def _give_back(self, arrays) -> None:
        with self.spare_lock:
            for array in arrays:
                self.spare.setdefault((array.shape, array.dtype.str), []).append(array)

    # -- the four stages ------------------------------------------------------------------

    def _reader(self) -> None:
        try:
            while True:
                job = self._get(self.jobs)
                if job is _STOP:
                    break
                if self.aborting.is_set():
                    job.fail(_Aborted("interrupted"))
                else:
                    try:
                        self._read_job(job)
                    except _Aborted:
                        job.fail(_Aborted("interrupted"))
                        raise
                    except Exception as exc:  # noqa: BLE001 - isolated to its scene
                        job.fail(exc)
                self._put(self.to_model, ("end", job))
        finally:
            with contextlib.suppress(_Aborted):
                self._put(self.to_model, _STOP)

    def _read_job(self, job: SceneJob) -> None:
        log.debug("reading %s", job.stack)
        try:
            dataset = rasterio.open(job.stack, num_threads=self.decode_threads)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read: {exc}") from None
        with dataset:
            for number, group in enumerate(job.groups):
                self._read_group(job, dataset, number, group)

    def _read_group(self, job: SceneJob, dataset, number: int, group: Group) -> None:
        """Cut every tile of one group into batches, sent to the model thread as they fill."""
        strips = StackStrips(dataset, group.grid, group.feeds, job.sentinel)
        batch = None
        try:
            batch = self._new_batch(job, number, group)
            for row_number, line in enumerate(group.grid.rows):
                if job.error is not None or self.aborting.is_set():
                    return
                try:
                    strips.start_row(row_number)
                except rasterio.errors.RasterioIOError as exc:
                    raise InputError(f"cannot read: {exc}") from None
                for tile in line:
                    slot = len(batch.tiles)
                    for feed_number, inputs in enumerate(batch.inputs):
                        strips.tile(feed_number, tile, inputs[slot])
                    batch.tiles.append(tile)
                    if len(batch.tiles) == group.batch_size:
                        batch.validity = strips.take_fresh()
                        sent, batch = batch, None
                        self._put(self.to_model, sent)
                        batch = self._new_batch(job, number, group)
            batch.validity, batch.last = strips.take_fresh(), True
            if batch.tiles and group.fixed:  # the same shape every run: repeat the last tile
                for inputs in batch.inputs:
                    inputs[len(batch.tiles):] = inputs[len(batch.tiles) - 1]
            sent, batch = batch, None
            self._put(self.to_model, sent)
        finally:
            if batch is not None:  # never sent: its buffers and its place go back
                self._give_back(batch.inputs)
                self.batches.release()

    def _new_batch(self, job: SceneJob, number: int, group: Group) -> Batch:
        while not self.batches.acquire(timeout=0.2):  # given back by the model thread
            if self.aborting.is_set() or self.crashed is not None:
                raise _Aborted
        size = group.grid.size
        inputs = [self._buffer((group.batch_size, len(feed.bands.indexes), size, size), feed.input_dtype)
                  for feed in group.feeds]
        return Batch(job, number, [], inputs, [], False)

    def _model(self) -> None:
        try:
            while True:
                item = self._get(self.to_model)
                if item is _STOP:
                    break
                if isinstance(item, tuple):  # a scene's end
                    self._put(self.to_writer, item)
                    continue
                batch: Batch = item
                outputs = None
                if batch.job.error is None and not self.aborting.is_set():
                    try:
                        outputs = self._run(batch)
                    except Exception as exc:  # noqa: BLE001 - isolated to its scene
                        batch.job.fail(exc)
                self._give_back(batch.inputs)
                batch.inputs = []
                self.batches.release()
                self._put(self.to_writer, (batch, outputs))
        finally:
            with contextlib.suppress(_Aborted):
                self._put(self.to_writer, _STOP)

    def _run(self, batch: Batch) -> list[np.ndarray]:
        group = batch.job.groups[batch.group]
        count = len(batch.tiles)
        outputs = []
        if count == 0:  # a group's last batch may hold no tile
            return [np.empty((0, group.grid.size, group.grid.size), np.float32) for _ in group.models]
        for index, feed, inputs in zip(group.models, group.feeds, batch.inputs, strict=True):
            model = self.models[index]
            x = inputs if model.feed == "persistent" else inputs[:count]
            if feed.in_graph:
                out = model.run_stored(x, feed.factor, feed.term, batch.job.sentinel)
            else:
                out = model.run_normalised(x)
            outputs.append(out[:count])
        return outputs

    def _writer(self) -> None:
        blenders: dict[tuple[int, int], Blender] = {}
        validity: dict[tuple[int, int], list] = {}
        try:
            while True:
                item = self._get(self.to_writer)
                if item is _STOP:
                    break
                if item[0] == "end":
                    job = item[1]
                    for key in [k for k in blenders if k[0] == id(job)]:
                        del blenders[key]
                        validity.pop(key, None)
                    if job.error is None and self.aborting.is_set():
                        job.fail(_Aborted("interrupted"))
                    self._put(self.to_finisher, job)
                    continue
                batch, outputs = item
                job = batch.job
                if job.error is not None:
                    continue
                try:
                    self._write(batch, outputs, blenders, validity)
                except Exception as exc:  # noqa: BLE001 - isolated to its scene
                    job.fail(exc)
        finally:
            self.to_finisher.put(_STOP)

    def _write(self, batch: Batch, outputs, blenders: dict, validity: dict) -> None:
        job = batch.job
        group = job.groups[batch.group]
        if not job.writers:
            self._open(job)
        key = (id(job), batch.group)
        if key not in blenders:
            blenders[key] = Blender(group.grid, len(group.models))
            validity[key] = []
        blender, strips = blenders[key], validity[key]
        strips.extend(batch.validity)
        kinds = [self.models[index].info.output for index in group.models]
        for slot, tile in enumerate(batch.tiles):
            probabilities = [probability_of(out[slot], "probability" if feed.in_graph else kind)
                             for out, feed, kind in zip(outputs, group.feeds, kinds, strict=True)]
            rows = blender.add(tile, probabilities)
            if rows is not None:
                self._write_rows(job, group, rows, strips)
        job.progress.update(len(batch.tiles))
        if batch.last:
            for index, count in zip(group.models, blender.non_finite, strict=True):
                if count:
                    log.warning("%s: model %s gave %d values that are NaN or infinite: written as no-data",
                                job.stack, self.models[index].info.name, count)

    def _write_rows(self, job: SceneJob, group: Group, rows, strips: list) -> None:
        count = rows.values[0].shape[0]
        last = rows.first + count
        window = rasterio.windows.Window(0, rows.first, job.profile["width"], count)
        overlapping = [strip for strip in strips if strip.first < last and strip.first + strip.rows > rows.first]
        for number, (index, values) in enumerate(zip(group.models, rows.values, strict=True)):
            valid = np.concatenate([strip.output_valid[number][max(rows.first - strip.first, 0):last - strip.first]
                                    for strip in overlapping])
            if rows.unscored[number] is not None:
                valid &= ~rows.unscored[number]
            job.writers[index].write(quantised(values, valid), window=window)
        while strips and strips[0].first + strips[0].rows <= last:
            strips.pop(0)

    def _open(self, job: SceneJob) -> None:
        """The scene's probability rasters (drafts until finished) and its progress."""
        job._closing = contextlib.ExitStack()
        job.progress = job._closing.enter_context(scene_progress(job.tiles, job.label, unit="tile"))
        for index, path in job.outputs.items():
            job.writers[index] = job._closing.enter_context(
                probability_writer(path, tags=job.tags[index], **job.profile))

    def _finisher(self) -> None:
        while True:
            job = self.to_finisher.get()
            if job is _STOP:
                break
            error = self._close_writers(job)
            if error is None and self.crashed is not None:
                error = self.crashed
            log.debug("finished %s%s", job.label, f" ({error!r})" if error is not None else "")
            self._resolve(job, error)

    @staticmethod
    def _close_writers(job: SceneJob) -> BaseException | None:
        """Finish a scene's rasters (the COG conversion), or remove them if it failed;
        the error that stopped it, if any."""
        closing, job._closing = job._closing, None
        error = job.error
        try:
            if closing is not None:
                if error is None:
                    closing.close()
                else:
                    closing.__exit__(type(error), error, error.__traceback__)
        except Exception as exc:  # noqa: BLE001 - isolated to its scene
            error = error or exc
        return error


def probability_of(output: np.ndarray, kind: str) -> np.ndarray:
    """A tile's model output as probabilities, NaN wherever the output was not finite
    (an infinite value is no more a score than NaN): the blending makes those no-data."""
    finite = np.isfinite(output)
    probability = to_probability(output, kind)
    if not finite.all():
        probability[~finite] = np.nan
    return probability


class _Aborted(Exception):
    """The pipeline was stopped (an interrupt, or a failure of the pipeline itself)."""


def probability_writer(path: Path, *, width: int, height: int, crs, transform, tags: dict) -> raster.CogWriter:
    """How a probability raster is written (CONTRACT.md section 3): uint8 0-100, scale
    0.01, nodata 255, tiled and compressed as the stacks are (ZSTD level 1 with the
    horizontal predictor: a quarter of DEFLATE's CPU at 10 % more bytes, bench/infer.py),
    with averaged overviews."""
    from rts_core import contract

    return raster.CogWriter(path, width=width, height=height, count=1, dtype=contract.PROB_DTYPE,
                            nodata=contract.PROB_NODATA, scales=[contract.PROB_SCALE], offsets=[0.0], tags=tags,
                            band_descriptions=("rts_probability",), crs=crs, transform=transform,
                            compress="zstd", compress_level=1)
