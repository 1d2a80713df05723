"""rts-infer reads each stack once for all its models, yet writes what the per-model
implementation wrote: every case of tests/infer/golden.py (two and three models with
their own bands and normalisations, host and graph normalisation, an off-stride overlap
with cosine blending, a scene smaller than a tile, a float stack whose NaN touch one
model's bands only) against the probabilities that implementation stored."""

import json

import numpy as np
import pytest

from rts_core import contract
from tests.infer.golden import CASES, GOLDEN, run_case


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as stored:
        return {name: stored[name] for name in stored.files if name != "tags"}, json.loads(str(stored["tags"]))


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_equal_the_per_model_implementation(tmp_path, golden, case):
    arrays, tags = golden
    for model, (values, written) in run_case(case, tmp_path).items():
        expected = arrays[f"{case}/{model}"]
        assert values.shape == expected.shape
        assert np.array_equal(values == contract.PROB_NODATA, expected == contract.PROB_NODATA), model
        difference = np.abs(values.astype(int) - expected.astype(int))
        assert difference.max() <= 1, (model, difference.max())  # one stored step
        assert (difference > 0).mean() < 0.01, (model, (difference > 0).mean())  # rounding at .5 only
        assert expected[expected != contract.PROB_NODATA].std() > 2  # the golden varies: a shift would show
        kept = {k: v for k, v in written.items() if k not in (contract.TAG_FINGERPRINT, contract.TAG_VERSION)}
        assert kept == tags[f"{case}/{model}"]
