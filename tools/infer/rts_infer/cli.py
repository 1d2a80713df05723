"""Command line of rts-infer: stacks x models -> probability rasters."""

from __future__ import annotations

import logging
import sys

import click
import rasterio

from rts_core import cli, contract
from rts_core.raster import read_scene_info
from rts_core.runner import InputError, Plan, report_error

from .predict import InferOptions, predict_stack
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
@cli.run_options(TOOL)
def main(paths, models, out, device, tensorrt, precision, batch_size, tile_size, overlap, blending, threads, run):
    """Run ONNX models tile by tile over whole stacks and write probability rasters."""
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
    options = InferOptions(tile_size=tile_size, overlap=overlap, batch_size=batch_size, blending=blending)
    version = f"{TOOL} {cli.tool_version(TOOL)}"
    scene_ids: dict[str, str] = {}

    def scene_id(stack: str) -> str:
        if stack not in scene_ids:
            try:
                scene_ids[stack] = read_scene_info(stack).scene_id
            except rasterio.errors.RasterioIOError as exc:
                raise InputError(f"cannot read: {exc}") from None
        return scene_ids[stack]

    def plan(item):
        stack, model = item
        return Plan([out / contract.model_prob_name(scene_id(stack), model.info.name)])

    def process(item, item_plan):
        stack, model = item
        predict_stack(stack, model, item_plan.outputs[0], options, version)

    items = ((stack, model) for stack in stacks for model in loaded)
    result = run.items(items, plan, process, label="infer", source=lambda item: item[0], out_dirs=[out])
    sys.exit(1 if failed or result.failed else 0)
