"""Names fixed by the contract (../shared/CONTRACT.md section 2, 3 and 5).

Tools refer to these constants instead of spelling the strings again, so a rename
happens in one place and outside checks keep matching.
"""

from __future__ import annotations

import re

# Band names of the input stack, in the order prep writes them.
SPECTRAL_BANDS = ("blue", "green", "red", "nir")
TERRAIN_BANDS = ("relative_elevation", "slope")
TCVIS_BANDS = ("tc_brightness", "tc_greenness", "tc_wetness")
STACK_BANDS = (*SPECTRAL_BANDS, "ndvi", *TERRAIN_BANDS, *TCVIS_BANDS)
WATER_BAND = "water"  # optional 11th band
ALL_BANDS = (*STACK_BANDS, WATER_BAND)

# Named band sets of the two DARTS models.
BAND_SETS = {
    "tcvis": ("ndvi", "blue", "green", "red", "nir", "relative_elevation", "slope",
              "tc_brightness", "tc_greenness", "tc_wetness"),
    "notcvis": ("ndvi", "blue", "green", "red", "nir", "relative_elevation", "slope"),
}

# GDAL dataset metadata keys on every per-scene raster.
TAG_SCENE_ID = "RTS_SCENE_ID"
TAG_ACQUIRED = "RTS_ACQUIRED"  # ISO 8601, UTC
TAG_SENSOR = "RTS_SENSOR"
TAG_VERSION = "RTS_VERSION"  # "<tool> <version>"
TAG_MODEL = "RTS_MODEL"  # probability rasters: model name(s), comma-joined
TAG_MODEL_SHA256 = "RTS_MODEL_SHA256"  # rts-infer's probability rasters: the model file's SHA-256 (hex)
TAG_MODEL_VERSION = "RTS_MODEL_VERSION"  # rts-ensemble's outputs: "name@sha12,..." of the models averaged
# Level-1 GeoParquet schema metadata (beside the contract's columns): the same model
# version, and the probability threshold of the clean-up
PARQUET_MODEL_VERSION = "rts:model_version"
PARQUET_THRESHOLD = "rts:threshold"
TAG_PREPROCESSING = "RTS_PREPROCESSING"  # stacks: JSON of what models depend on (rts_core.preprocessing)
TAG_FINGERPRINT = "RTS_FINGERPRINT"  # every raster output: what it was made from (rts_core.runner)
SCENE_TAGS = (TAG_SCENE_ID, TAG_ACQUIRED, TAG_SENSOR, TAG_VERSION)
DEFAULT_SENSOR = "PlanetScope"

# Names read from files (scene ids, model names) become parts of file names only when
# they match this: letters, digits, "_" and "-", starting with a letter or digit. No
# separators, no dots (a dot would make "<scene>.<model>.prob.tif" ambiguous), no "..".
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class UnsafeNameError(ValueError):
    """A name from a file that cannot be part of an output path."""


def safe_name(value: object, what: str = "name") -> str:
    """``value`` if it may be part of a file name, else :class:`UnsafeNameError`."""
    if not isinstance(value, str) or not SAFE_NAME.match(value):
        shown = repr(value)[:60]
        raise UnsafeNameError(f"{what} {shown} cannot be part of a file name (letters, digits, _ and -, "
                              "up to 100, starting with a letter or digit)")
    return value


# File names per scene: every part read from a file is checked first.
STACK_SUFFIX = ".stack.tif"
PROB_SUFFIX = ".prob.tif"
MASK_SUFFIX = ".mask.tif"
L1_SUFFIX = ".l1.parquet"
EXTENT_SUFFIX = ".extent.parquet"


def stack_name(scene_id: str) -> str:
    return f"{safe_name(scene_id, 'scene id')}{STACK_SUFFIX}"


def model_prob_name(scene_id: str, model_name: str) -> str:
    return f"{safe_name(scene_id, 'scene id')}.{safe_name(model_name, 'model name')}{PROB_SUFFIX}"


def prob_name(scene_id: str) -> str:
    return f"{safe_name(scene_id, 'scene id')}{PROB_SUFFIX}"


def mask_name(scene_id: str) -> str:
    return f"{safe_name(scene_id, 'scene id')}{MASK_SUFFIX}"


def l1_name(scene_id: str) -> str:
    return f"{safe_name(scene_id, 'scene id')}{L1_SUFFIX}"


def extent_name(scene_id: str) -> str:
    return f"{safe_name(scene_id, 'scene id')}{EXTENT_SUFFIX}"


# DARTS-compatible probability encoding: uint8 0-100, scale 0.01, nodata 255.
PROB_DTYPE = "uint8"
PROB_SCALE = 0.01
PROB_NODATA = 255
MASK_NODATA = 255

# ONNX model metadata (CONTRACT.md section 4): the metadata_props key of its JSON object,
# and the section's values, which training writes and inference assumes where a model
# leaves a field out.
MODEL_METADATA_KEY = "rts"
MODEL_OUTPUTS = ("logits", "probability")
DEFAULT_MODEL_OUTPUT = "logits"
DEFAULT_TILE_SIZE = 1024
DEFAULT_OVERLAP = 128
DEFAULT_THRESHOLD = 0.5
DEFAULT_ENCODER_DEPTH = 5

# The aggregated products (rts-aggregate), each <name>.parquet, in this order.
PRODUCTS = ("level1", "level2", "tracks", "coverage_level1", "coverage_level2", "coverage_union",
            "coverage_intersect", "h3")

# Vector columns.
L1_COLUMNS = ("scene_id", "acquired", "year", "month", "area_m2", "area_ha", "n_pixels",
              "prob_mean", "prob_max", "models", "sensor", "geometry")
EXTENT_COLUMNS = ("scene_id", "acquired", "year", "geometry")
LEVEL2_COLUMNS = ("year", "area_m2", "area_ha", "n_observations", "n_scenes",
                  "n_acquisitions", "detection_ratio", "first_observed", "last_observed",
                  "track_id", "n_acquisitions_planetscope",
                  "n_acquisitions_sentinel2", "geometry")
TRACK_COLUMNS = ("track_id", "first_year", "last_year", "n_years", "geometry")
H3_COLUMNS = ("h3_cell", "resolution", "year", "rts_area_m2", "n_features",
              "covered_area_m2", "affected_pct", "geometry")
