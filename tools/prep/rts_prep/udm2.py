"""Validity from Planet's udm2 (REFERENCE.md): band 1 clear, 2 snow, 3 shadow,
4 light haze, 5 heavy haze, 6 cloud, 7 confidence, 8 unusable pixels; and from the
legacy udm of scenes before udm2 (PSScene4Band, 2016-2018)."""

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


# The legacy Unusable Data Mask (one uint8 band, Planet's "Planet Imagery Product
# Specifications"): bit 0 blackfill (not imaged), bit 1 cloud, bits 2-6 missing or
# suspect data in bands 1-5.
UDM_BLACKFILL, UDM_CLOUD = 1, 2


def valid_from_udm(udm: np.ndarray) -> np.ndarray:
    """DARTS v1 (initze/thaw-slump-segmentation, data_pre_processing/udm.py,
    get_mask_from_udm): a pixel is unusable where any bit of the legacy udm is set,
    blackfill and cloud included. ``udm`` is (rows, cols) or (1, rows, cols)."""
    udm = udm[0] if udm.ndim == 3 else udm
    return udm == 0
