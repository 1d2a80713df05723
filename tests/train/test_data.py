"""rts-train data: scenes compare by identity, so a stack given twice splits cleanly."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from rts_core import contract
from rts_core.model_input import StackBands
from rts_train.data import TrainingScene


def tiny_scene() -> TrainingScene:
    return TrainingScene("20220801_201500_10_2416", Path("a.stack.tif"),
                         StackBands([1], np.ones(1, np.float32), np.zeros(1, np.float32)), (2, 2), Affine.identity(),
                         [], None, np.empty((0, 2), np.int32))


def test_the_same_stack_twice_is_two_distinct_scenes():
    first, second = tiny_scene(), tiny_scene()
    assert first != second and [first, second].index(second) == 1  # equal fields, two scenes


def test_tiles_are_read_from_disk_and_equal_the_whole_scene_cut(tmp_path):
    """A scene in memory is its labels and slump pixels; a tile reads its window of the
    stack and rasterises its labels there, and equals the same window of the stack read
    whole with the labels rasterised on the whole grid (invalid pixels and pixels
    outside the footprints ignored)."""
    import geopandas
    from rasterio import features
    from shapely.geometry import box

    from rts_core.model_input import model_input
    from rts_train.config import ModelConfig
    from rts_train.data import IGNORE, TileSampler, load_scene
    from tests.infer.models import SCENE_ID, write_stack

    rows, cols = 1224, 300
    stack = write_stack(tmp_path / f"{SCENE_ID}.stack.tif", shape=(rows, cols),
                        invalid=(slice(1000, 1040), slice(0, 60)))
    x0, y0 = 500000, 7700000
    slumps = [box(x0 + 30, y0 - 3 * 1030, x0 + 150, y0 - 3 * 1010), box(x0 + 600, y0 - 90, x0 + 690, y0 - 30),
              box(x0 + 80, y0 - 3 * 1025, x0 + 200, y0 - 3 * 1000)]  # overlapping the first: its pixels once
    labels = geopandas.GeoDataFrame({"scene_id": [SCENE_ID] * 3}, geometry=slumps, crs="EPSG:32608")
    footprints = geopandas.GeoDataFrame({"scene_id": [SCENE_ID]}, geometry=[box(x0, y0 - 3 * 1100, x0 + 900, y0)],
                                        crs="EPSG:32608")
    scene = load_scene(stack, list(contract.BAND_SETS["tcvis"]), labels, footprints)
    assert not any(isinstance(v, np.ndarray) and v.size >= rows * cols for v in vars(scene).values())
    with rasterio.open(stack) as dataset:
        stored, valid = dataset.read(scene.bands.indexes), dataset.dataset_mask() > 0
        transform = dataset.transform
    slump = features.rasterize([(g, 1) for g in slumps], out_shape=(rows, cols), transform=transform)
    inside = features.rasterize([(footprints.geometry[0], 1)], out_shape=(rows, cols), transform=transform) > 0
    target = slump.copy()
    target[~inside & (slump == 0)] = IGNORE
    target[~valid] = IGNORE
    np.testing.assert_array_equal(scene.positive_pixels, np.argwhere(target == 1))
    normalisation = ModelConfig(name="tcvis", bands=list(contract.BAND_SETS["tcvis"])).normalisation()
    sampler = TileSampler([scene], 128, np.random.default_rng(0))
    for row0, col0 in [(0, 0), (990, 20), (960, 172), (rows - 128, cols - 128)]:
        x, y = sampler.cut(0, row0, col0, normalisation)
        window = (slice(row0, row0 + 128), slice(col0, col0 + 128))
        np.testing.assert_array_equal(y, target[window])
        np.testing.assert_array_equal(x, model_input(stored[(slice(None), *window)], valid[window], scene.bands,
                                                     normalisation))

