"""ONNX export: same logits as torch, metadata round trip, DARTS v1 import."""

import json

import numpy as np
import onnxruntime
import pytest
import torch
import yaml

from rts_core import contract, preprocessing
from rts_train.config import ModelConfig
from rts_train.export import export_onnx, load_darts_v1, read_metadata
from rts_train.inspect_model import describe
from rts_train.model import build
from tests.conftest import run_script


def small_config(**kwargs) -> ModelConfig:
    settings = dict(name="tcvis", bands=list(contract.BAND_SETS["tcvis"]), encoder="resnet18", encoder_depth=3,
                    decoder_channels=[16, 8, 8], tile_size=512, overlap=64)
    settings.update(kwargs)
    return ModelConfig(**settings)


def assert_same_logits(model, path, channels):
    torch.manual_seed(1)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model.eval()
    for shape in ((1, channels, 64, 96), (2, channels, 128, 72)):
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        assert got.shape == expected.shape == (shape[0], 1, *shape[2:])
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_export_matches_torch_and_metadata_round_trips(tmp_path):
    torch.manual_seed(0)
    config = small_config(clip=[0.0, 1.0])
    model = build(config)
    path = export_onnx(model, config, tmp_path / "m.onnx")
    assert_same_logits(model, path, 10)
    assert read_metadata(path) == config
    info = describe(path)
    assert info["opset"] >= 17
    assert info["inputs"]["input"] == ["N", 10, "H", "W"] and info["outputs"]["output"] == ["N", 1, "H", "W"]
    meta = info["rts"]
    assert meta["bands"] == list(contract.BAND_SETS["tcvis"]) and meta["output"] == "logits"
    assert {"name", "scale", "offset", "clip", "tile_size", "overlap", "threshold", "architecture", "encoder",
            "encoder_depth"} <= set(meta)


def test_darts_v1_folder_with_dataparallel_prefix(tmp_path):
    folder = tmp_path / "RTS_v6_notcvis"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.yml").write_text(yaml.safe_dump({
        "model": {"architecture": "UnetPlusPlus", "encoder": "resnet18", "encoder_weights": "random",
                  "input_channels": 7, "encoder_depth": 3},
        "data_sources": ["planet", "ndvi", "relative_elevation", "slope"]}))
    torch.manual_seed(3)
    reference = build(ModelConfig(name="x", bands=["ndvi"] * 7, encoder="resnet18", encoder_depth=3))
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save(state, folder / "checkpoints" / "02.pt")
    torch.save({k: v * 0 for k, v in state.items()}, folder / "checkpoints" / "01.pt")  # older: not used
    out = tmp_path / "notcvis.onnx"
    done = run_script("rts-train", "export", folder, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert_same_logits(reference, out, 7)
    meta = read_metadata(out)
    # DARTS v1 channel order (sorted source names) and its legacy normalisation in physical units
    assert meta.bands == ["ndvi", "blue", "green", "red", "nir", "relative_elevation", "slope"]
    np.testing.assert_allclose(meta.scale, [0.5, 10 / 3, 10 / 3, 10 / 3, 10 / 3, 0.01, 1 / 90])
    np.testing.assert_allclose(meta.offset, [0.5, 0, 0, 0, 0, 0.5, 0])
    model, config = load_darts_v1(folder)
    assert config.name == "notcvis" and config.encoder_depth == 3
    # DARTS v1's inference tiling (1024 px patches, 256 px margin) and its DEM layers' preprocessing
    assert (meta.tile_size, meta.overlap) == (1024, 256)
    assert meta.preprocessing == preprocessing.DARTS_V1
    assert meta.preprocessing["tpi_radius_m"] == 100.0 and meta.preprocessing["slope_method"] == "four_neighbour"
    stated = tmp_path / "stated.onnx"
    done = run_script("rts-train", "export", folder, "-o", stated, "--preprocessing", "slope_method=horn",
                      "--preprocessing", "tpi_radius_m=150")
    assert done.returncode == 0, done.stderr
    assert read_metadata(stated).preprocessing == {**preprocessing.DARTS_V1, "slope_method": "horn",
                                                   "tpi_radius_m": 150.0}
    bad = run_script("rts-train", "export", folder, "-o", tmp_path / "bad.onnx", "--preprocessing", "../x=1")
    assert bad.returncode == 2 and "unusable key" in bad.stderr and not (tmp_path / "bad.onnx").exists()


def test_inspect_prints_metadata_shapes_and_parameters(tmp_path):
    config = small_config()
    path = export_onnx(build(config), config, tmp_path / "m.onnx")
    done = run_script("rts-train", "inspect", path)
    assert done.returncode == 0
    assert "parameters" in done.stdout and "tc_wetness" in done.stdout and "['N', 10, 'H', 'W']" in done.stdout
    as_json = json.loads(run_script("rts-train", "inspect", path, "--json").stdout)
    assert as_json["parameters"] > 100_000


def test_unknown_architecture_is_a_usage_error(tmp_path):
    done = run_script("rts-train", "fit", tmp_path, "--labels", tmp_path, "--arch", "Transformer9000", "-o", tmp_path)
    assert done.returncode == 2
    assert "unknown architecture 'Transformer9000'" in done.stderr


@pytest.mark.parametrize("bad", ["config.yml missing", "wrong channels"])
def test_bad_darts_folders(tmp_path, bad):
    folder = tmp_path / "m"
    (folder / "checkpoints").mkdir(parents=True)
    if bad == "wrong channels":
        (folder / "config.yml").write_text(yaml.safe_dump({
            "model": {"architecture": "UnetPlusPlus", "encoder": "resnet18", "input_channels": 9},
            "data_sources": ["planet", "ndvi"]}))
    done = run_script("rts-train", "export", folder, "-o", tmp_path / "x.onnx")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(folder) in errors[0]
    assert not (tmp_path / "x.onnx").exists()
