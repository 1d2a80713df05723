"""One model-input transform: training and inference build the same tensor from a stack."""

import geopandas
import numpy as np
import pytest
import rasterio
from affine import Affine

from rts_core import contract, raster
from rts_core.model_input import Normalisation, StackBands, model_input, stack_bands
from rts_infer.strips import make_feed, window_input
from rts_train.config import ModelConfig
from rts_train.data import TileSampler, load_scene
from tests.infer.models import SCENE_ID, write_stack

BANDS = list(contract.BAND_SETS["tcvis"])


def no_labels():
    return geopandas.GeoDataFrame({"scene_id": []}, geometry=[], crs="EPSG:32608")


def float_stack_with_nan(path):
    """A float32 stack without a nodata value whose bands hold NaN and infinity."""
    rng = np.random.default_rng(2)
    values = rng.uniform(0, 1, (len(contract.STACK_BANDS), 64, 80)).astype(np.float32)
    values[6, 5:9, 5:9] = np.nan  # slope
    values[8, 30, 40] = np.inf  # tc_greenness
    tags = raster.scene_tags(SCENE_ID, "2023-07-15T20:12:34Z", "test")
    raster.write_cog(path, values, crs="EPSG:32608", transform=Affine(3, 0, 500000, 0, -3, 7700000), nodata=None,
                     tags=tags, band_descriptions=list(contract.STACK_BANDS))
    return path


@pytest.mark.parametrize("kind", ["int16 with nodata", "float with NaN"])
def test_training_and_inference_tensors_are_identical(tmp_path, kind):
    path = tmp_path / f"{SCENE_ID}.stack.tif"
    if kind == "float with NaN":
        float_stack_with_nan(path)
        window = (0, 0, 48)
    else:
        write_stack(path, shape=(90, 110), invalid=(slice(10, 30), slice(20, 60)))
        window = (5, 15, 64)
    row0, col0, size = window
    config = ModelConfig(name="tcvis", bands=BANDS, clip=[0.0, 1.0])
    normalisation = config.normalisation()

    scene = load_scene(path, BANDS, no_labels(), None)
    training, _ = TileSampler([scene], size, np.random.default_rng(0)).cut(0, row0, col0, normalisation)

    with rasterio.open(path) as dataset:  # as rts-infer cuts a tile from its strips
        feed = make_feed(stack_bands(dataset, BANDS), normalisation, np.float32, in_graph=False)
        inference = window_input(dataset, feed, row0, col0, size)
        valid = dataset.dataset_mask()[row0:row0 + size, col0:col0 + size] > 0
        stored = dataset.read([dataset.descriptions.index(b) + 1 for b in BANDS])[:, row0:row0 + size,
                                                                                  col0:col0 + size]
        scales = np.array([dataset.scales[dataset.descriptions.index(b)] for b in BANDS])
    assert training.dtype == inference.dtype == np.float32
    assert np.array_equal(training, inference)  # bit for bit, invalid pixels included
    invalid = ~valid | ~np.isfinite(stored).all(axis=0)
    assert invalid.any() and (training[:, invalid] == 0).all()  # not the normalised nodata value
    physical = stored.astype(np.float64) * scales[:, None, None]
    expected = np.clip(physical * np.array(config.scale)[:, None, None] + np.array(config.offset)[:, None, None], 0, 1)
    np.testing.assert_allclose(training[:, ~invalid], expected[:, ~invalid], atol=1e-5)


def test_model_input_normalises_clips_and_zeroes_invalid_pixels():
    stored = np.array([[[100, -32768], [3000, 5000]]], np.int16)  # reflectance x 1e4
    valid = np.array([[True, False], [True, True]])
    selected = StackBands([1], np.array([1e-4], np.float32), np.zeros(1, np.float32))
    x = model_input(stored, valid, selected, Normalisation.of(["red"], [10 / 3], [0.0], clip=[0, 1]))
    np.testing.assert_allclose(x[0], [[0.1 / 3, 0.0], [1.0, 1.0]], atol=1e-6)  # 0.5 * 10/3 clipped to 1
    unclipped = model_input(stored, valid, selected, Normalisation.of(["red"], [10 / 3], [0.5]))
    np.testing.assert_allclose(unclipped[0], [[0.1 / 3 + 0.5, 0.0], [1.5, 0.5 / 0.3 + 0.5]], atol=1e-5)
