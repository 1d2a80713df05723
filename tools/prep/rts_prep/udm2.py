"""Validity from Planet's udm2 (REFERENCE.md): band 1 clear, 2 snow, 3 shadow,
4 light haze, 5 heavy haze, 6 cloud, 7 confidence, 8 unusable pixels."""

from __future__ import annotations

import numpy as np

CLEAR, SNOW, SHADOW, LIGHT_HAZE, HEAVY_HAZE, CLOUD, CONFIDENCE, UNUSABLE = range(8)


def valid_from_udm2(udm2: np.ndarray, keep_light_haze: bool = False) -> np.ndarray:
    """DARTS v1: valid where clear = 1, unusable = 0 and snow, shadow, heavy haze and
    cloud are all 0 (light haze is never tested; as Planet's classes 1-6 are exclusive,
    a light-haze pixel has clear = 0 and is dropped by the clear test).

    ``keep_light_haze``: a pixel whose only flag is light haze counts as clear.
    ``udm2`` is (8, rows, cols)."""
    if udm2.shape[0] != 8:
        raise ValueError(f"udm2 must have 8 bands, found {udm2.shape[0]}")
    clear = udm2[CLEAR] == 1
    if keep_light_haze:
        clear |= udm2[LIGHT_HAZE] == 1
    flagged = (udm2[SNOW] != 0) | (udm2[SHADOW] != 0) | (udm2[HEAVY_HAZE] != 0) | (udm2[CLOUD] != 0)
    return clear & (udm2[UNUSABLE] == 0) & ~flagged
