"""The model normalises its own input: an ONNX prefix from a stack's stored integers to
the network's input, and a suffix from its output to the probability.

A model file keeps its contract (CONTRACT.md §4: float32 normalised input, logits or
probability out). When rts-infer loads it, it is wrapped so that the session takes the
stack's stored integer bands, as read from disk, and returns probabilities:

    stored (N, C, H, W) integers      factor, term (1, C, 1, 1) float32
      -> x = float(stored) * factor + term, clipped     the stack's scaling and the model's
                                                         normalisation in one multiply-add
      -> x = 0 where every band holds the sentinel      invalid pixels
      -> network -> sigmoid (for logits) -> clip to 0..1

The factor and term are rts_core.model_input.affine's for the stack at hand, and the
arithmetic is model_input's, operation for operation in float32, so the tensor the
network sees is the one it was trained on. Validity travels inside the data:
the host writes the stack's nodata value (the sentinel) into every band of an invalid
pixel, and a pixel whose bands all hold it is invalid; the sum over the bands finds
those exactly in float32 (integers far below 2^24). Tiles cross to the device as the
stored integers: 2 bytes a band for int16 instead of 4 for float32, and no host pass to
convert or normalise them.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rts_core.model_input import Normalisation

STORED, FACTOR, TERM, PROBABILITY = "stored", "factor", "term", "probability"
MIN_OPSET = 13  # ReduceSum takes its axes as an input from opset 13 on
_ELEMENT = {np.dtype(np.int16): TensorProto.INT16, np.dtype(np.uint16): TensorProto.UINT16,
            np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
            np.dtype(np.int32): TensorProto.INT32}


def supports(proto: onnx.ModelProto, dtype) -> bool:
    """Whether a model can take stored values of ``dtype`` in its graph."""
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return opset >= MIN_OPSET and np.dtype(dtype) in _ELEMENT


def with_stored_input(proto: onnx.ModelProto, normalisation: Normalisation, output: str, dtype,
                      sentinel: float) -> onnx.ModelProto:
    """A copy of ``proto`` whose inputs are the stored bands and the per-band factor and term and
    whose one output is ``probability`` (N, 1, H, W), as the module docstring says."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    original_input, original_output = graph.input[0], graph.output[0]
    channels = len(normalisation.bands)
    normalised, raw = "rts_normalised", "rts_raw"
    for node in graph.node:  # the network now reads the prefix's result and writes rts_raw
        node.input[:] = [normalised if name == original_input.name else name for name in node.input]
        node.output[:] = [raw if name == original_output.name else name for name in node.output]

    def constant(name, values, element=np.float32):
        graph.initializer.append(numpy_helper.from_array(np.asarray(values, element), name))
        return name

    per_band = (1, channels, 1, 1)
    prefix = [
        helper.make_node("Cast", [STORED], ["rts_x0"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["rts_x0", constant("rts_band_axis", [1], np.int64)], ["rts_total"],
                         keepdims=1),
        helper.make_node("Equal", ["rts_total", constant("rts_all_sentinel", float(channels) * sentinel)],
                         ["rts_invalid"]),
        helper.make_node("Mul", ["rts_x0", FACTOR], ["rts_x1"]),
        helper.make_node("Add", ["rts_x1", TERM], ["rts_x3"]),
    ]
    last = "rts_x3"
    if normalisation.clip is not None:
        low, high = normalisation.clip
        prefix.append(helper.make_node("Clip", [last, constant("rts_low", low), constant("rts_high", high)],
                                       ["rts_x4"]))
        last = "rts_x4"
    prefix.append(helper.make_node("Where", ["rts_invalid", constant("rts_zero", 0.0), last], [normalised]))
    suffix = []
    if output == "logits":
        suffix.append(helper.make_node("Sigmoid", [raw], ["rts_p"]))
    suffix.append(helper.make_node("Clip", ["rts_p" if output == "logits" else raw, constant("rts_p_low", 0.0),
                                            constant("rts_p_high", 1.0)], [PROBABILITY]))
    nodes = prefix + list(graph.node) + suffix
    del graph.node[:]
    graph.node.extend(nodes)
    batch = original_input.type.tensor_type.shape.dim[0].dim_param or "N"
    del graph.input[:]
    graph.input.extend([
        helper.make_tensor_value_info(STORED, _ELEMENT[np.dtype(dtype)], [batch, channels, "H", "W"]),
        helper.make_tensor_value_info(FACTOR, TensorProto.FLOAT, list(per_band)),
        helper.make_tensor_value_info(TERM, TensorProto.FLOAT, list(per_band)),
    ])
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(PROBABILITY, TensorProto.FLOAT, [batch, 1, "H", "W"])])
    return model


def largest_tensor(proto: onnx.ModelProto, tile: int) -> int:
    """Elements of the model's largest tensor for one tile (input 1 x C x tile x tile),
    from ONNX shape inference. CUDA kernels index a tensor with 32-bit integers: a batch
    whose largest tensor passes 2^31 elements fails with 'invalid argument' (UNet++ /
    ResNet34 at 32 tiles of 1024 px does, in its decoder's Concat)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    initialised = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initialised:
            continue
        dims = value.type.tensor_type.shape.dim
        for index, dim in enumerate(dims):
            size = 1 if index == 0 else tile if index >= len(dims) - 2 else dim.dim_value
            dim.Clear()
            dim.dim_value = size
    inferred = onnx.shape_inference.infer_shapes(model)
    largest = 0
    for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            largest = max(largest, int(np.prod(dims, dtype=np.int64)))
    return largest or tile * tile
