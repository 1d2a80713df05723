"""rts-infer: ONNX Runtime against torch eager on the same tiles, and memory over an
8000 x 8000 scene.

1. UNet++ / ResNet34 (depth 5, 10 bands), random weights, exported to ONNX; the same
   tiles run through torch eager and ONNX Runtime; prints tiles/s of both and their
   ratio, on CPU, and on GPU when one is there (fp32 and fp16).
2. Peak RSS of ``rts-infer`` over an 8000 x 8000 10-band stack (built here), with two
   small convolutional models (tcvis and notcvis bands): the memory bound does not
   depend on the network.
3. The feed rate: rts-infer with a trivial model (one band passed through), the
   pipeline's own ceiling, in Mpx/s and Mpx/s per core for reading, feeding, blending
   and writing, with the model normalising its own input (graph) and without (host):
   bytes a tile hands the session and CPU time per tile, before and after.
4. The host floor (issue #27): one stack made by rts-synth and rts-prep (ZSTD), two
   trivial models (tcvis and notcvis bands), in the same run: (a) CPU seconds to decode
   every band the models need once, plus the mask; (b) CPU seconds to encode the two
   probability rasters as rts-infer writes them; (c) rts-infer's CPU and wall seconds
   on the CPU, and the ratio c / (a + b) (target <= 1.5).

    python bench/infer.py [--tiles 4] [--tile-size 512] [--skip-rss] [--feed-size 4000]
                          [--floor-size 4000] [--only floor|rss|feed|runtimes] [--work DIR]

Targets (issue #6): ONNX Runtime >= 1.3x torch on CPU; on GPU fp16 ONNX Runtime >= 2x
torch eager fp32; peak RSS under 2 GB for the 8000 px scene.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _child import measured

BIN = Path(sys.executable).parent


def time_runs(run, batches, repeat=1):
    run(batches[0])  # warm-up (and cuDNN autotuning)
    start = time.perf_counter()
    for _ in range(repeat):
        for batch in batches:
            run(batch)
    return time.perf_counter() - start


def compare(tiles: int, size: int, folder: Path):
    import onnxruntime as ort
    import torch

    from rts_train.config import ModelConfig
    from rts_train.export import export_onnx
    from rts_train.model import build

    torch.manual_seed(0)
    config = ModelConfig(name="bench", bands=["ndvi"] * 10, encoder="resnet34", encoder_depth=5)
    model = build(config).eval()
    path = export_onnx(model, config, folder / "unetpp_r34.onnx", sample_size=size)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((1, 10, size, size)).astype(np.float32) for _ in range(tiles)]
    rows = []
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    torch_times, ort_times = [], []
    for _ in range(3):  # interleaved rounds, median: CPU clocks drift between runs
        with torch.inference_mode():
            torch_times.append(time_runs(lambda b: model(torch.from_numpy(b)), batches))
        ort_times.append(time_runs(lambda b: session.run(None, {name: b}), batches))
    t_torch, t_ort = float(np.median(torch_times)), float(np.median(ort_times))
    rows.append(("cpu fp32", tiles / t_torch, tiles / t_ort))
    if torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers():
        gpu = model.cuda()
        with torch.inference_mode():
            t_torch_gpu = time_runs(lambda b: gpu(torch.from_numpy(b).cuda()).cpu(), batches, repeat=5)
        for precision in ("fp32", "fp16"):
            source = str(path)
            if precision == "fp16":
                import onnx
                from onnxconverter_common.float16 import convert_float_to_float16

                source = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True).SerializeToString()
            session = ort.InferenceSession(source, providers=["CUDAExecutionProvider"])
            t = time_runs(lambda b, s=session: s.run(None, {name: b}), batches, repeat=5)
            rows.append((f"gpu {precision} (torch fp32)", 5 * tiles / t_torch_gpu, 5 * tiles / t))
    return rows


def tiny_model(path: Path, bands: str = "tcvis"):
    import onnx
    from onnx import TensorProto, helper

    from rts_core import contract

    names = list(contract.BAND_SETS[bands])
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.1, (8, len(names), 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.1, (1, 8, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["output"], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(names), "H", "W"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])],
                              [helper.make_tensor("w1", TensorProto.FLOAT, w1.shape, w1.ravel()),
                               helper.make_tensor("w2", TensorProto.FLOAT, w2.shape, w2.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"name": f"tiny_{bands}", "bands": names, "scale": [1.0] * len(names), "offset": [0.0] * len(names),
            "clip": None, "output": "logits", "tile_size": 1024, "overlap": 128, "threshold": 0.5,
            "architecture": "conv", "encoder": "none", "encoder_depth": 0}
    helper.set_model_props(model, {"rts": json.dumps(meta)})
    onnx.save(model, str(path))
    return path


def trivial_model(path: Path, bands: str = "tcvis"):
    """Band 0 of the input, sigmoid-free: the network costs nothing, the pipeline all."""
    import onnx
    from onnx import TensorProto, helper

    from rts_core import contract

    names = list(contract.BAND_SETS[bands])
    nodes = [helper.make_node("Slice", ["input", "start", "end", "axis"], ["output"])]
    init = [helper.make_tensor(name, TensorProto.INT64, [1], [value])
            for name, value in (("start", 0), ("end", 1), ("axis", 1))]
    graph = helper.make_graph(nodes, "trivial",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(names), "H", "W"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"name": "trivial" if bands == "tcvis" else f"trivial_{bands}", "bands": names,
            "scale": [1.0] * len(names), "offset": [0.0] * len(names), "clip": [0, 1], "output": "probability",
            "tile_size": 1024, "overlap": 128, "encoder_depth": 0}
    helper.set_model_props(model, {"rts": json.dumps(meta)})
    onnx.save(model, str(path))
    return path


def feed_times(stack: Path, model_path: Path, repeat: int = 3) -> dict[str, float]:
    """Host CPU per 1024 px tile to read and prepare it, the part a GPU run pays on the
    host: stored integers for the graph, normalised float32 for the host (one thread:
    strips decoded, validity found, bands normalised for host, tiles cut as rts-infer's
    reader does)."""
    import rasterio

    from rts_infer.predict import InferOptions, scene_job
    from rts_infer.session import Model
    from rts_infer.strips import StackStrips

    times = {}
    for how in ("graph", "host"):
        model = Model(model_path, ["CPUExecutionProvider"], normalise=how)
        job = scene_job(stack, [model], [0], {0: stack.with_suffix(".x")}, {0: None}, InferOptions(), "bench")
        group = job.groups[0]
        feed = group.feeds[0]
        out = np.empty((len(feed.bands.indexes), group.grid.size, group.grid.size), feed.input_dtype)
        rounds = []
        for _ in range(repeat):
            with rasterio.Env(GDAL_CACHEMAX=64), rasterio.open(stack) as dataset:  # one thread decodes
                start = time.process_time()
                strips = StackStrips(dataset, group.grid, group.feeds, job.sentinel)
                for number, line in enumerate(group.grid.rows):
                    strips.start_row(number)
                    for tile in line:
                        strips.tile(0, tile, out)
                rounds.append((time.process_time() - start) / group.grid.tiles)
        times[how] = float(np.median(rounds))
    return times


def feed_rate(folder: Path, size: int) -> None:
    """rts-infer with the trivial model, graph against host normalisation."""
    from _child import measured_cpu

    from rts_infer.tiling import layout

    stack = big_stack(folder / "feed" / "20230715_201234_12_24a3.stack.tif", size)
    model = trivial_model(folder / "trivial.onnx")
    tiles = sum(len(row) for row in layout(size + 128, size + 128, 1024, 128))
    feed = feed_times(stack, model)
    print(f"feed rate: {size} x {size} x 10 int16 stack, trivial model, tiles of 1024 px ({tiles} tiles), 2 cores")
    print(f"{'normalised':<11} {'seconds':>8} {'Mpx/s':>7} {'Mpx/s/core':>11} {'CPU ms/tile':>12} "
          f"{'host feed ms/tile':>18} {'bytes/tile':>12} {'peak MB':>8}")
    for how in ("host", "graph"):
        seconds, peak, cpu = measured_cpu([str(BIN / "rts-infer"), "-q", str(stack), "--model", str(model),
                                           "--device", "cpu", "--normalise", how, "--overwrite",
                                           "-o", str(folder / "feed" / how)])
        per_tile = 1024 * 1024 * 10 * (2 if how == "graph" else 4)
        print(f"{how:<11} {seconds:>8.1f} {size * size / seconds / 1e6:>7.2f} {size * size / cpu / 1e6:>11.2f} "
              f"{1000 * cpu / tiles:>12.0f} {1000 * feed[how]:>18.1f} {per_tile:>12,} {peak:>8.0f}")
    print("(rts-infer on the CPU picks host: --normalise auto; on a GPU, graph: the host pays only the feed column)")


def synth_stack(folder: Path, size: int) -> Path:
    """One scene of ``size`` px made by rts-synth and stacked by rts-prep (ZSTD, as users
    have them); kept in ``folder`` between runs."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob("stacks/*.stack.tif"))
    if found:
        return found[0]
    world = folder / "world"
    command = (f"{BIN}/rts-synth -q -o {world} --scenes 1 --size {size} --years 2023 --seed 7 | "
               f"{BIN}/rts-prep -q - --dem {world}/aux/dem.tif --tcvis {world}/aux/tcvis.tif -o {folder}/stacks")
    print(f"making a {size} px stack with rts-synth and rts-prep in {folder} ...", file=sys.stderr, flush=True)
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)
    return sorted(folder.glob("stacks/*.stack.tif"))[0]


def decode_seconds(stack: Path, bands: list[str]) -> float:
    """CPU seconds (this process, one thread) to decode each of ``bands`` once and the
    mask, block row by block row."""
    import rasterio

    from rts_core import raster

    start = time.process_time()
    with rasterio.open(stack) as dataset:
        indexes = sorted(dataset.descriptions.index(b) + 1 for b in bands)
        block = dataset.block_shapes[0][0]
        for window in raster.row_windows(dataset.height, dataset.width, block):
            dataset.read(indexes, window=window)
            dataset.dataset_mask(window=window)
    return time.process_time() - start


def encode_seconds(outputs: list[Path], folder: Path) -> float:
    """CPU seconds (this process) to write ``outputs`` again as rts-infer writes them:
    the values read first (not timed), then written row band by row band."""
    import rasterio

    from rts_core import raster

    try:
        from rts_infer.predict import probability_writer
    except ImportError:  # the implementation before issue #27
        def probability_writer(path, *, width, height, crs, transform, tags):
            from rts_core import contract

            return raster.CogWriter(path, width=width, height=height, count=1, dtype=contract.PROB_DTYPE,
                                    nodata=contract.PROB_NODATA, scales=[contract.PROB_SCALE], offsets=[0.0],
                                    tags=tags, band_descriptions=("rts_probability",), crs=crs, transform=transform)
    total = 0.0
    for index, path in enumerate(outputs):
        with rasterio.open(path) as dataset:
            values, tags = dataset.read(1), dataset.tags()
            profile = dict(width=dataset.width, height=dataset.height, crs=dataset.crs, transform=dataset.transform)
        start = time.process_time()
        with probability_writer(folder / f"encoded{index}.tif", tags=tags, **profile) as out:
            for window in raster.row_windows(profile["height"], profile["width"], 512):
                out.write(values[window.row_off:window.row_off + window.height], window=window)
        total += time.process_time() - start
    return total


def second_scene(stack: Path) -> Path:
    """The same stack under another scene id (a copy whose RTS_SCENE_ID tag is changed)."""
    import shutil

    import rasterio

    from rts_core import contract

    copy = stack.parent.parent / "second" / "20230731_205156_24_241f.stack.tif"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stack, copy)
        with rasterio.open(copy, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
            dataset.update_tags(**{contract.TAG_SCENE_ID: "20230731_205156_24_241f"})
    return copy


def host_floor(folder: Path, size: int, work: Path | None, repeat: int = 5) -> None:
    """rts-infer's host CPU against the floor of decoding its input and encoding its
    outputs (issue #27), two trivial models, on the CPU: the whole command on one scene,
    and what a second scene adds to a run (the rate of a long run, the command's start
    and the models' loading paid once)."""
    import os

    from _child import measured_cpu

    from rts_core import contract

    stack = synth_stack((work or folder) / f"floor{size}", size)
    second = second_scene(stack)
    models = [trivial_model(folder / "trivial_tcvis.onnx", "tcvis"),
              trivial_model(folder / "trivial_notcvis.onnx", "notcvis")]
    out = folder / "floor"

    def infer(*stacks):
        return measured_cpu([str(BIN / "rts-infer"), "-q", *map(str, stacks), *(f"--model={m}" for m in models),
                             "--device", "cpu", "--overwrite", "-o", str(out)])

    one = sorted((infer(stack) for _ in range(repeat)), key=lambda r: r[2])[repeat // 2]  # median by CPU
    two = sorted((infer(stack, second) for _ in range(repeat)), key=lambda r: r[2])[repeat // 2]
    outputs = sorted(out.glob(f"{stack.name.split('.')[0]}.*.prob.tif"))
    bands = sorted(set(contract.BAND_SETS["tcvis"]) | set(contract.BAND_SETS["notcvis"]))
    decode = min(decode_seconds(stack, bands) for _ in range(repeat))
    encode = min(encode_seconds(outputs, folder) for _ in range(repeat))
    _, _, startup_cpu = measured_cpu([str(BIN / "rts-infer"), "--help"])
    floor = decode + encode
    wall, peak, cpu = one
    print(f"host floor: {size} x {size} stack from rts-synth and rts-prep ({stack.stat().st_size / 2**20:.0f} MiB), "
          f"two trivial models (tcvis, notcvis), tiles of 1024 px, {os.cpu_count()} cores; medians of {repeat} runs")
    print(f"  (a) decode {len(bands)} bands once + mask:  {decode:6.2f} CPU s")
    print(f"  (b) encode {len(outputs)} probability rasters:   {encode:6.2f} CPU s")
    print(f"  (c) rts-infer, one scene:            {cpu:6.2f} CPU s, {wall:.2f} s wall, peak RSS {peak:.0f} MB "
          f"(starting the command alone: {startup_cpu:.2f} CPU s)")
    print(f"      rts-infer, the scene and a copy: {two[2]:6.2f} CPU s, {two[0]:.2f} s wall; the second scene "
          f"{two[2] - cpu:.2f} CPU s, {two[0] - wall:.2f} s wall")
    print(f"  c / (a + b) = {cpu / floor:.2f} for the command on one scene; {(two[2] - cpu) / floor:.2f} for a "
          f"scene in a run (target <= 1.5); wall / (a + b) = {wall / floor:.2f} and {(two[0] - wall) / floor:.2f}")


def big_stack(path: Path, size: int = 8000):
    from affine import Affine

    from rts_core import contract, raster

    rng = np.random.default_rng(1)
    names = contract.STACK_BANDS
    with raster.CogWriter(path, width=size, height=size, count=len(names), dtype="int16", crs="EPSG:32608",
                          transform=Affine(3, 0, 500000, 0, -3, 7700000), nodata=-32768,
                          tags=raster.scene_tags("20230715_201234_12_24a3", "2023-07-15T20:12:34Z", "bench"),
                          band_descriptions=names, scales=[1e-4] * len(names), offsets=[0.0] * len(names),
                          compress="zstd", compress_level=1, overview_resampling="nearest") as out:
        for window in raster.row_windows(size, size, 512):
            out.write(rng.integers(0, 3000, (len(names), window.height, window.width), dtype=np.int16), window=window)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--feed-size", type=int, default=4000, help="Stack size for the feed rate (0: skip).")
    parser.add_argument("--floor-size", type=int, default=4000, help="Stack size for the host floor (0: skip).")
    parser.add_argument("--only", choices=["floor", "rss", "feed", "runtimes"], help="Only this part.")
    parser.add_argument("--work", type=Path, help="Keep the host floor's synthetic stack here between runs.")
    args = parser.parse_args()
    parts = {args.only} if args.only else {"floor", "rss", "feed", "runtimes"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "floor" in parts and args.floor_size:
            host_floor(folder, args.floor_size, args.work)
        # memory before torch: a child forked from a process holding torch would report the
        # parent's pages in its own peak RSS
        if "rss" in parts and not args.skip_rss:
            models = [tiny_model(folder / "tiny_tcvis.onnx", "tcvis"), tiny_model(folder / "tiny_notcvis.onnx",
                                                                                    "notcvis")]
            for size in (2000, 8000):
                stack = big_stack(folder / str(size) / "20230715_201234_12_24a3.stack.tif", size)
                seconds, peak, _ = measured([str(BIN / "rts-infer"), "-q", str(stack),
                                             *(f"--model={m}" for m in models), "--device", "cpu",
                                             "-o", str(folder / str(size) / "probs")])
                print(f"{size} x {size} x 10 stack, two small conv models (tcvis, notcvis bands), CPU: "
                      f"{seconds:.1f} s, peak RSS {peak:.0f} MB (target for 8000 px: <= 2000 MB)")
        if "feed" in parts and args.feed_size:
            feed_rate(folder, args.feed_size)
        if "runtimes" in parts:
            print(f"UNet++ ResNet34 depth 5, 10 bands, {args.tiles} tiles of {args.tile_size} px")
            print(f"{'device':<26} {'torch tiles/s':>14} {'onnxruntime tiles/s':>20} {'ratio':>6}")
            for device, torch_rate, ort_rate in compare(args.tiles, args.tile_size, folder):
                print(f"{device:<26} {torch_rate:>14.3f} {ort_rate:>20.3f} {ort_rate / torch_rate:>6.2f}")


if __name__ == "__main__":
    main()
