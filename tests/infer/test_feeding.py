"""The model normalises its own input (graph.py) exactly as rts_core.model_input does,
tiles cross as stored integers, and the GPU feeding paths (IOBinding, fixed buffers
for CUDA graphs, TensorRT options) run and agree, here on the CPU."""

import numpy as np
import onnx
import onnxruntime
import pytest
import rasterio
from onnx import helper

from rts_core import contract
from rts_core.model_input import affine, model_input, stack_bands
from rts_infer import graph
from rts_infer.predict import InferOptions, predict
from rts_infer.session import Model, batch_size_for, engine_cache_dir, free_gpu_bytes, provider_options
from rts_infer.strips import make_feed, window_input
from tests.conftest import run_script
from tests.infer.models import SCENE_ID, conv_model, write_stack

BANDS = list(contract.BAND_SETS["tcvis"])


def tcvis_model(path, clip=True):
    model = conv_model(path, name="tcvis", bands=BANDS)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    import json

    rts = json.loads(meta["rts"])
    rts.update(scale=[0.5, 10 / 3, 10 / 3, 10 / 3, 10 / 3, 0.01, 1 / 90, 1 / 255, 1 / 255, 1 / 255],
               offset=[0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0], clip=[0.0, 1.0] if clip else None, output="logits")
    helper.set_model_props(proto, {"rts": json.dumps(rts)})
    onnx.save(proto, str(path))
    return model


def test_the_graph_normalises_exactly_as_model_input(tmp_path):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(64, 80), invalid=(slice(5, 20), slice(10, 30)))
    model = Model(tcvis_model(tmp_path / "m.onnx"), ["CPUExecutionProvider"])
    wrapped = graph.with_stored_input(model.proto, model.info.normalisation, "logits", np.int16, -32768)
    wrapped.graph.output.extend([helper.make_tensor_value_info("rts_normalised", onnx.TensorProto.FLOAT, None)])
    session = onnxruntime.InferenceSession(wrapped.SerializeToString(), providers=["CPUExecutionProvider"])
    with rasterio.open(stack) as dataset:
        selected = stack_bands(dataset, BANDS)
        stored = dataset.read(selected.indexes)
        valid = dataset.dataset_mask() > 0
        feed = make_feed(selected, model.info.normalisation, np.int16, in_graph=True)
        tile = window_input(dataset, feed, 0, 0, 80, sentinel=-32768)  # rows 64-79 reflected
    assert tile.dtype == np.int16 and (tile[:, :64][:, ~valid] == -32768).all()
    per_band = (1, len(BANDS), 1, 1)
    factor, term = affine(selected, model.info.normalisation)
    _, normalised = session.run(None, {"stored": tile[None], "factor": factor.reshape(per_band),
                                       "term": term.reshape(per_band)})
    expected = model_input(stored, valid, selected, model.info.normalisation)
    assert (~valid).any() and (expected[:, ~valid] == 0).all()
    assert np.array_equal(normalised[0][:, :64], expected)  # bit for bit, invalid pixels included


@pytest.mark.parametrize("clip", [True, False])
def test_graph_and_host_normalisation_give_identical_probabilities(tmp_path, clip):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(150, 170), invalid=(slice(20, 40), slice(0, 60)))
    model = tcvis_model(tmp_path / "m.onnx", clip)
    results = {}
    for how in ("graph", "host"):
        done = run_script("rts-infer", stack, "--model", model, "--normalise", how, "--tile-size", 64, "--overlap", 16,
                          "-o", tmp_path / how)
        assert done.returncode == 0, done.stderr
        with rasterio.open(tmp_path / how / f"{SCENE_ID}.tcvis.prob.tif") as dataset:
            results[how] = dataset.read(1)
            assert dataset.tags()["RTS_NORMALISED"] == how
    assert np.array_equal(results["graph"], results["host"])
    assert (results["graph"][20:40, :60] == contract.PROB_NODATA).all() and results["graph"].std() > 1


def test_stored_tiles_cross_at_half_the_bytes(tmp_path):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(128, 128))
    model = Model(tcvis_model(tmp_path / "m.onnx"), ["CPUExecutionProvider"])
    with rasterio.open(stack) as dataset:
        selected = stack_bands(dataset, BANDS)
        stored = window_input(dataset, make_feed(selected, model.info.normalisation, np.int16, True), 0, 0, 128,
                              sentinel=-32768)
        normalised = window_input(dataset, make_feed(selected, model.info.normalisation, np.float32, False),
                                  0, 0, 128)
    assert stored.nbytes * 2 == normalised.nbytes  # 20 bytes a pixel instead of 40


@pytest.mark.parametrize("normalise", ["graph", "host"])
@pytest.mark.parametrize("feed", ["bound", "persistent"])
def test_iobinding_and_fixed_buffers_give_the_plain_result(tmp_path, feed, normalise):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(200, 230), invalid=(slice(0, 30), slice(0, 30)))
    path = tcvis_model(tmp_path / "m.onnx")
    options = InferOptions(tile_size=64, overlap=16, batch_size=3)  # 28 tiles: the last batch is short
    plain, other = (Model(path, ["CPUExecutionProvider"], normalise=normalise) for _ in range(2))
    assert plain.feed == "plain"
    other.feed = feed  # on a GPU: bound by default, persistent with --cuda-graphs
    [a] = predict(stack, [plain], tmp_path / "plain", options, "test")
    [b] = predict(stack, [other], tmp_path / "other", options, "test")
    with rasterio.open(a) as a, rasterio.open(b) as b:
        assert np.array_equal(a.read(), b.read()) and a.read().std() > 1
    if feed == "persistent":
        assert len(other.buffers) == 1  # one shape for every batch, the last one padded


def test_tensorrt_runs_fp16_with_engines_cached_per_model_hash(tmp_path):
    chosen = provider_options([("TensorrtExecutionProvider", {"device_id": 1}), ("CUDAExecutionProvider", {}),
                               "CPUExecutionProvider"], b"model bytes", tmp_path / "cache", cuda_graphs=True)
    trt, cuda, cpu = chosen
    assert trt[1]["trt_fp16_enable"] and trt[1]["trt_engine_cache_enable"] and trt[1]["device_id"] == 1
    assert trt[1]["trt_engine_cache_path"] == str(engine_cache_dir(tmp_path / "cache", b"model bytes"))
    assert cuda == ("CUDAExecutionProvider", {"enable_cuda_graph": True}) and cpu == "CPUExecutionProvider"
    same, other = engine_cache_dir(tmp_path, b"a"), engine_cache_dir(tmp_path, b"b")
    assert same == engine_cache_dir(tmp_path, b"a") and same != other and same.parent == tmp_path


def test_auto_normalises_in_the_graph_on_a_gpu_only(tmp_path):
    path = tcvis_model(tmp_path / "m.onnx")
    assert Model(path, ["CPUExecutionProvider"]).normalise == "host"
    assert Model(path, ["CPUExecutionProvider"], normalise="graph").in_graph(np.int16)
    assert not Model(path, ["CPUExecutionProvider"], normalise="graph").in_graph(np.float32)  # NaN: host


def test_batch_size_from_free_memory():
    assert batch_size_for(None, 1024, 10, "fp32") == 2  # no GPU: the CPU's (held twice: one run, one cut)
    assert batch_size_for(80 * 2**30, 1024, 10, "fp32") == 16
    assert batch_size_for(80 * 2**30, 1024, 10, "fp16") == 32  # capped
    assert batch_size_for(2**30, 1024, 10, "fp32") == 1
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert free_gpu_bytes() is None  # no CUDA provider: nothing to ask


def test_a_gpu_batch_never_holds_a_tensor_past_what_cuda_indexes(tmp_path, monkeypatch, caplog):
    """32 tiles of 1024 px through UNet++ / ResNet34 failed on an H200 in a Concat
    ('cudaErrorInvalidValue'): its largest tensor passed 2^31 elements. The batch is cut
    to what the graph's largest tensor allows."""
    model = Model(conv_model(tmp_path / "m.onnx", bands=("ndvi", "red")), ["CPUExecutionProvider"])
    assert graph.largest_tensor(model.proto, 1024) == 2 * 1024 * 1024  # the 2-band input
    assert graph.largest_tensor(model.proto, 4096) == 2 * 4096 * 4096
    assert model.batch_size(4096, 200) == 200  # the CPU: as asked
    model.on_gpu = True
    monkeypatch.setattr("rts_infer.session.free_gpu_bytes", lambda device=0: 2**50)
    assert model.batch_size(4096) == 32  # memory allows 32; 2^31 / (2 x 4096^2) = 64
    assert model.batch_size(8192) == 15  # 2^31 / (2 x 8192^2) = 16, less one for 2^31 - 1
    assert model.batch_size(8192, 40) == 15 and "passes the 2^31 elements" in caplog.text
