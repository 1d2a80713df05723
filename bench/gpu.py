"""rts-infer at the hardware limit: one table of model throughput per runtime and of
rts-infer end to end, as a share of the device's dense fp16 peak.

    python bench/gpu.py [--tile-size 1024] [--batch 4] [--seconds 3] [--peak-tflops 989]
                        [--stack-size 8000] [--engine-cache DIR] [--region-scenes 6] [--no-region]

Model: UNet++ / ResNet34, depth 5, 10 bands, random weights (as DARTS' tcvis model),
exported to ONNX; its FLOPs are counted from the graph (every Conv, ConvTranspose,
Gemm and MatMul at the tile shape). Rows, each tiles/s and % of peak:

- torch eager fp32 (what DARTS runs), torch fp16 autocast;
- ONNX Runtime CUDA fp32, CUDA fp16 (onnxconverter-common), TensorRT fp16 (engine
  cached in --engine-cache);
- ONNX Runtime CUDA fp16 with each CUDA provider option worth trying (issue #27):
  cudnn_conv_algo_search HEURISTIC and DEFAULT against ONNX Runtime's EXHAUSTIVE,
  prefer_nhwc, CUDA graphs, and the batch size against the tile size (tiles/s and Mpx/s);
- rts-infer end to end on two --stack-size square 10-band int16 stacks with two models
  at the same tile size and batch, with the model normalising its own input (graph) and
  without (host): Mpx/s, tiles/s, the share of the run the GPU was busy (nvidia-smi
  samples), and the next scene's rate as a share of the model-only rate;
- bench/region.py --piped: PlanetScope-sized scenes (5657 x 5657 px, 32 Mpx) through
  ``rts-prep | rts-infer --device cuda --precision fp16 | rts-ensemble``, with the two
  demo models and with two UNet++/ResNet34 models: scenes per hour, each stage's Mpx/s,
  the GPU's busy share and the bounding stage.

Without a GPU it prints the CPU rows (torch and ONNX Runtime on the CPU, end to end on
a smaller stack) and marks the GPU rows "no GPU"; the table's columns stay the same.
The peak comes from the device name (H100/H200: 989 dense fp16 TFLOP/s) or --peak-tflops.
Finishes within about 6 minutes on an H100 or H200 (bench/device.sh runs it there).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _child import GpuSampler

BIN = Path(sys.executable).parent
DENSE_FP16_TFLOPS = {"H200": 989.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                     "A10": 125.0, "V100": 125.0, "T4": 65.0, "RTX 4090": 165.0, "RTX 6000 Ada": 364.0}
CHANNELS = 10


def model_flops(onnx_path: Path, tile: int) -> float:
    """FLOPs of one tile (2 per multiply-add) of the compute-heavy nodes, from the
    graph's shapes at input 1 x C x tile x tile."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(onnx_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, CHANNELS, tile, tile), strict=True):
        dim.Clear()
        dim.dim_value = value
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)}
    weights = {w.name: numpy_helper.to_array(w).shape for w in model.graph.initializer}
    flops = 0.0
    for node in inferred.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] in weights:
            kernel = weights[node.input[1]]
            out = shapes.get(node.output[0])
            if not out:
                continue
            if node.op_type == "Conv":  # kernel (Cout, Cin/g, kh, kw)
                flops += 2.0 * np.prod(out) * np.prod(kernel[1:])
            else:  # kernel (Cin, Cout/g, kh, kw): each input pixel spreads over the kernel
                source = shapes.get(node.input[0])
                flops += 2.0 * np.prod(source) * np.prod(kernel[1:]) if source else 0.0
        elif node.op_type in ("Gemm", "MatMul"):
            out, left = shapes.get(node.output[0]), shapes.get(node.input[0])
            if out and left:
                flops += 2.0 * np.prod(out) * left[-1]
    return flops


def tensorrt_loadable() -> bool:
    """Whether TensorRT's library loads (ONNX Runtime lists its provider either way, and
    falls back to CUDA when it cannot load)."""
    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


def gpu_name() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def peak_tflops(name: str | None, given: float | None) -> float | None:
    if given:
        return given
    if not name:
        return None
    return next((value for key, value in sorted(DENSE_FP16_TFLOPS.items(), key=lambda kv: -len(kv[0]))
                 if key.lower() in name.lower()), None)


def rate(run, batch, seconds: float, warmup: int = 2) -> float:
    """Tiles per second of ``run(batch)`` over about ``seconds`` (after warm-up runs)."""
    for _ in range(warmup):
        run(batch)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 2:
        run(batch)
        count += 1
    return count * batch.shape[0] / (time.perf_counter() - start)


def export_r34(folder: Path, tile: int):
    """UNet++ / ResNet34, depth 5, random weights: the network and its ONNX file."""
    import torch

    from rts_train.config import ModelConfig
    from rts_train.export import export_onnx
    from rts_train.model import build

    torch.manual_seed(0)
    config = ModelConfig(name="tcvis", bands=["ndvi"] * CHANNELS, encoder="resnet34", encoder_depth=5,
                         tile_size=tile, overlap=tile // 8)
    network = build(config).eval()
    return network, export_onnx(network, config, folder / "unetpp_r34.onnx", sample_size=min(tile, 256))


def model_rows(folder: Path, tile: int, batch: int, seconds: float, on_gpu: bool, engine_cache: Path | None):
    import onnxruntime as ort
    import torch

    network, path = export_r34(folder, tile)
    x = np.random.default_rng(0).standard_normal((batch, CHANNELS, tile, tile)).astype(np.float32)
    rows = {}
    with torch.inference_mode():
        if on_gpu:
            gpu, xt = network.cuda(), torch.from_numpy(x).cuda()

            def eager(_):
                gpu(xt)
                torch.cuda.synchronize()

            def autocast(_):
                with torch.autocast("cuda", dtype=torch.float16):
                    gpu(xt)
                torch.cuda.synchronize()

            rows["torch eager fp32"] = rate(eager, x, seconds)
            rows["torch fp16 autocast"] = rate(autocast, x, seconds)
        else:
            xt = torch.from_numpy(x)
            rows["torch eager fp32"] = rate(lambda _: network(xt), x, seconds, warmup=1)
            rows["torch fp16 autocast"] = None
    if on_gpu:
        import onnx
        from onnxconverter_common.float16 import convert_float_to_float16

        fp16 = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True).SerializeToString()
        for label, source, providers in (
                ("onnxruntime CUDA fp32", str(path), ["CUDAExecutionProvider"]),
                ("onnxruntime CUDA fp16", fp16, ["CUDAExecutionProvider"]),
                ("onnxruntime TensorRT fp16", str(path), [("TensorrtExecutionProvider", {
                    "trt_fp16_enable": True, "trt_engine_cache_enable": True, "trt_timing_cache_enable": True,
                    "trt_engine_cache_path": str(engine_cache or folder / "engines")}), "CUDAExecutionProvider"])):
            try:
                session = ort.InferenceSession(source, providers=providers)
            except Exception as exc:  # noqa: BLE001 - a provider that cannot load is a row that says so
                rows[label] = f"unavailable: {str(exc).splitlines()[0][:60]}"
                continue
            wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
            if session.get_providers()[0] != wanted:  # ONNX Runtime fell back to the next provider
                rows[label] = f"unavailable: {wanted} did not load"
                continue
            binding = session.io_binding()
            binding.bind_cpu_input(session.get_inputs()[0].name, x)
            binding.bind_output(session.get_outputs()[0].name, "cuda")
            rows[label] = rate(lambda _, s=session, b=binding: s.run_with_iobinding(b), x, seconds)
    else:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        rows["onnxruntime CPU fp32"] = rate(lambda b: session.run(None, {name: b}), x, seconds, warmup=1)
        for label in ("onnxruntime CUDA fp32", "onnxruntime CUDA fp16", "onnxruntime TensorRT fp16"):
            rows[label] = None
    return path, rows


CUDA_VARIANTS = (("EXHAUSTIVE (ONNX Runtime's default)", {}), ("cudnn_conv_algo_search HEURISTIC",
                  {"cudnn_conv_algo_search": "HEURISTIC"}), ("cudnn_conv_algo_search DEFAULT",
                  {"cudnn_conv_algo_search": "DEFAULT"}), ("prefer_nhwc", {"prefer_nhwc": "1"}),
                 ("CUDA graphs", {"enable_cuda_graph": "1"}))


def option_rows(onnx_path: Path, tile: int, batch: int, seconds: float) -> dict:
    """ONNX Runtime CUDA fp16 per provider option (tile and batch as given), then the
    batch size against the tile size (default options): tiles/s of 1024 px equivalents."""
    import onnx
    import onnxruntime as ort
    from onnxconverter_common.float16 import convert_float_to_float16

    fp16 = convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True).SerializeToString()
    rows = {}

    def measure(options: dict, size: int, count: int):
        x = np.random.default_rng(0).standard_normal((count, CHANNELS, size, size)).astype(np.float32)
        try:
            session = ort.InferenceSession(fp16, providers=[("CUDAExecutionProvider", options)])
        except Exception as exc:  # noqa: BLE001 - an option this build refuses is a row that says so
            return f"failed: {str(exc).splitlines()[0][:50]}"
        binding = session.io_binding()
        if options.get("enable_cuda_graph"):  # fixed device buffers, as the graph replays them
            value = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
            output = ort.OrtValue.ortvalue_from_shape_and_type((count, 1, size, size), np.float32, "cuda", 0)
            binding.bind_ortvalue_input(session.get_inputs()[0].name, value)
            binding.bind_ortvalue_output(session.get_outputs()[0].name, output)
        else:
            binding.bind_cpu_input(session.get_inputs()[0].name, x)
            binding.bind_output(session.get_outputs()[0].name, "cuda")
        try:
            per_second = rate(lambda _: session.run_with_iobinding(binding), x, seconds)
        except Exception as exc:  # noqa: BLE001
            return f"failed: {str(exc).splitlines()[0][:50]}"
        return per_second * size * size / (tile * tile)  # in tiles of the main tile size

    for label, options in CUDA_VARIANTS:
        rows[f"CUDA fp16 {label}, batch {batch}"] = measure(options, tile, batch)
    for size, count in ((tile, 1), (tile, 2), (tile, 8), (tile, 16), (tile // 2, 4 * batch), (tile * 2, 1)):
        rows[f"CUDA fp16 tile {size} px, batch {count}"] = measure({}, size, count)
    return rows


SCENES = (("20230715_201234_12_24a3", "2023-07-15T20:12:34Z"), ("20230716_201234_12_24a3", "2023-07-16T20:12:34Z"))


def stack_file(path: Path, size: int, scene_id: str, acquired: str) -> Path:
    from affine import Affine

    from rts_core import contract, raster

    rng = np.random.default_rng(1)
    names = contract.STACK_BANDS
    with raster.CogWriter(path, width=size, height=size, count=len(names), dtype="int16", crs="EPSG:32608",
                          transform=Affine(3, 0, 500000, 0, -3, 7700000), nodata=-32768,
                          tags=raster.scene_tags(scene_id, acquired, "bench"),
                          band_descriptions=names, scales=[1e-4] * len(names), offsets=[0.0] * len(names),
                          compress="zstd", compress_level=1, overview_resampling="nearest") as out:
        for window in raster.row_windows(size, size, 512):
            out.write(rng.integers(0, 3000, (len(names), window.height, window.width), dtype=np.int16), window=window)
    return path


def two_models(onnx_path: Path, folder: Path, tile: int) -> list[Path]:
    """The benchmark network as the two DARTS models (tcvis, notcvis by name), with
    rts metadata for the stack's bands."""
    import onnx
    from onnx import helper

    from rts_core import contract

    paths = []
    for name in ("tcvis", "notcvis"):
        model = onnx.load(str(onnx_path))
        meta = json.loads({p.key: p.value for p in model.metadata_props}["rts"])
        meta.update(name=name, bands=list(contract.BAND_SETS["tcvis"]), tile_size=tile, overlap=tile // 8)
        helper.set_model_props(model, {"rts": json.dumps(meta)})
        paths.append(folder / f"{name}.onnx")
        onnx.save(model, str(paths[-1]))
    return paths


def end_to_end(folder: Path, onnx_path: Path, size: int, tile: int, on_gpu: bool, engine_cache: Path | None,
               modes: list[str], batch: int):
    """rts-infer over two scenes with two models, per normalisation mode: the first
    scene's time holds loading the models (and cuDNN's search for the batch shapes); the
    second's, from when the first scene's last output appeared to the second's, is the
    rate of a long run."""
    stacks = [stack_file(folder / "stack" / f"{scene_id}.stack.tif", size, scene_id, acquired)
              for scene_id, acquired in SCENES]
    models = two_models(onnx_path, folder, tile)
    from rts_infer.tiling import layout, round_up

    context = round_up(tile // 16, 32)
    padded = round_up(size + 2 * context, 32)
    tiles = 2 * sum(len(row) for row in layout(padded, padded, tile, tile // 8, multiple=32))
    rows = {}
    for how in modes:
        command = [str(BIN / "rts-infer"), "-q", *map(str, stacks), *(f"--model={m}" for m in models),
                   "--normalise", how, "--batch-size", str(batch), "--overwrite", "-o", str(folder / how)]
        command += ["--device", "cuda", "--precision", "fp16"] if on_gpu else ["--device", "cpu"]
        command += ["--tensorrt"] if on_gpu and tensorrt_loadable() else []
        if on_gpu and engine_cache:
            command += ["--engine-cache", str(engine_cache)]
        with GpuSampler() as sampler:
            start = time.time()
            done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            print(f"rts-infer ({how}) failed: {last}", file=sys.stderr)
            rows[how] = "failed (standard error above)"
            continue
        first, second = (max(p.stat().st_mtime for p in (folder / how).glob(f"{scene_id}.*.prob.tif"))
                         for scene_id, _ in SCENES)
        for label, seconds in (("first scene", first - start), ("next scene", second - first)):
            rows[f"{how}, {label}"] = (size * size / seconds / 1e6, tiles / seconds, sampler.busy)
    return rows, tiles


def region(r34_models: list[Path], on_gpu: bool, scenes: int, folder: Path) -> list[str]:
    """bench/region.py --piped with the demo models and with two UNet++/ResNet34 models:
    its report, per model set (on the CPU: two small scenes and the demo models only, to
    show the run works)."""
    root = Path(__file__).resolve().parent.parent
    size, count = (5657, scenes) if on_gpu else (512, 2)
    options = "--device cuda --precision fp16" if on_gpu else "--device cpu"
    sets = [("demo models (UNet++ ResNet-18, 512 px tiles)", [root / "models" / "demo" / "tcvis.onnx",
                                                               root / "models" / "demo" / "notcvis.onnx"])]
    if on_gpu:
        sets.append(("UNet++ ResNet34 models (1024 px tiles)", r34_models))
    reports = []
    for label, models in sets:
        command = [sys.executable, str(root / "bench" / "region.py"), "--piped", "--scenes", str(count), "--size",
                   str(size), "--distinct", "1", "--work", str(folder / "region"), "--infer-options",
                   f"{options} --allow-preprocessing-mismatch", *(f"--model={m}" for m in models)]
        done = subprocess.run(command, capture_output=True, text=True)
        output = done.stdout.strip() if done.returncode == 0 else \
            f"failed: {(done.stderr.strip().splitlines() or ['exit ' + str(done.returncode)])[-1]}"
        reports.append(f"region, {label}:\n{output}")
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile-size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="Timing per model row.")
    parser.add_argument("--peak-tflops", type=float, help="Dense fp16 peak (default: from the device name).")
    parser.add_argument("--stack-size", type=int, help="End-to-end stack (default 8000 on a GPU, 1024 on the CPU).")
    parser.add_argument("--engine-cache", type=Path, help="TensorRT engine cache (default: a temporary folder).")
    parser.add_argument("--modes", default="graph,host", help="rts-infer --normalise modes end to end.")
    parser.add_argument("--region-scenes", type=int, default=6, help="Scenes of the region runs (PlanetScope-sized).")
    parser.add_argument("--no-region", dest="region", action="store_false", help="Skip the region runs.")
    parser.add_argument("--only-region", action="store_true", help="Only the region runs.")
    args = parser.parse_args()
    import onnxruntime as ort
    import torch

    on_gpu = torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers()
    name = gpu_name() if on_gpu else None
    peak = peak_tflops(name, args.peak_tflops)
    tile = args.tile_size if on_gpu else min(args.tile_size, 512)
    batch = args.batch if on_gpu else 1
    seconds = args.seconds if on_gpu else min(args.seconds, 5.0)
    size = args.stack_size or (8000 if on_gpu else 1024)
    if args.only_region:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "r34").mkdir()
            _, onnx_path = export_r34(folder, tile)
            reports = region(two_models(onnx_path, folder / "r34", tile), on_gpu, args.region_scenes, folder)
        print(f"device: {name or 'CPU (no GPU)'}")
        print("\n".join(reports))
        print("(region target on one 16-core GPU node: >= 1,700 scenes an hour)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        onnx_path, rows = model_rows(folder, tile, batch, seconds, on_gpu, args.engine_cache)
        flops = model_flops(onnx_path, tile)
        options = option_rows(onnx_path, tile, batch, seconds) if on_gpu else {}
        e2e, tiles = end_to_end(folder, onnx_path, size, tile, on_gpu, args.engine_cache, args.modes.split(","),
                                batch)
        if args.region:
            (folder / "r34").mkdir()
            models = two_models(onnx_path, folder / "r34", tile)
            region_runs = region(models, on_gpu, args.region_scenes, folder)
        else:
            region_runs = []
    device = name or "CPU (no GPU: the GPU rows say so)"
    print(f"device: {device}; dense fp16 peak {f'{peak:.0f} TFLOP/s' if peak else 'unknown (--peak-tflops)'}")
    print(f"model: UNet++ ResNet34 depth 5, {CHANNELS} bands, {flops / 1e9:.0f} GFLOP per {tile} px tile, "
          f"batch {batch}")
    print(f"{'row':<48} {'tiles/s':>9} {'Mpx/s':>8} {'% peak':>7} {'GPU busy':>9}")

    def share(tiles_per_second):
        return f"{100 * tiles_per_second * flops / (peak * 1e12):.1f}" if peak else "-"

    for label, value in [*rows.items(), *options.items()]:
        if value is None or isinstance(value, str):
            print(f"{label:<48} {value or 'no GPU':>9}")
            continue
        print(f"{label:<48} {value:>9.2f} {value * tile * tile / 1e6:>8.1f} {share(value):>7} {'':>9}")
    runtime, model_only = ("TensorRT fp16", "onnxruntime TensorRT fp16") if name and tensorrt_loadable() else \
        ("CUDA fp16", "onnxruntime CUDA fp16") if name else ("CPU fp32", "onnxruntime CPU fp32")
    for how, value in e2e.items():
        label = f"rts-infer {runtime}, {how}"
        if isinstance(value, str):
            print(f"{label:<48} {value}")
            continue
        mpx, per_second, busy = value
        print(f"{label:<48} {per_second:>9.2f} {mpx:>8.1f} {share(per_second):>7} "
              f"{f'{100 * busy:.0f} %' if busy is not None else '-':>9}")
    steady = [v[1] for k, v in e2e.items() if k.endswith("next scene") and not isinstance(v, str)]
    if steady and isinstance(rows.get(model_only), float):
        print(f"next scene at {100 * max(steady) / rows[model_only]:.0f} % of the model-only rate ({model_only}, "
              f"same tile size and batch; target >= 50 %)")
    if isinstance(rows.get(model_only), float) and peak:
        print(f"model only at {share(rows[model_only])} % of the dense fp16 peak (target >= 15 %)")
    print(f"(end to end: two {size} px scenes, two models, {tiles} tiles of {tile} px a scene; Mpx/s of the scene "
          f"through both models; GPU busy: share of nvidia-smi samples above 0 % over the whole two-scene run "
          f"(target >= 75 %); model rows: one batch repeated for about {seconds:.0f} s, Mpx/s of tiles; option "
          f"and batch rows in tiles of {tile} px a second)")
    for report in region_runs:
        print(report)
    if any("pipeline" in report for report in region_runs):
        print("(region target on one 16-core GPU node: >= 1,700 scenes an hour)")


if __name__ == "__main__":
    main()
