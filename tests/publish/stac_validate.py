"""Validate STAC objects against the official JSON schemas kept in ``stac_schemas/``
(copied byte for byte: STAC 1.1.0 and GeoJSON from stac-utils/rustac's bundled copies
of schemas.stacspec.org, the extensions from their stac-extensions repositories at the
release tags; licences beside them), offline: every ``$ref`` resolves to a local file,
and an unknown one fails loudly instead of being fetched."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "stac_schemas"
_STAC = re.compile(r"^https://schemas\.stacspec\.org/v1\.1\.0/[a-z-]+/json-schema/([a-z-]+)\.json$")
_EXTENSION = re.compile(r"^https://stac-extensions\.github\.io/([a-z-]+)/(v[0-9.]+)/schema\.json$")
_GEOJSON = re.compile(r"^https://geojson\.org/schema/([A-Za-z]+)\.json$")
SPEC = {"Feature": "item", "Catalog": "catalog", "Collection": "collection"}


def local_path(uri: str) -> Path:
    uri = uri.split("#")[0]
    if match := _STAC.match(uri):
        return SCHEMAS / "stac-v1.1.0" / f"{match.group(1)}.json"
    if match := _EXTENSION.match(uri):
        return SCHEMAS / "extensions" / f"{match.group(1)}-{match.group(2)}" / "schema.json"
    if match := _GEOJSON.match(uri):
        return SCHEMAS / "geojson" / f"{match.group(1)}.json"
    if uri.rstrip("#") in ("http://json-schema.org/draft-07/schema", "http://json-schema.org/draft-07/schema#"):
        return SCHEMAS / "draft-07.json"
    raise LookupError(f"no offline copy of the schema {uri}")


def _retrieve(uri: str) -> Resource:
    return Resource.from_contents(json.loads(local_path(uri).read_text()))


@cache
def _validator(uri: str):
    schema = json.loads(local_path(uri).read_text())
    registry = Registry(retrieve=_retrieve)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry)


def schema_uris(stac: dict) -> list[str]:
    kind = SPEC[stac["type"]]
    folder = {"item": "item-spec", "catalog": "catalog-spec", "collection": "collection-spec"}[kind]
    assert stac["stac_version"] == "1.1.0", stac["stac_version"]
    return [f"https://schemas.stacspec.org/v1.1.0/{folder}/json-schema/{kind}.json", *stac.get("stac_extensions", [])]


def errors_of(stac: dict) -> list[str]:
    """Every schema violation of one STAC object (its core schema and each extension's)."""
    found = []
    for uri in schema_uris(stac):
        for error in _validator(uri).iter_errors(stac):
            found.append(f"{uri}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}")
    return found
