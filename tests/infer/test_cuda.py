"""On a GPU: rts-infer --device cuda gives the CPU's probabilities within one stored
step in fp32 and two in fp16, with the model normalising its own input, through
IOBinding and through CUDA graphs, and TensorRT caches its engines. Skipped without a
GPU (ONNX Runtime's CUDA provider and a device); run it where one is lent."""

import ctypes
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import rasterio

from rts_infer.session import free_gpu_bytes
from tests.conftest import run_script
from tests.infer.models import SCENE_ID, write_stack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" not in onnxruntime.get_available_providers() or free_gpu_bytes() is None,
    reason="no GPU: ONNX Runtime's CUDA provider or a CUDA device is missing")


def tensorrt_loadable() -> bool:
    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


def probabilities(folder: Path) -> np.ndarray:
    with rasterio.open(folder / f"{SCENE_ID}.tcvis.prob.tif") as dataset:
        return dataset.read(1).astype(int)


@pytest.mark.parametrize("precision, steps, extra", [
    ("fp32", 1, []), ("fp16", 2, []), ("fp32", 1, ["--cuda-graphs"]),
    pytest.param("fp16", 2, ["--tensorrt"], marks=pytest.mark.skipif(
        not tensorrt_loadable(), reason="TensorRT's libnvinfer.so.10 is not installed"))])
def test_cuda_equals_the_cpu(tmp_path, precision, steps, extra):
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(1100, 1300), invalid=(slice(0, 50), slice(0, 80)))
    model = ROOT / "models" / "demo" / "tcvis.onnx"
    cpu = run_script("rts-infer", stack, "--model", model, "--device", "cpu", "--allow-preprocessing-mismatch",
                     "-o", tmp_path / "cpu")
    gpu = run_script("rts-infer", stack, "--model", model, "--device", "cuda", "--precision", precision,
                     "--normalise", "graph", "--engine-cache", tmp_path / "engines", "--allow-preprocessing-mismatch",
                     *extra, "-o", tmp_path / "gpu")
    assert cpu.returncode == 0 and gpu.returncode == 0, cpu.stderr + gpu.stderr
    a, b = probabilities(tmp_path / "cpu"), probabilities(tmp_path / "gpu")
    assert np.array_equal(a == 255, b == 255)
    assert np.abs(a - b).max() <= steps
    with rasterio.open(tmp_path / "gpu" / f"{SCENE_ID}.tcvis.prob.tif") as dataset:
        tags = dataset.tags()
    assert tags["RTS_NORMALISED"] == "graph" and tags["RTS_PROVIDER"] in (
        "CUDAExecutionProvider", "TensorrtExecutionProvider")
    if "--tensorrt" in extra:
        assert any((tmp_path / "engines").rglob("*.engine"))  # cached for the next run
