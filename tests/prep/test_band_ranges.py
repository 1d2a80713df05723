"""Issue #29 item 1: every stored band within its range (CONTRACT.md section 3), for
PlanetScope and Sentinel-2, with the reflectance values real products have: Sentinel-2
from baseline 04.00 on is negative over water and shadow, PlanetScope SR can pass 1.

The rule (darts-nextgen's calculate_ndvi): reflectance is clipped to 0-1, NDVI is
computed from the clipped red and nir, and a pixel dark in both has no NDVI (invalid).
"""

import numpy as np
import pytest
import rasterio

from tests.conftest import run_script
from tests.prep.builders import S2_SIZE, s2_dn, write_dem, write_safe, write_scene, write_tcvis

RANGES = {"blue": (0, 1), "green": (0, 1), "red": (0, 1), "nir": (0, 1), "ndvi": (-1, 1),
          "slope": (0, 90), "tc_brightness": (0, 255), "tc_greenness": (0, 255), "tc_wetness": (0, 255)}


def physical(path):
    with rasterio.open(path) as dataset:
        stored, valid = dataset.read().astype(np.float64), dataset.dataset_mask() > 0
        values = stored * np.array(dataset.scales)[:, None, None] + np.array(dataset.offsets)[:, None, None]
        return dict(zip(dataset.descriptions, values, strict=True)), valid


def prep(tmp_path, scene, **grid):
    dem = write_dem(tmp_path / "dem.tif", lambda x, y: 200 + 0.05 * (x - x.mean()) + 0.0 * y, **grid)
    done = run_script("rts-prep", scene, "--dem", dem, "--tcvis", write_tcvis(tmp_path / "tcvis.tif"),
                      "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    return physical(done.stdout.split()[0])


def test_sentinel2_negative_and_bright_reflectance(tmp_path):
    dn = s2_dn()
    red, nir = dn[2], dn[3]
    red[0, :20], nir[0, :20] = 1200, 995  # red 0.02, nir -0.0005: NDVI was (−0.0205/0.0195) = −1.05
    red[1, :20], nir[1, :20] = 900, 950  # both negative: NDVI was 1.5 on a valid pixel ...
    red[2, :20], nir[2, :20] = 1000, 1000  # ... both exactly 0: no NDVI
    dn[0, 3, :20] = 15000  # blue 1.4
    nir[4, :20], red[4, :20] = 12000, 3000  # nir 1.1
    bands, valid = prep(tmp_path, write_safe(tmp_path / "in", dn=dn))
    for name, (low, high) in RANGES.items():
        assert low <= bands[name][valid].min() and bands[name][valid].max() <= high, name
    assert valid[0, :20].all() and np.allclose(bands["ndvi"][0, :20], -1.0)
    assert np.allclose(bands["nir"][0, :20], 0.0) and np.allclose(bands["red"][0, :20], 0.02)
    assert not valid[1, :20].any() and not valid[2, :20].any()  # dark in both: invalid
    assert np.allclose(bands["blue"][3, :20], 1.0)
    assert np.allclose(bands["ndvi"][4, :20], (1.0 - 0.2) / 1.2, atol=1e-4)  # from the clipped nir
    untouched = np.ones(S2_SIZE, bool)
    untouched[:5, :20] = False
    assert valid[untouched].all()
    np.testing.assert_allclose(bands["red"][untouched], (red[untouched] - 1000.0) / 1e4)


def test_planetscope_bright_reflectance(tmp_path):
    size = (60, 80)
    dn = np.random.default_rng(4).integers(100, 4000, size=(4, *size)).astype(np.uint16)
    dn[3, 0, :10] = 12000  # nir 1.2
    dn[0, 1, :10] = 65535  # blue 6.5 (stored 3.2767 before)
    dn[2, 2, :10], dn[3, 2, :10] = 40, 0  # nir 0 (the no-data value, but in one band only: valid)
    bands, valid = prep(tmp_path, write_scene(tmp_path / "scene", size=size, dn=dn), size=size)
    for name, (low, high) in RANGES.items():
        assert low <= bands[name][valid].min() and bands[name][valid].max() <= high, name
    assert np.allclose(bands["nir"][0, :10], 1.0) and np.allclose(bands["blue"][1, :10], 1.0)
    np.testing.assert_allclose(bands["ndvi"][0, :10], (1.0 - dn[2, 0, :10] / 1e4) / (1.0 + dn[2, 0, :10] / 1e4),
                               atol=1e-4)
    assert valid[2, :10].all() and np.allclose(bands["ndvi"][2, :10], -1.0)


@pytest.mark.parametrize("red, nir, expected", [(0.02, -0.005, -1.0), (-0.01, 0.3, 1.0), (0.1, 0.3, 0.5)])
def test_the_ndvi_rule_on_single_values(red, nir, expected):
    """The issue's example (red 0.02, nir -0.005 stored NDVI -1.667) and its mirror."""
    from rts_prep.encoding import REFLECTANCE_DN_RANGE

    red_dn, nir_dn = np.clip(np.array([red, nir]) * 1e4, *REFLECTANCE_DN_RANGE)
    assert (nir_dn - red_dn) / (nir_dn + red_dn) == pytest.approx(expected)
