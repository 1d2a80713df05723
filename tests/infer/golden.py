"""rts-infer's outputs as the per-model implementation (main at c6190ed, before the stack
was read once for all models) wrote them, kept in tests/data/infer_golden.npz, so that
tests/infer/test_golden.py can check today's code against them.

The stacks are made with integer arithmetic only (numpy's PCG64 integers and box sums),
so they are the same on every machine and library version; the expected probabilities
were written by the old code from these very stacks. Regenerate only on purpose:

    python -m tests.infer.golden tests/data/infer_golden.npz
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from onnx import TensorProto, helper

from rts_core import contract, raster
from tests.infer.models import identity_model, save_model, stride_model

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "infer_golden.npz"
TCVIS = list(contract.BAND_SETS["tcvis"])
NOTCVIS = list(contract.BAND_SETS["notcvis"])


def integer_field(rng: np.random.Generator, shape, radius: int = 6) -> np.ndarray:
    """A smooth int64 field from integer noise and box sums (exact on any machine)."""
    noise = rng.integers(-1000, 1001, (shape[0] + 2 * radius, shape[1] + 2 * radius))
    summed = np.cumsum(np.cumsum(noise, axis=0), axis=1)
    summed = np.pad(summed, ((1, 0), (1, 0)))
    k = 2 * radius + 1
    box = summed[k:, k:] - summed[:-k, k:] - summed[k:, :-k] + summed[:-k, :-k]
    return box[: shape[0], : shape[1]] // (k * 4)


def stack(path: Path, shape, *, seed: int, invalid=None, dtype="int16", nan_band: str | None = None,
          scene_id: str = "20230715_201234_12_24a3") -> Path:
    """A stack of every contract band (stored integers, per-band scale), optionally
    float32 with NaN in one band over a block (a float stack's per-model validity)."""
    rng = np.random.default_rng(seed)
    names = contract.STACK_BANDS
    scales = STACK_SCALES
    stored = np.stack([integer_field(rng, shape) + 40 * i for i, _ in enumerate(names)])
    stored = np.clip(stored, -30000, 30000).astype(np.int16)
    valid = np.ones(shape, bool)
    if invalid is not None:
        valid[invalid] = False
    stored[:, ~valid] = -32768
    nodata = -32768
    if dtype == "float32":
        stored = stored.astype(np.float32)
        stored[:, ~valid] = np.nan
        nodata = None
        if nan_band is not None:
            stored[names.index(nan_band), 10:30, 40:90] = np.nan
    tags = raster.scene_tags(scene_id, "2023-07-15T20:12:34Z", "test")
    raster.write_cog(path, stored, crs="EPSG:32608", transform=Affine(3, 0, 500000, 0, -3, 7700000), nodata=nodata,
                     tags=tags, band_descriptions=list(names), scales=[scales.get(n, 1e-4) for n in names],
                     offsets=[0.0] * len(names), valid=valid if dtype == "float32" else None)
    return path


STACK_SCALES = {"slope": 0.01, "relative_elevation": 0.01, "tc_brightness": 1.0, "tc_greenness": 1.0,
                "tc_wetness": 1.0}


def conv_over(path: Path, name: str, bands: list[str], seed: int, clip=None, output="logits", offset=None) -> Path:
    """A 3 x 3 convolution over ``bands``, each normalised to about unit spread (the
    stacks' fields have a spread of about 150 stored steps)."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 0.15, size=(1, len(bands), 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["output"], pads=[1, 1, 1, 1])]
    init = [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel())]
    scale = [1 / (150 * STACK_SCALES.get(b, 1e-4)) for b in bands]
    drawn = [round(float(o), 3) for o in rng.uniform(-0.5, 0.5, len(bands))]
    offset = drawn if offset is None else offset
    return save_model(path, nodes, init, len(bands), {"name": name, "bands": bands, "output": output,
                                                      "clip": clip, "scale": scale, "offset": offset})


def models(folder: Path) -> dict[str, Path]:
    return {"tcvis": conv_over(folder / "tcvis.onnx", "tcvis", TCVIS, 5),
            "notcvis": conv_over(folder / "notcvis.onnx", "notcvis", NOTCVIS, 6, clip=[-1.5, 1.5]),
            "slope": identity_model(folder / "slope.onnx", "slope", 1 / 30, 0.5, name="slope"),
            "strided": stride_model(folder / "strided.onnx")}


#: name -> (stack options, models, rts-infer options)
CASES = {
    "int16_two_models": (dict(shape=(300, 370), seed=1, invalid=(slice(20, 60), slice(30, 200))),
                         ["tcvis", "notcvis"], ["--tile-size", "128", "--overlap", "32", "--batch-size", "3"]),
    "int16_graph": (dict(shape=(300, 370), seed=1, invalid=(slice(20, 60), slice(30, 200))),
                    ["tcvis", "notcvis", "slope"], ["--tile-size", "96", "--overlap", "40", "--normalise", "graph"]),
    "strided_cosine": (dict(shape=(257, 301), seed=2), ["strided", "slope"],
                       ["--tile-size", "96", "--overlap", "30", "--blending", "cosine", "--batch-size", "2"]),
    "smaller_than_a_tile": (dict(shape=(37, 70), seed=3, invalid=(slice(0, 5), slice(0, 9))), ["tcvis", "strided"],
                            ["--tile-size", "128", "--overlap", "64"]),
    "float_nan_in_one_model": (dict(shape=(140, 150), seed=4, dtype="float32", nan_band="tc_greenness",
                                    invalid=(slice(100, 120), slice(0, 30))),
                               ["tcvis", "notcvis"], ["--tile-size", "64", "--overlap", "16"]),
}


def run_case(name: str, folder: Path) -> dict[str, tuple[np.ndarray, dict]]:
    """Run rts-infer (in this process) on one case; each model's stored probabilities and tags."""
    from tests.conftest import run_script

    stack_options, model_names, options = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = stack(folder / "20230715_201234_12_24a3.stack.tif", **stack_options)
    paths = models(folder)
    done = run_script("rts-infer", path, *(f"--model={paths[m]}" for m in model_names), "--device", "cpu",
                      *options, "-o", folder / "out")
    assert done.returncode == 0, done.stderr
    results = {}
    for model in model_names:
        with rasterio.open(folder / "out" / f"20230715_201234_12_24a3.{model}.prob.tif") as dataset:
            results[model] = (dataset.read(1), dataset.tags())
    return results


def write(target: Path) -> None:
    arrays, tags = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            for model, (values, model_tags) in run_case(name, Path(tmp) / name).items():
                arrays[f"{name}/{model}"] = values
                tags[f"{name}/{model}"] = {k: v for k, v in model_tags.items()
                                           if k not in (contract.TAG_FINGERPRINT, contract.TAG_VERSION)}
    np.savez_compressed(target, tags=np.array(json.dumps(tags, sort_keys=True)), **arrays)
    print(f"{target}: {len(arrays)} probability rasters", file=sys.stderr)


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN)
