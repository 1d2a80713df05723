"""How a stack stores its values: int16 with a GDAL scale per band (read as stored x
scale + offset), NODATA where invalid, reflectance clipped to 0-1 (CONTRACT.md
section 3)."""

from __future__ import annotations

import numpy as np

NODATA = -32768
REFLECTANCE_DN_RANGE = (0, 10000)  # reflectance 0-1 stored as DN (scale 1e-4)
SCALE = {"blue": 1e-4, "green": 1e-4, "red": 1e-4, "nir": 1e-4, "ndvi": 1e-4,
         "relative_elevation": 0.01, "slope": 0.01, "tc_brightness": 1.0, "tc_greenness": 1.0,
         "tc_wetness": 1.0, "water": 1.0}


def encode_into(out: np.ndarray, values: np.ndarray, scale: float) -> None:
    """Physical values -> int16 storage (rounded, clipped; NaN -> NODATA), in place."""
    stored = np.round(values / scale)
    stored[~np.isfinite(stored)] = NODATA
    np.clip(stored, NODATA, 32767, out=stored)
    out[:] = stored
