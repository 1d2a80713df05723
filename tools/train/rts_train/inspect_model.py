"""What an ONNX model file says about itself (used by ``rts-train inspect``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from rts_core import contract


def describe(path: Path | str) -> dict:
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = props.get(contract.MODEL_METADATA_KEY)

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    parameters = int(sum(np.prod(t.dims) if len(t.dims) else 1 for t in proto.graph.initializer))
    return {"file": str(path), "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
            "inputs": {v.name: shape(v) for v in proto.graph.input},
            "outputs": {v.name: shape(v) for v in proto.graph.output},
            "parameters": parameters,
            "rts": json.loads(metadata) if metadata is not None else None}


def format_description(info: dict) -> str:
    lines = [f"model      {info['file']}", f"opset      {info['opset']}"]
    lines += [f"input      {name} {dims}" for name, dims in info["inputs"].items()]
    lines += [f"output     {name} {dims}" for name, dims in info["outputs"].items()]
    lines.append(f"parameters {info['parameters']:,}")
    meta = info["rts"]
    if meta is None:
        lines.append(f"metadata   none (no '{contract.MODEL_METADATA_KEY}' key: rts-infer cannot use this model)")
    else:
        lines.append(f"name       {meta.get('name')}  ({meta.get('architecture')}, {meta.get('encoder')}, "
                     f"depth {meta.get('encoder_depth')})")
        lines.append(f"tiles      {meta.get('tile_size')} px, overlap {meta.get('overlap')} px, "
                     f"threshold {meta.get('threshold')}, output {meta.get('output')}")
        lines.append("bands      band                  x_norm = x * scale + offset")
        for band, scale, offset in zip(meta["bands"], meta["scale"], meta["offset"], strict=True):
            lines.append(f"           {band:<20}  {scale:.6g} {offset:+.6g}")
        if meta.get("clip"):
            lines.append(f"clip       {meta['clip']}")
    return "\n".join(lines)
