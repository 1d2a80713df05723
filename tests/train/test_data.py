"""rts-train data: scenes compare by identity, so a stack given twice splits cleanly."""

from pathlib import Path

import numpy as np

from rts_core.model_input import StackBands
from rts_train.data import TrainingScene


def tiny_scene() -> TrainingScene:
    return TrainingScene("20220801_201500_10_2416", Path("a.stack.tif"), np.zeros((1, 2, 2), np.int16),
                 StackBands([1], np.ones(1, np.float32), np.zeros(1, np.float32)), np.ones((2, 2), bool),
                 np.zeros((2, 2), np.uint8))


def test_the_same_stack_twice_is_two_distinct_scenes():
    first, second = tiny_scene(), tiny_scene()
    assert first not in [second] and first in [first, second]
