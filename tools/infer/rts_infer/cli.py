"""Command line of rts-infer: stacks x models -> probability rasters."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import click

from rts_core import cli
from rts_core.errors import RunError
from rts_core.runner import run_items
from rts_core.tuning import tune_allocator_for_pipeline

from .pipeline import Pipeline
from .predict import InferOptions, infer_stack, plan_stack
from .session import DeviceError, load_models, parse_cuda_options

TOOL = "rts-infer"


@cli.command(TOOL, TOOL, epilog="""Example:

\b
  rts-infer stacks/*.stack.tif --model tcvis.onnx --model notcvis.onnx -o probs
  rts-prep ... | rts-infer - --model tcvis.onnx --device cuda --precision fp16 --batch-size 8 -o probs

Writes <scene_id>.<model name>.prob.tif per stack and model: probability of RTS as
uint8 0-100 with scale 0.01 and nodata 255 (DARTS' encoding). Each model is loaded
once per run and each stack is read once for all of them: one thread decodes the stack
strip by strip and cuts every model's tiles, one only runs the models, one blends and
writes, one encodes the finished rasters, so the next scene's tiles are ready while
this one's last run (GPU: pip install 'rts-infer[gpu]').""")
@cli.paths_argument(metavar="STACK...")
@click.option("--model", "models", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False), help="ONNX model with rts metadata (repeatable).")
@cli.out_dir_option()
@click.option("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--tensorrt", is_flag=True,
              help="TensorRT in fp16 (on CUDA), its engines cached in --engine-cache for reruns.")
@click.option("--engine-cache", type=click.Path(file_okay=False, path_type=Path),
              help="TensorRT engine cache (default: $XDG_CACHE_HOME/rtsmap/tensorrt, a folder per model hash).")
@click.option("--cuda-graphs", is_flag=True, help="ONNX Runtime captures and replays CUDA graphs (fixed tile shape).")
@click.option("--cuda-option", "cuda_options", multiple=True, metavar="KEY=VALUE",
              help="An ONNX Runtime CUDA provider option (repeatable): prefer_nhwc=1, "
                   "cudnn_conv_algo_search=HEURISTIC|EXHAUSTIVE|DEFAULT, use_tf32=0, ... (bench/gpu.py measures them).")
@click.option("--normalise", type=click.Choice(["auto", "graph", "host"]), default="auto",
              help="graph: the session takes the stored integer bands and normalises them itself (half the bytes "
                   "to the device); host: numpy on the reader thread, once a strip for all models (float stacks "
                   "always); auto: graph on a GPU, host on the CPU.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32",
              help="fp16 converts the model's weights and computation (input and output stay float32).")
@click.option("--batch-size", type=click.IntRange(1),
              help="Tiles per model call (default: 2 on the CPU, from free memory on a GPU).")
@click.option("--tile-size", type=click.IntRange(32), help="Tile size, px (default: the model's metadata).")
@click.option("--overlap", type=click.IntRange(0), help="Tile overlap, px (default: the model's metadata).")
@click.option("--blending", type=click.Choice(["linear", "cosine"]), default="linear",
              help="Weight ramp across tile overlaps.")
@click.option("--threads", type=click.IntRange(1), help="ONNX Runtime CPU threads (default: all cores).")
@click.option("--allow-preprocessing-mismatch", is_flag=True,
              help="Run a model on stacks made otherwise than its training stacks (another TPI radius, slope "
                   "method, sensor, ...) with a warning, instead of refusing them.")
@cli.run_options(TOOL)
def main(paths, models, out, device, tensorrt, engine_cache, cuda_graphs, cuda_options, normalise, precision,
         batch_size, tile_size, overlap, blending, threads, allow_preprocessing_mismatch, run):
    """Run ONNX models tile by tile over whole stacks and write probability rasters.

    Each stack's RTS_PREPROCESSING record (TPI radius, slope method, terrain resampling,
    validity rule, sensor, pixel size) must match what each model was trained on; a
    stack that does not is refused, and nothing is written for it."""
    stacks = cli.stream_paths(paths)  # stacks are processed as they arrive through a pipe
    try:
        cuda = parse_cuda_options(cuda_options)
    except DeviceError as exc:
        raise RunError("--cuda-option", str(exc)) from None
    models = load_models(models, device, tensorrt, precision, threads, normalise, engine_cache, cuda_graphs, cuda)
    options = InferOptions(tile_size=tile_size, overlap=overlap, batch_size=batch_size, blending=blending,
                           precision=precision, allow_mismatch=allow_preprocessing_mismatch)
    version = cli.version_string(TOOL)
    try:
        with Pipeline(models) as pipeline:
            result = run_items(stacks, partial(plan_stack, out=out, models=models, options=options,
                                               version=version),
                               partial(infer_stack, pipeline=pipeline, models=models, options=options,
                                       version=version, overwrite=run.overwrite),
                               run, label="infer", out_dirs=[out], in_flight=3)
    finally:
        for model in models:
            model.close()
    cli.exit_with(result)


def entry() -> None:
    """The rts-infer console script: the allocator tuned for the pipeline's threads, then the command."""
    tune_allocator_for_pipeline()
    # strips are read once, block row by block row: GDAL's cache of decoded blocks would
    # only hold memory (a GDAL_CACHEMAX set by the user wins)
    os.environ.setdefault("GDAL_CACHEMAX", "64")
    main()
