"""rts-infer's pipeline: each strip of a stack decoded once for all models, a scene that
breaks midway isolated from the others (nothing of it left), the next scene read while
this one's last tiles run, runs settled in input order, and the run-level errors of its
new options."""

import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import rasterio

from rts_core import atomic
from rts_core.runner import Plan, RunOptions, run_items
from rts_infer import load_models
from rts_infer.predict import InferOptions, scene_job
from rts_infer.strips import StackStrips
from tests.conftest import run_script
from tests.infer.golden import conv_over, stack
from tests.infer.models import identity_model

TCVIS = ["ndvi", "blue", "green", "red", "nir", "relative_elevation", "slope", "tc_brightness", "tc_greenness",
         "tc_wetness"]


def test_every_strip_is_decoded_once_for_all_models(tmp_path):
    path = stack(tmp_path / "20230715_201234_12_24a3.stack.tif", (700, 650), seed=1,
                 invalid=(slice(0, 40), slice(0, 90)))
    models = load_models([conv_over(tmp_path / "a.onnx", "a", TCVIS, 1, offset=[0.1] * 10),
                          conv_over(tmp_path / "b.onnx", "b", TCVIS[:7], 2, offset=[0.1] * 7)], device="cpu")
    job = scene_job(path, models, [0, 1], {0: tmp_path / "a.tif", 1: tmp_path / "b.tif"}, {0: None, 1: None},
                    InferOptions(tile_size=128, overlap=48), "test")
    [group] = job.groups  # one tiling: the two models share every read
    with rasterio.open(path) as dataset:
        strips = StackStrips(dataset, group.grid, group.feeds, job.sentinel)
        reads = []
        original = strips._read
        strips._read = lambda key: reads.append(key) or original(key)
        buffers = [np.empty((len(feed.bands.indexes), group.grid.size, group.grid.size), feed.input_dtype)
                   for feed in group.feeds]
        for number, line in enumerate(group.grid.rows):
            strips.start_row(number)
            assert len(strips.strips) <= 2 + group.grid.tile // strips.strip_rows  # only the rows tiles need
            for tile in line:
                for feed, buffer in enumerate(buffers):
                    strips.tile(feed, tile, buffer)
        assert len(group.grid.rows) > 4
    assert sorted(reads) == reads and len(set(reads)) == len(reads)  # each block row once, in order
    assert len(reads) == -(-700 // strips.strip_rows)
    # the normalised bands of the notcvis model are the tcvis model's: one plane each
    assert len(strips.plane_keys) == len(TCVIS) and strips.plane_of[1] == strips.plane_of[0][:7]


def corrupt_block(path: Path, row: int) -> None:
    """Overwrite the compressed bytes of the block holding ``row`` (first column)."""
    with rasterio.open(path) as dataset:
        block = row // dataset.block_shapes[0][0]
        offset = int(dataset.get_tag_item(f"BLOCK_OFFSET_0_{block}", "TIFF", bidx=1))
        size = int(dataset.get_tag_item(f"BLOCK_SIZE_0_{block}", "TIFF", bidx=1))
    with open(path, "r+b") as handle:
        handle.seek(offset + 8)
        handle.write(bytes(range(256)) * (max(size - 16, 0) // 256) + b"\xff" * ((max(size - 16, 0)) % 256))


def test_a_scene_that_breaks_midway_leaves_nothing_and_the_others_complete(tmp_path):
    ids = ["20230715_201230_12_24a3", "20230715_201231_12_24a3", "20230715_201232_12_24a3"]
    stacks = [stack(tmp_path / f"{scene}.stack.tif", (1200, 300), seed=n, scene_id=scene) for n, scene in
              enumerate(ids)]
    corrupt_block(stacks[1], 700)  # the second block row: after the first tiles went through the models
    a = conv_over(tmp_path / "a.onnx", "a", TCVIS, 1)
    b = identity_model(tmp_path / "b.onnx", "slope", 1 / 30, 0.5, name="b")
    out = tmp_path / "out"
    done = run_script("rts-infer", *stacks, "--model", a, "--model", b, "--tile-size", 128, "--overlap", 32,
                      "-o", out)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {stacks[1]}: cannot read"), done.stderr
    assert done.stdout.split() == [str(out / f"{scene}.{m}.prob.tif") for scene in (ids[0], ids[2])
                                   for m in ("a", "b")]  # in input order
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{scene}.{m}.prob.tif" for scene in (ids[0], ids[2])
                                                            for m in ("a", "b"))  # no temporary, no part
    with rasterio.open(out / f"{ids[2]}.a.prob.tif") as dataset:
        assert dataset.read(1).std() > 2


def test_the_next_scene_is_read_while_this_ones_last_tiles_run(tmp_path):
    ids = ["20230715_201230_12_24a3", "20230715_201231_12_24a3"]
    stacks = [stack(tmp_path / f"{scene}.stack.tif", (600, 600), seed=n, scene_id=scene) for n, scene in
              enumerate(ids)]
    model = conv_over(tmp_path / "a.onnx", "a", TCVIS, 1)
    done = run_script("rts-infer", *stacks, "--model", model, "--tile-size", 64, "--overlap", 16, "--debug",
                      "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    reading_second = next(i for i, line in enumerate(lines) if f"reading {stacks[1]}" in line)
    first_finished = next(i for i, line in enumerate(lines) if f"finished {ids[0]}" in line)
    assert reading_second < first_finished


def test_runs_settle_in_input_order_whatever_finishes_first(tmp_path):
    """Work that returns futures (rts-infer's pipeline): paths printed in input order, a
    failure reported with its input and its outputs removed, the others kept."""
    outputs = {name: tmp_path / f"{name}.txt" for name in "abcd"}
    delays = {"a": 0.3, "b": 0.0, "c": 0.1, "d": 0.0}
    printed = []

    def work(plan: Plan) -> Future:
        future: Future = Future()
        name = plan.data

        def finish():
            time.sleep(delays[name])
            plan.outputs[0].write_text(name)
            if name == "c":
                future.set_exception(ValueError("broken on purpose"))
            else:
                future.set_result(None)

        threading.Thread(target=finish).start()
        return future

    import rts_core.runner as runner

    original = runner.emit
    runner.emit = lambda paths: printed.extend(str(p) for p in paths)
    try:
        result = run_items(list("abcd"), lambda name: Plan([outputs[name]], data=name), work,
                           RunOptions("test"), out_dirs=[tmp_path], in_flight=3)
    finally:
        runner.emit = original
    assert printed == [str(outputs[name]) for name in "abd"]
    assert result.failed == ["c"] and not outputs["c"].exists() and outputs["a"].read_text() == "a"


def test_unknown_cuda_options_and_a_missing_runtime_stop_the_run(tmp_path):
    path = stack(tmp_path / "20230715_201234_12_24a3.stack.tif", (60, 60), seed=1)
    model = conv_over(tmp_path / "a.onnx", "a", TCVIS, 1)
    for option, reason in (("prefer_nhwc=2", "prefer_nhwc takes 0 or 1"), ("gpu_mem_limit=1", "unknown option")):
        done = run_script("rts-infer", path, "--model", model, "--cuda-option", option, "-o", tmp_path / "out")
        assert done.returncode == 2
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(f"error: --cuda-option: --cuda-option {option}: "), errors
        assert reason in errors[0]
    without = ("import sys; sys.modules['onnxruntime'] = None; sys.argv[0] = 'rts-infer'; "
               "from rts_infer.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", without, str(path), "--model", str(model), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2 and "pip install 'rts-infer[cpu]'" in done.stderr, done.stderr
    assert not list(atomic.Path(tmp_path).glob("out/*"))


def test_a_model_failing_on_one_scene_fails_that_scene_alone(tmp_path, monkeypatch):
    """An error of the model thread (a CUDA error, say) on one scene's batches: that
    scene gets one error line and nothing on disk; the scenes before and after complete."""
    from rts_infer.session import Model

    ids = ["20230715_201230_12_24a3", "20230715_201231_12_24a3", "20230715_201232_12_24a3"]
    stacks = [stack(tmp_path / f"{scene}.stack.tif", (300, 300), seed=n, scene_id=scene) for n, scene in
              enumerate(ids)]
    model = conv_over(tmp_path / "a.onnx", "a", TCVIS, 1)
    calls = []
    original = Model.run_normalised

    def failing_on_the_second_scene(self, batch):
        calls.append(len(calls))
        if calls[-1] == per_scene:  # the second scene's first batch
            raise RuntimeError("CUDA failure: an illegal memory access was encountered")
        return original(self, batch)

    per_scene = 8  # 16 tiles of 128 px at 2 a batch
    monkeypatch.setattr(Model, "run_normalised", failing_on_the_second_scene)
    done = run_script("rts-infer", *stacks, "--model", model, "--tile-size", 128, "--overlap", 32, "-o",
                      tmp_path / "out")
    assert len(calls) == 2 * per_scene + 1  # the broken scene's other batches skip the model
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {stacks[1]}: CUDA failure: an illegal memory access was encountered"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{ids[0]}.a.prob.tif", f"{ids[2]}.a.prob.tif"]
