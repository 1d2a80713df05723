"""rts-infer's stage: stacks through every model, each stack read once (strips.py), on
the pipeline's threads (pipeline.py), into one probability raster per model.

From a notebook::

    from rts_infer import load_models, predict
    models = load_models(["tcvis.onnx", "notcvis.onnx"], device="auto")
    paths = predict("stacks/x.stack.tif", models, "probs")
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from rts_core import contract, preprocessing, raster
from rts_core.errors import InputError
from rts_core.fingerprints import fingerprint
from rts_core.model_input import stack_bands
from rts_core.runner import Plan

from .pipeline import Group, Pipeline, SceneJob, probability_writer
from .session import Model
from .strips import Grid, make_feed
from .tiling import round_up

log = logging.getLogger(__name__)

__all__ = ["InferOptions", "plan_stack", "infer_stack", "predict", "probability_writer", "check_preprocessing"]


@dataclass(frozen=True)
class InferOptions:
    tile_size: int | None = None  # default: the model's metadata
    overlap: int | None = None
    batch_size: int | None = None  # default: 2 on the CPU, from free memory on a GPU
    blending: str = "linear"
    precision: str = "fp32"
    allow_mismatch: bool = False  # run stacks made otherwise than a model's training stacks, with a warning

    def settings(self) -> tuple:
        """What changes a probability raster (not the batch size or the threads)."""
        return self.tile_size, self.overlap, self.blending, self.precision, self.allow_mismatch


def plan_stack(stack, *, out, models: list[Model], options: InferOptions, version: str) -> Plan:
    """One probability raster per model, each with the fingerprint of the stack, the
    model file and the options; the stack's preprocessing record rides along."""
    try:
        with rasterio.open(stack) as dataset:
            scene_id = raster.read_scene_info(dataset).scene_id
            record = read_stack_record(dataset)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: {exc}") from None
    return Plan([Path(out) / contract.model_prob_name(scene_id, model.info.name) for model in models],
                fingerprint=[fingerprint([stack, model.path], options.settings(), version) for model in models],
                data={"stack": stack, "record": record})


def infer_stack(plan: Plan, *, pipeline: Pipeline, models: list[Model], options: InferOptions, version: str,
                overwrite: bool = False):
    """Queue every model over the planned stack, after checking that the stack was made
    the way each model's training stacks were (all models first: a stack that fits one
    model but not another gets nothing). Outputs already complete are kept unless
    ``overwrite``. Returns the future of the scene's rasters (None: nothing to do)."""
    stack, record = plan.data["stack"], plan.data["record"]
    for model in models:
        warning = check_preprocessing(record, model, options.allow_mismatch)
        if warning:
            log.warning("%s: %s", stack, warning)
    if record is None:
        log.warning("%s: no %s record (made by an older rts-prep): cannot check it fits the model(s)", stack,
                    contract.TAG_PREPROCESSING)
    active = [index for index in range(len(models))
              if overwrite or plan.output_state(index)[0] != "complete"]
    if not active:
        return None
    job = scene_job(stack, models, active, {index: plan.outputs[index] for index in active},
                    {index: plan.fingerprint_of(index) for index in active}, options, version)
    return pipeline.submit(job)


def predict(stack, models: list[Model], out, options: InferOptions = InferOptions(),
            version: str = "rts-infer") -> list[Path]:
    """Every model over one stack: the probability rasters ``<scene_id>.<model>.prob.tif``
    in ``out`` (written whatever is there; no fingerprint)."""
    out = Path(out)
    with rasterio.open(stack) as dataset:
        scene_id = raster.read_scene_info(dataset).scene_id
    outputs = {index: out / contract.model_prob_name(scene_id, model.info.name) for index, model in enumerate(models)}
    job = scene_job(stack, models, list(outputs), outputs, dict.fromkeys(outputs), options, version)
    with Pipeline(models) as pipeline:
        return pipeline.submit(job).result()


def scene_job(stack, models: list[Model], active: list[int], outputs: dict, fingerprints: dict,
              options: InferOptions, version: str) -> SceneJob:
    """How the ``active`` models run over one stack: grouped by tiling (models with the
    same tile size, overlap and stride share every read), each with its bands, its way
    in (stored or normalised) and its output's tags."""
    try:
        opened = rasterio.open(stack)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: {exc}") from None
    with opened as dataset:
        scene = raster.read_scene_info(dataset)
        height, width = dataset.shape
        profile = dict(width=width, height=height, crs=dataset.crs, transform=dataset.transform)
        groups: dict[tuple, list] = {}
        tags, sentinel = {}, None
        for index in active:
            model = models[index]
            selected = stack_bands(dataset, model.info.bands)
            dtypes = {dataset.dtypes[i - 1] for i in selected.indexes}
            dtype = np.dtype(dtypes.pop()) if len(dtypes) == 1 else None
            in_graph = dtype is not None and model.in_graph(dtype)  # else normalised on the host
            if in_graph:
                sentinel = sentinel_for(dtype, dataset.nodata)
            stride = model.info.multiple
            tile = round_up(options.tile_size or model.info.tile_size, stride)  # the network's input size
            overlap = min(options.overlap if options.overlap is not None else model.info.overlap, tile // 2)
            groups.setdefault((tile, overlap, stride), []).append((index, make_feed(
                selected, model.info.normalisation, dtype if in_graph else np.float32, in_graph)))
            tags[index] = raster.scene_tags(
                scene.scene_id, scene.acquired, version, sensor=scene.sensor, model=model.info.name,
                fingerprint=fingerprints[index], RTS_PROVIDER=model.provider,
                **{contract.TAG_MODEL_SHA256: model.sha256}, RTS_PRECISION=model.precision,
                RTS_NORMALISED="graph" if in_graph else "host", RTS_TILE=f"{tile}", RTS_OVERLAP=f"{overlap}")
    job_groups = []
    for (tile, overlap, stride), members in groups.items():
        grid = Grid.of(height, width, tile, overlap, stride, options.blending)
        indexes = [index for index, _ in members]
        batch = min(models[index].batch_size(grid.size, options.batch_size) for index in indexes)
        fixed = any(models[index].feed == "persistent" for index in indexes)
        job_groups.append(Group(grid, indexes, [feed for _, feed in members], batch, fixed))
    return SceneJob(Path(stack), f"{scene.scene_id}", job_groups, outputs, tags, profile, sentinel)


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
