"""The chain as one Unix pipeline on a small synthetic world:
rts-synth | rts-prep - | rts-infer - | rts-ensemble - | rts-aggregate -, with a hand-made model that
calls bare ground (low NDVI) a slump: it must find the true slumps (and, being naive,
the confounders too)."""

import subprocess
from pathlib import Path

import geopandas
import pytest
from onnx import TensorProto, helper

from tests.conftest import BIN
from tests.infer.models import save_model

pytestmark = pytest.mark.slow  # a chain of five tools in processes


def bare_ground_model(path: Path) -> Path:
    """Probability high where 0.02 < NDVI < 0.35: bare ground, not water (NDVI < 0)."""
    nodes = [helper.make_node("Sub", ["high", "input"], ["a0"]), helper.make_node("Mul", ["a0", "gain"], ["a1"]),
             helper.make_node("Sigmoid", ["a1"], ["a"]),
             helper.make_node("Sub", ["input", "low"], ["b0"]), helper.make_node("Mul", ["b0", "gain"], ["b1"]),
             helper.make_node("Sigmoid", ["b1"], ["b"]), helper.make_node("Mul", ["a", "b"], ["output"])]
    init = [helper.make_tensor("high", TensorProto.FLOAT, [1], [0.35]),
            helper.make_tensor("low", TensorProto.FLOAT, [1], [0.02]),
            helper.make_tensor("gain", TensorProto.FLOAT, [1], [60.0])]
    meta = {"name": "bare", "bands": ["ndvi"], "scale": [1.0], "offset": [0.0], "output": "probability",
            "tile_size": 256, "overlap": 64}
    return save_model(path, nodes, init, 1, meta)


def test_pipeline_finds_the_slumps(tmp_path):
    world = tmp_path / "world"
    model = bare_ground_model(tmp_path / "bare.onnx")
    command = (
        f"{BIN}/rts-synth -q -o {world} --scenes 2 --size 384 --years 2023 --seed 2"
        f" | {BIN}/rts-prep -q - --dem {world}/aux/dem.tif --tcvis {world}/aux/tcvis.tif -o {tmp_path}/stacks"
        f" | {BIN}/rts-infer -q - --model {model} -o {tmp_path}/probs"
        f" | {BIN}/rts-ensemble -q - --water {world}/aux/landcover.tif -o {tmp_path}/level1"
        f" | tee {tmp_path}/level1.txt | {BIN}/rts-aggregate -q - -o {tmp_path}/products")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == f"{tmp_path}/products/level2.parquet"
    l1_paths = (tmp_path / "level1.txt").read_text().split()
    assert len(l1_paths) == 2 and all(p.endswith(".l1.parquet") for p in l1_paths)
    found = geopandas.pd.concat([geopandas.read_parquet(p).to_crs(4326) for p in l1_paths])
    truth = geopandas.read_parquet(world / "truth" / "rts.parquet")
    assert len(found) and len(truth)
    hit = truth.geometry.apply(lambda g: found.geometry.intersects(g).any())
    assert hit.mean() >= 0.6  # most true slumps are bare ground the rule finds
    assert (found.models == "bare").all()
    level2 = geopandas.read_parquet(tmp_path / "products" / "level2.parquet")
    assert len(level2) and (level2.year == 2023).all()
    assert level2.n_observations.sum() == len(found)
    # the aggregate by squares (1 km here, so the scenes' slumps fall on square edges)
    # equals the one-pass aggregate of the same Level-1 files
    from rts_core.contract import PRODUCTS
    from tests.aggregate.test_partitioned import assert_same_products, reference

    again = subprocess.run([f"{BIN}/rts-aggregate", "-q", *l1_paths, "--square-km", "1", "--workers", "2",
                            "-o", tmp_path / "squares"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    got = {name: geopandas.read_parquet(tmp_path / "squares" / f"{name}.parquet") for name in PRODUCTS}
    assert_same_products(got, reference([Path(p) for p in l1_paths]))
