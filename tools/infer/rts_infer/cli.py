"""Command line of rts-infer: stacks x models -> probability rasters."""

from __future__ import annotations

import logging

import click
import rasterio

from rts_core import cli, contract
from rts_core.raster import read_scene_info
from rts_core.runner import InputError, Plan, fingerprint

from .predict import InferOptions, check_preprocessing, predict_stack, read_stack_record
from .session import load_models

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
    loaded = load_models(models, device, tensorrt, precision, threads)  # a model that cannot run stops the run
    options = InferOptions(tile_size=tile_size, overlap=overlap, batch_size=batch_size, blending=blending)
    version = f"{TOOL} {cli.tool_version(TOOL)}"
    settings = (tile_size, overlap, blending, precision, allow_preprocessing_mismatch, version)  # what changes results
    records: dict[str, dict | None] = {}

    def plan(stack):
        try:
            with rasterio.open(stack) as dataset:
                scene_id = read_scene_info(dataset).scene_id
                records[stack] = read_stack_record(dataset)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read: {exc}") from None
        return Plan([out / contract.model_prob_name(scene_id, model.info.name) for model in loaded],
                    fingerprint=[fingerprint([stack, model.path], settings) for model in loaded])

    def process(stack, item_plan):
        record = records.pop(stack)
        for model in loaded:  # every model first: a stack that fits one model but not another gets nothing
            warning = check_preprocessing(record, model, allow_preprocessing_mismatch)
            if warning:
                log.warning("%s: %s", stack, warning)
        if record is None:
            log.warning("%s: no %s record (made by an older rts-prep): cannot check it fits the model(s)", stack,
                        contract.TAG_PREPROCESSING)
        for index, model in enumerate(loaded):
            if run.overwrite or item_plan.output_state(index)[0] != "complete":
                predict_stack(stack, model, item_plan.outputs[index], options, version,
                              item_plan.fingerprint_of(index))

    cli.exit_with(run.items(stacks, plan, process, label="infer", out_dirs=[out]))
