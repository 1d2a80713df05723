"""Command line of rts-infer: stacks x models -> probability rasters."""

from __future__ import annotations

import logging
import sys

import click
import rasterio

from rts_core import cli, contract
from rts_core.raster import read_scene_info
from rts_core.runner import InputError, Plan, report_error

from .predict import InferOptions, check_preprocessing, predict_stack, read_stack_record
from .session import DeviceError, Model, ModelError, providers_for

log = logging.getLogger(__name__)
TOOL = "rts-infer"


@cli.command(TOOL, TOOL, epilog="""Example:

\b
  rts-infer stacks/*.stack.tif --model tcvis.onnx --model notcvis.onnx -o probs
  rts-prep ... | rts-infer - --model tcvis.onnx --device cuda --precision fp16 --batch-size 8 -o probs

Writes <scene_id>.<model name>.prob.tif per stack and model: probability of RTS as
uint8 0-100 with scale 0.01 and nodata 255 (DARTS' encoding). Each model is loaded
once per run; tiles are read and normalised on other threads while the model runs.""")
@cli.paths_argument(metavar="STACK...")
@click.option("--model", "models", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False), help="ONNX model with rts metadata (repeatable).")
@cli.out_dir_option()
@click.option("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--tensorrt", is_flag=True, help="Use the TensorRT execution provider (on CUDA) when installed.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32",
              help="fp16 converts the model's weights and computation (input and output stay float32).")
@click.option("--batch-size", default=4, type=click.IntRange(1), help="Tiles per model call.")
@click.option("--tile-size", type=click.IntRange(32), help="Tile size, px (default: the model's metadata).")
@click.option("--overlap", type=click.IntRange(0), help="Tile overlap, px (default: the model's metadata).")
@click.option("--blending", type=click.Choice(["linear", "cosine"]), default="linear",
              help="Weight ramp across tile overlaps.")
@click.option("--threads", type=click.IntRange(1), help="ONNX Runtime CPU threads (default: all cores).")
@click.option("--allow-preprocessing-mismatch", is_flag=True,
              help="Run a model on stacks made otherwise than its training stacks (another TPI radius, slope "
                   "method, sensor, ...) with a warning, instead of refusing them.")
@cli.run_options(TOOL)
def main(paths, models, out, device, tensorrt, precision, batch_size, tile_size, overlap, blending, threads,
         allow_preprocessing_mismatch, run):
    """Run ONNX models tile by tile over whole stacks and write probability rasters.

    Each stack's RTS_PREPROCESSING record (TPI radius, slope method, terrain resampling,
    validity rule, sensor, pixel size) must match what each model was trained on; a
    stack that does not is refused, and nothing is written for it."""
    stacks = cli.stream_paths(paths)  # stacks are processed as they arrive through a pipe
    try:
        providers = providers_for(device, tensorrt)
    except DeviceError as exc:
        report_error(f"--device {device}", exc)
        sys.exit(1)
    loaded, failed = [], False
    for path in models:
        try:
            model = Model(path, providers, precision, threads)
        except ModelError as exc:
            report_error(path, exc, debug=run.debug)
            failed = True
            continue
        if model.cuda_unavailable:
            reason = "the CUDA execution provider could not be loaded (CUDA/cuDNN libraries or GPU missing)"
            if device != "auto":
                report_error(f"--device {device}", DeviceError(reason))
                sys.exit(1)
            log.warning("%s: running on the CPU", reason)
        log.info("model %s (%s): %d bands, provider %s, %s", model.info.name, path, len(model.info.bands),
                 model.provider, precision)
        loaded.append(model)
    names = [m.info.name for m in loaded]
    if len(set(names)) != len(names):
        clash = InputError(f"two models share a name ({', '.join(names)}): outputs would clash")
        report_error(", ".join(models), clash)
        sys.exit(1)
    for model in loaded:
        if model.info.preprocessing is None:
            log.warning("%s: model %s has no preprocessing record (exported by an older rtsmap): stacks cannot be "
                        "checked against it", model.path, model.info.name)
    options = InferOptions(tile_size=tile_size, overlap=overlap, batch_size=batch_size, blending=blending)
    version = f"{TOOL} {cli.tool_version(TOOL)}"
    records: dict[str, dict | None] = {}

    def plan(stack):
        try:
            with rasterio.open(stack) as dataset:
                scene_id = read_scene_info(dataset).scene_id
                records[stack] = read_stack_record(dataset)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read: {exc}") from None
        return Plan([out / contract.model_prob_name(scene_id, model.info.name) for model in loaded])

    def process(stack, item_plan):
        record = records.pop(stack)
        for model in loaded:  # every model first: a stack that fits one model but not another gets nothing
            warning = check_preprocessing(record, model, allow_preprocessing_mismatch)
            if warning:
                log.warning("%s: %s", stack, warning)
        if record is None:
            log.warning("%s: no %s record (made by an older rts-prep): cannot check it fits the model(s)", stack,
                        contract.TAG_PREPROCESSING)
        for model, output in zip(loaded, item_plan.outputs, strict=True):
            if run.overwrite or not output.exists():
                predict_stack(stack, model, output, options, version)

    result = run.items(stacks, plan, process, label="infer", out_dirs=[out])
    sys.exit(1 if failed or result.failed else 0)
