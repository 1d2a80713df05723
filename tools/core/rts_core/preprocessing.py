"""The preprocessing record: what a stack was made with, and what a model was trained on
(CONTRACT.md §3 ``RTS_PREPROCESSING``, §4 ``preprocessing``).

A model only gives the answers it was validated for on inputs made the way its training
stacks were: a relative-elevation window of another radius, another slope operator or
another sensor shifts every input band the network looks at. So stacks record these
parameters in a tag, models carry the record of their training stacks, and rts-infer
compares the two before it runs.

Records come from files made by strangers: :func:`parse` accepts only a flat JSON
object of short names and plain values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping

from . import contract

KEYS = ("tpi_radius_m", "slope_method", "terrain_resampling", "validity_rule", "sensor", "pixel_size_m")
# Relative tolerance per numeric key; other keys must be equal. PlanetScope's scene
# products are 3 m (PSScene) or 3.125 m (PSOrthoTile): one model serves both.
TOLERANCE = {"pixel_size_m": 0.1, "tpi_radius_m": 1e-6}
# What no option overrides: a model sees only the sensor and pixel size it was trained on
# (a 3 m PlanetScope model on 10 m Sentinel-2 stacks would see slumps a third the size).
SENSOR_KEYS = ("sensor", "pixel_size_m")
SLOPE_METHODS = ("horn", "four_neighbour")

# What the DEM layers behind the DARTS v1 models were made with (REFERENCE.md; the
# thaw_slump_preprocessing DEM notebook): Earth Engine's circle of 100 m radius, its
# 4-neighbour ee.Terrain.slope on the 2 m DEM, both warped to the scene with gdalwarp
# -r cubic, udm2 validity, PlanetScope at 3 m.
DARTS_V1 = {"tpi_radius_m": 100.0, "slope_method": "four_neighbour", "terrain_resampling": "cubic",
            "validity_rule": "udm2_darts_v1", "sensor": contract.DEFAULT_SENSOR, "pixel_size_m": 3.0}

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_TEXT = 200


class RecordError(ValueError):
    """A preprocessing record that is not a flat object of plain values."""


def parse(text: str | None) -> dict | None:
    """The record in a tag or metadata field, or None when there is none."""
    if text is None or text == "":
        return None
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        raise RecordError(f"preprocessing record is not JSON: {exc}") from None
    return check(value)


def check(value) -> dict:
    """``value`` if it is a flat mapping of safe names to strings, numbers or booleans."""
    if not isinstance(value, Mapping):
        raise RecordError("preprocessing record is not a JSON object")
    record = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise RecordError(f"preprocessing record has an unusable key {str(key)[:40]!r}")
        if isinstance(item, bool) or item is None:
            record[key] = item
        elif isinstance(item, (int, float)):
            if not math.isfinite(item):
                raise RecordError(f"preprocessing record: {key} is not finite")
            record[key] = float(item) if isinstance(item, float) else item
        elif isinstance(item, str) and len(item) <= _MAX_TEXT:
            record[key] = item
        else:
            raise RecordError(f"preprocessing record: {key} is not a short string, number or boolean")
    return record


def from_pairs(pairs) -> dict:
    """``KEY=VALUE`` texts (from a command line) -> a checked record; values that parse
    as numbers become numbers."""
    record = {}
    for pair in pairs:
        key, equals, text = str(pair).partition("=")
        if not equals:
            raise RecordError(f"expected KEY=VALUE, got {pair!r}")
        try:
            value = float(text)
        except ValueError:
            value = text
        record[key.strip()] = value
    return check(record)


def dumps(record: Mapping) -> str:
    return json.dumps(dict(record), sort_keys=True)


def _equal(key: str, a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE.get(key, 1e-9), abs_tol=1e-9)
    return a == b


def mismatches(stack: Mapping, model: Mapping) -> list[tuple[str, object, object]]:
    """(key, stack value, model value) for each key both records hold that differs."""
    return [(key, stack[key], model[key]) for key in sorted(set(stack) & set(model))
            if not _equal(key, stack[key], model[key])]


def describe(differences: Iterable[tuple[str, object, object]], model_name: str) -> str:
    return "; ".join(f"{key} {a!r} in the stack but {b!r} in model {model_name}" for key, a, b in differences)


def common(records: Iterable[Mapping]) -> dict:
    """The one record of a set of training stacks: they must agree (within the
    tolerances); the first stack's values are kept."""
    records = list(records)
    if not records:
        return {}
    first = dict(records[0])
    for other in records[1:]:
        differences = mismatches(other, first)
        if differences:
            key, a, b = differences[0]
            raise RecordError(f"the training stacks were made differently: {key} {a!r} vs {b!r}")
    return first
