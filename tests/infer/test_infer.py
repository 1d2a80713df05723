"""rts-infer: tiling equals whole-image inference, metadata-driven bands, no-data, errors."""

import hashlib

import numpy as np
import onnxruntime
import pytest
import rasterio

from rts_infer.tiling import axis_weights, layout, reflect_index, starts
from tests.conftest import run_script
from tests.infer.models import SCENE_ID, conv_model, identity_model, save_model, stride_model, write_stack


def infer(*args):
    return run_script("rts-infer", *args)


def read_probability(path):
    with rasterio.open(path) as dataset:
        assert dataset.dtypes[0] == "uint8" and dataset.nodata == 255 and dataset.scales == (0.01,)
        stored = dataset.read(1)
        return stored, dataset.tags()


@pytest.mark.parametrize("tile, overlap", [(128, 32), (96, 40), (100, 16)])
def test_tiled_equals_whole_image_including_the_outermost_pixels(tmp_path, tile, overlap):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(300, 370))
    model = conv_model(tmp_path / "local.onnx")
    whole = infer(stack, "--model", model, "--tile-size", 512, "-o", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    tiled = infer(stack, "--model", model, "--tile-size", tile, "--overlap", overlap, "--batch-size", 3,
                  "-o", tmp_path / "tiled")
    assert tiled.returncode == 0, tiled.stderr
    name = f"{SCENE_ID}.local.prob.tif"
    assert tiled.stdout.splitlines() == [str(tmp_path / "tiled" / name)]
    a, tags = read_probability(tmp_path / "whole" / name)
    b, _ = read_probability(tmp_path / "tiled" / name)
    assert (a != 255).all() and 5 < a.mean() < 95
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # one step of the stored encoding
    np.testing.assert_allclose(b[[0, -1]], a[[0, -1]], atol=1)
    np.testing.assert_allclose(b[:, [0, -1]], a[:, [0, -1]], atol=1)
    assert tags["RTS_MODEL"] == "local" and tags["RTS_SCENE_ID"] == SCENE_ID
    assert tags["RTS_PROVIDER"] == "CPUExecutionProvider"
    assert tags["RTS_ACQUIRED"] == "2023-07-15T20:12:34Z"
    assert tags["RTS_MODEL_SHA256"] == hashlib.sha256(model.read_bytes()).hexdigest()  # the model's version


def test_weights_are_full_at_the_scene_edges_and_ramp_inside():
    rows = layout(300, 370, 128, 32)
    first, last = rows[0][0], rows[-1][-1]
    assert first.weights[:32, :32].min() == 1  # sides at the scene's edges keep weight 1
    assert last.weights[-1, -1] == 1
    assert first.weights[0, -1] == 0  # inner border of a tile: context missing, weight 0
    total = np.zeros((300, 370))
    for line in rows:
        for t in line:
            total[t.row:t.row + t.height, t.col:t.col + t.width] += t.weights
    assert total.min() > 0.5


def test_tiles_alike_share_one_read_only_weight_array():
    rows = layout(2000, 2000, 256, 64)
    tiles = [t for line in rows for t in line]
    distinct = {id(t.weights) for t in tiles}
    assert len(distinct) <= 16 < len(tiles)
    assert not tiles[0].weights.flags.writeable
    inner = rows[1][1]
    expected = np.outer(axis_weights(inner.height, 64, True, True, "linear"),
                        axis_weights(inner.width, 64, True, True, "linear"))
    np.testing.assert_array_equal(inner.weights, expected)


def test_band_selection_and_normalisation_follow_the_metadata(tmp_path):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(90, 110))
    model = identity_model(tmp_path / "slope.onnx", "slope", 1 / 90, 0.0, name="slopeonly")
    done = infer(stack, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    probability, _ = read_probability(tmp_path / "out" / f"{SCENE_ID}.slopeonly.prob.tif")
    with rasterio.open(stack) as dataset:
        slope = dataset.read(dataset.descriptions.index("slope") + 1) * 0.01
    np.testing.assert_allclose(probability * 0.01, np.clip(slope / 90, 0, 1), atol=0.0051)


def test_nodata_propagates(tmp_path):
    invalid = (slice(20, 40), slice(30, 200))
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(150, 260), invalid=invalid)
    done = infer(stack, "--model", conv_model(tmp_path / "local.onnx"), "--tile-size", 64, "--overlap", 16,
                 "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    probability, _ = read_probability(tmp_path / "out" / f"{SCENE_ID}.local.prob.tif")
    assert (probability[invalid] == 255).all()
    outside = np.ones(probability.shape, bool)
    outside[invalid] = False
    assert (probability[outside] <= 100).all()


def test_two_models_loaded_once_and_small_scene(tmp_path):
    stacks = [write_stack(tmp_path / f"20230715_20123{i}_12_24a3.stack.tif", shape=(50, 70), seed=i,
                          scene_id=f"20230715_20123{i}_12_24a3") for i in range(2)]
    a = conv_model(tmp_path / "a.onnx", name="a")
    b = identity_model(tmp_path / "b.onnx", "ndvi", 0.5, 0.5, name="b")
    done = infer(*stacks, "--model", a, "--model", b, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    names = [p.rsplit("/", 1)[1] for p in done.stdout.splitlines()]
    assert names == ["20230715_201230_12_24a3.a.prob.tif", "20230715_201230_12_24a3.b.prob.tif",
                     "20230715_201231_12_24a3.a.prob.tif", "20230715_201231_12_24a3.b.prob.tif"]
    assert done.stderr.count("model a (") == 1 and done.stderr.count("model b (") == 1


def test_fp16(tmp_path):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(80, 90))
    model = conv_model(tmp_path / "local.onnx")
    try:
        import onnx
        from onnxconverter_common.float16 import convert_float_to_float16

        half = convert_float_to_float16(onnx.load(str(model)), keep_io_types=True)
        session = onnxruntime.InferenceSession(half.SerializeToString(), providers=["CPUExecutionProvider"])
        session.run(None, {"input": np.zeros((1, 1, 32, 32), np.float32)})
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"the CPU execution provider cannot run this fp16 model here: {str(exc).splitlines()[0]}")
    done32 = infer(stack, "--model", model, "-o", tmp_path / "fp32")
    done16 = infer(stack, "--model", model, "--precision", "fp16", "-o", tmp_path / "fp16")
    assert done16.returncode == 0, done16.stderr
    a, _ = read_probability(tmp_path / "fp32" / f"{SCENE_ID}.local.prob.tif")
    b, tags = read_probability(tmp_path / "fp16" / f"{SCENE_ID}.local.prob.tif")
    assert tags["RTS_PRECISION"] == "fp16" and done32.returncode == 0
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_bad_inputs_each_one_line(tmp_path):
    good = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(60, 60))
    short = write_stack(tmp_path / "20230716_201234_12_24a3.stack.tif", shape=(60, 60),
                        bands=("blue", "green", "red", "nir", "ndvi"), scene_id="20230716_201234_12_24a3")
    broken = tmp_path / "20230717_201234_12_24a3.stack.tif"
    broken.write_bytes(b"not a tiff")
    model = identity_model(tmp_path / "slope.onnx", "slope", 1 / 90, 0.0, name="slopeonly")
    done = infer(good, short, broken, "--model", model, "-o", tmp_path / "out")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0] == f"error: {short}: stack lacks band(s) slope needed by the model"
    assert errors[1].startswith(f"error: {broken}: cannot read")
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{SCENE_ID}.slopeonly.prob.tif"]

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 nonsense")
    mismatch = save_model(tmp_path / "mismatch.onnx", [onnx_identity()], [], 1,
                          {"name": "mm", "bands": ["ndvi", "slope"], "scale": [1, 1], "offset": [0, 0]})
    # a model that cannot be used stops the run before any stack (CONTRACT §1: exit 2, one line)
    for bad, reason in ((garbage, "cannot load the model"),
                        (mismatch, "model input has 1 channels but its metadata lists 2 bands")):
        done = infer(good, "--model", bad, "--model", model, "-o", tmp_path / "out2")
        assert done.returncode == 2
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: {reason}")
        assert done.stdout == "" and not (tmp_path / "out2").exists()


def onnx_identity():
    from onnx import helper

    return helper.make_node("Identity", ["input"], ["output"])


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="a GPU is here")
def test_cuda_requested_without_a_gpu(tmp_path):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(40, 40))
    model = conv_model(tmp_path / "local.onnx")
    done = infer(stack, "--model", model, "--device", "cuda", "-o", tmp_path / "out")
    assert done.returncode == 2  # a run-level option that cannot be used (CONTRACT §1)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "CUDA is not available" in errors[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    auto = infer(stack, "--model", model, "--device", "auto", "-o", tmp_path / "auto")
    assert auto.returncode == 0 and "running on the CPU" in auto.stderr


@pytest.mark.parametrize("tile, overlap", [(256, 100), (96, 30), (64, 18)])
def test_tiled_equals_whole_scene_for_overlaps_off_the_models_stride(tmp_path, tile, overlap):
    """A stride-4 network gives the same result tiled as on the whole scene when the
    mirrored context (half the overlap: 50, 15, 9 px) is rounded up to the stride and
    tile origins fall on it; at a context of 50 px the cells would shift by 2 px."""
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(300, 370))
    model = stride_model(tmp_path / "strided.onnx")
    whole = infer(stack, "--model", model, "--tile-size", 512, "-o", tmp_path / "whole")
    tiled = infer(stack, "--model", model, "--tile-size", tile, "--overlap", overlap, "-o", tmp_path / "tiled")
    assert whole.returncode == 0 and tiled.returncode == 0, whole.stderr + tiled.stderr
    a, _ = read_probability(tmp_path / "whole" / f"{SCENE_ID}.strided.prob.tif")
    b, tags = read_probability(tmp_path / "tiled" / f"{SCENE_ID}.strided.prob.tif")
    assert (a != 255).all() and a.std() > 5  # the model's output varies: a shift of the cells would show
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert int(tags["RTS_TILE"]) % 4 == 0


def test_reflect_index_is_numpys_reflection():
    for length in (1, 2, 5, 9):
        values = np.arange(length)
        for pad in (0, 3, 12):
            expected = np.pad(values, pad, mode="reflect") if length > 1 else np.zeros(length + 2 * pad, int)
            np.testing.assert_array_equal(reflect_index(np.arange(-pad, length + pad), length), expected)


def test_tile_origins_fall_on_the_stride():
    origins = starts(1024, 256, 100, 32)
    assert all(o % 32 == 0 for o in origins) and origins[-1] == 1024 - 256
    assert all(b - a <= 256 - 100 for a, b in zip(origins, origins[1:], strict=False))
    assert starts(1000, 256, 100) == [0, 156, 312, 468, 624, 744]


RECORD = {"tpi_radius_m": 100.0, "slope_method": "horn", "terrain_resampling": "cubic",
          "validity_rule": "udm2_darts_v1", "sensor": "PlanetScope", "pixel_size_m": 3.0}


def test_a_stack_made_otherwise_than_the_models_training_stacks_is_refused(tmp_path):
    other = "20230716_201234_12_24a3"
    wrong = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(60, 60),
                        preprocessing={**RECORD, "tpi_radius_m": 50.0, "pixel_size_m": 3.125})
    right = write_stack(tmp_path / f"{other}.stack.tif", shape=(60, 60), scene_id=other, preprocessing=RECORD)
    strict = stride_model(tmp_path / "strict.onnx", name="strict", preprocessing=RECORD)
    plain = conv_model(tmp_path / "plain.onnx", name="plain")  # no record: cannot be checked
    done = infer(wrong, right, "--model", strict, "--model", plain, "-o", tmp_path / "out")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {wrong}: tpi_radius_m 50.0 in the stack but 100.0 in model strict (prep the scene "
                      "as the model's training stacks were, or --allow-preprocessing-mismatch)"]
    assert "model plain has no preprocessing record" in done.stderr
    # nothing for the refused stack, from either model (PSOrthoTile's 3.125 m passes as 3 m)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{other}.plain.prob.tif",
                                                                     f"{other}.strict.prob.tif"]
    allowed = infer(wrong, "--model", strict, "--allow-preprocessing-mismatch", "-o", tmp_path / "allowed")
    assert allowed.returncode == 0, allowed.stderr
    assert "tpi_radius_m 50.0 in the stack but 100.0 in model strict (running anyway" in allowed.stderr
    assert (tmp_path / "allowed" / f"{SCENE_ID}.strict.prob.tif").exists()
    old = write_stack(tmp_path / "old" / f"{SCENE_ID}.stack.tif", shape=(60, 60))  # no record
    done = infer(old, "--model", strict, "-o", tmp_path / "old_out")
    assert done.returncode == 0 and "no RTS_PREPROCESSING record" in done.stderr


def test_mirrored_tiles_are_copied_by_runs_of_views():
    """A tile's scene rows (mirrored at the edges, extended to the input size) become
    runs of slices, forwards or backwards, that copy exactly what the index gathers."""
    from rts_infer.strips import runs

    rng = np.random.default_rng(0)
    for length in (1, 2, 3, 5, 37, 300):
        for start in (-70, -5, 0, 3, 250):
            for extent in (1, 4, 64, 200):
                index = reflect_index(np.arange(start, start + extent), length)
                if extent > 1:
                    index = np.pad(index, (0, 7), mode="reflect")
                values = rng.normal(size=length)
                copied = np.full(index.size, np.nan)
                pairs = runs(np.arange(index.size), index)
                for target, source in pairs:
                    copied[target] = values[source]
                assert np.array_equal(copied, values[index]), (length, start, extent)
    assert len(runs(np.arange(10), np.r_[3, 2, 1, 0, 1, 2, 3, 4, 5, 6])) == 2  # backwards, then forwards
