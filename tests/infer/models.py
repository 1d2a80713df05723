"""Tiny ONNX models and stacks built in code (no torch) for inference tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from affine import Affine
from onnx import TensorProto, helper

from rts_core import contract, raster

SCENE_ID = "20230715_201234_12_24a3"


def save_model(path: Path, nodes, initializers, channels: int, meta: dict, declared_channels=None) -> Path:
    declared = declared_channels if declared_channels is not None else channels
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", declared, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    full = {"name": "m", "bands": ["ndvi"], "scale": [1.0], "offset": [0.0], "clip": None, "output": "probability",
            "tile_size": 128, "overlap": 32, "threshold": 0.5, "architecture": "test", "encoder": "none",
            "encoder_depth": 0}
    full.update(meta)
    helper.set_model_props(model, {"rts": json.dumps(full)})
    onnx.save(model, str(path))
    return path


def conv_model(path: Path, name="local", bands=("ndvi",)) -> Path:
    """A fixed 3 x 3 convolution of the first band plus a sigmoid: a locally-acting model."""
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.6, size=(1, len(bands), 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["z"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["z"], ["output"])]
    init = [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel())]
    return save_model(path, nodes, init, len(bands), {"name": name, "bands": list(bands),
                                                       "scale": [1.0] * len(bands), "offset": [0.0] * len(bands)})


def stride_model(path: Path, stride: int = 4, name="strided", preprocessing=None) -> Path:
    """Mean of 4 x 4 cells at stride 4, upsampled back (nearest), sigmoid: a network
    with stride 4 and no padding, so its output depends on nothing but the phase of the
    cells (encoder depth 2: inputs must be multiples of 4)."""
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[stride, stride],
                              strides=[stride, stride]),
             helper.make_node("Resize", ["pooled", "", "scales"], ["up"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("Sigmoid", ["up"], ["output"])]
    init = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, stride, stride])]
    meta = {"name": name, "bands": ["ndvi"], "scale": [10.0], "offset": [0.0], "encoder_depth": int(np.log2(stride))}
    if preprocessing is not None:
        meta["preprocessing"] = preprocessing
    return save_model(path, nodes, init, 1, meta)


def identity_model(path: Path, band: str, scale: float, offset: float, name="ident") -> Path:
    """Output = the normalised band itself (probability), to check band selection."""
    nodes = [helper.make_node("Identity", ["input"], ["output"])]
    return save_model(path, nodes, [], 1, {"name": name, "bands": [band], "scale": [scale], "offset": [offset]})


def write_stack(path: Path, shape=(300, 370), invalid=None, bands=contract.STACK_BANDS, seed=0,
                scene_id=SCENE_ID, preprocessing=None) -> Path:
    """A stack as rts-prep writes it (int16, per-band scale), smooth random values."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rows, cols = shape
    physical = {}
    for i, name in enumerate(bands):
        field = ndimage.gaussian_filter(rng.standard_normal((rows, cols)), 4)
        field = field / (field.std() + 1e-9)
        physical[name] = {"slope": 10 + 8 * field, "ndvi": 0.4 * field}.get(name, 0.1 * field + i * 0.01)
    scales = {"slope": 0.01, "relative_elevation": 0.01}
    stored = np.stack([np.round(physical[n] / scales.get(n, 1e-4)) for n in bands]).astype(np.int16)
    valid = np.ones(shape, bool)
    if invalid is not None:
        valid[invalid] = False
    stored[:, ~valid] = -32768
    extra = {} if preprocessing is None else {contract.TAG_PREPROCESSING: json.dumps(preprocessing)}
    tags = raster.scene_tags(scene_id, "2023-07-15T20:12:34Z", "test", **extra)
    raster.write_cog(path, stored, crs="EPSG:32608", transform=Affine(3, 0, 500000, 0, -3, 7700000), nodata=-32768,
                     tags=tags, band_descriptions=list(bands), scales=[scales.get(n, 1e-4) for n in bands],
                     offsets=[0.0] * len(bands))
    return path
