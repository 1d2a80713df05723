"""The STAC catalogue of a published site (pystac): what it holds, where each file is,
and how it was made, with relative links so that the folder can be copied anywhere.

- ``catalog.json`` (the root) links one collection per product: ``level1`` (an item
  per scene: probability COG, mask, Level-1 polygons, extent, quicklook), ``level2``,
  ``tracks``, ``coverage`` and ``h3`` (an item each: the GeoParquet and its PMTiles),
  and ``models`` (an item per ONNX model, Machine Learning Model extension).
- Raster assets carry the projection and raster extensions, every asset the file
  extension (size, sha2-256 multihash), and items the processing extension (the
  writing tool and version, the processing level).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pystac
import rasterio
import shapely
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
MLM_SCHEMA = "https://stac-extensions.github.io/mlm/v1.4.0/schema.json"
MEDIA = {".tif": pystac.MediaType.COG, ".parquet": "application/vnd.apache.parquet",
         ".pmtiles": "application/vnd.pmtiles", ".png": pystac.MediaType.PNG, ".onnx": "application/octet-stream"}
LEVEL1_ASSETS = {  # suffix: (asset key, title, roles)
    ".prob.tif": ("probability", "RTS probability (0-1 as 0-100, uint8)", ["data"]),
    ".mask.tif": ("mask", "RTS mask at the threshold", ["data"]),
    ".l1.parquet": ("polygons", "Level-1 polygons (GeoParquet)", ["data"]),
    ".extent.parquet": ("extent", "Valid extent of the scene (GeoParquet)", ["metadata"]),
    ".quicklook.png": ("quicklook", "Quicklook with the polygons", ["overview", "visual"]),
}
PRODUCT_TITLES = {
    "level2": "Level 2: one footprint per slump and year",
    "tracks": "Tracks: one outline per slump over all years",
    "coverage": "Coverage: the ground observed each year",
    "h3": "H3 cells: RTS density per cell and year",
}


@dataclass
class SceneFiles:
    """One scene's Level-1 files inside the site (absolute paths), keyed by asset."""

    scene_id: str
    files: dict[str, Path]
    acquired: datetime
    bbox: list[float]  # lon/lat
    geometry: dict
    tags: dict[str, str]


def file_fields(path: Path) -> dict:
    """The file extension's size and sha2-256 multihash (``1220`` + hex digest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "checksum": "1220" + digest.hexdigest()}


def _asset(path: Path, title: str, roles: list[str]) -> pystac.Asset:
    media = next((m for s, m in MEDIA.items() if path.name.endswith(s)), None)
    asset = pystac.Asset(href=str(path), title=title, media_type=media, roles=roles)
    fields = file_fields(path)
    file_ext = FileExtension.ext(asset, add_if_missing=False)
    file_ext.size, file_ext.checksum = fields["size"], fields["checksum"]
    return asset


def _raster_fields(asset: pystac.Asset, path: Path) -> None:
    with rasterio.open(path) as src:
        projection = ProjectionExtension.ext(asset, add_if_missing=False)
        projection.code = src.crs.to_string() if src.crs is not None else None
        projection.shape = [src.height, src.width]
        projection.transform = list(src.transform)[:6]
        projection.bbox = list(src.bounds)
        bands = []
        for index in range(src.count):
            nodata = src.nodata
            bands.append(RasterBand.create(
                data_type=DataType(src.dtypes[index]), nodata=None if nodata is None or math.isnan(nodata) else nodata,
                scale=src.scales[index], offset=src.offsets[index], spatial_resolution=abs(src.res[0])))
        RasterExtension.ext(asset, add_if_missing=False).bands = bands


def _processing(item: pystac.Item, level: str, software: dict[str, str]) -> None:
    item.properties["processing:level"] = level
    if software:
        item.properties["processing:software"] = software
    if PROCESSING_SCHEMA not in item.stac_extensions:
        item.stac_extensions.append(PROCESSING_SCHEMA)


def _software(tags: dict[str, str]) -> dict[str, str]:
    """``{"rts-ensemble": "0.1.0"}`` from an ``RTS_VERSION`` tag ("rts-ensemble 0.1.0")."""
    name, _, version = tags.get("RTS_VERSION", "").partition(" ")
    return {name: version} if name and version else {}


def scene_item(scene: SceneFiles) -> pystac.Item:
    item = pystac.Item(id=scene.scene_id, geometry=scene.geometry, bbox=scene.bbox, datetime=scene.acquired,
                       properties={"rts:sensor": scene.tags.get("RTS_SENSOR"), "rts:model": scene.tags.get("RTS_MODEL"),
                                   "rts:threshold": _number(scene.tags.get("RTS_THRESHOLD"))})
    item.properties = {k: v for k, v in item.properties.items() if v is not None}
    for extension in (FileExtension, ProjectionExtension, RasterExtension):
        extension.add_to(item)
    for key, path in scene.files.items():
        title, roles = next((t, r) for k, t, r in LEVEL1_ASSETS.values() if k == key)
        asset = _asset(path, title, roles)
        item.add_asset(key, asset)
        if path.suffix == ".tif":
            _raster_fields(asset, path)
    _processing(item, "L1", _software(scene.tags))
    return item


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def product_item(name: str, files: Iterable[Path], bbox: list[float], years: list[int], version: str) -> pystac.Item:
    """One item holding a product's GeoParquet and PMTiles, dated by its years."""
    start = datetime(min(years), 1, 1, tzinfo=UTC) if years else datetime.now(UTC)
    end = datetime(max(years), 12, 31, 23, 59, 59, tzinfo=UTC) if years else start
    item = pystac.Item(id=name, geometry=shapely.geometry.mapping(shapely.box(*bbox)), bbox=bbox, datetime=None,
                       start_datetime=start, end_datetime=end, properties={"title": PRODUCT_TITLES.get(name, name)})
    FileExtension.add_to(item)
    for path in files:
        key = "tiles" if path.suffix == ".pmtiles" else "data"
        roles = ["tiles", "visual"] if key == "tiles" else ["data"]
        item.add_asset(key, _asset(path, f"{name} ({'PMTiles vector tiles' if key == 'tiles' else 'GeoParquet'})",
                                   roles))
    _processing(item, "L2" if name != "h3" else "L3", {"rts-publish": version})
    return item


def model_item(path: Path, metadata: dict, bbox: list[float], when: datetime) -> pystac.Item:
    """An item for an ONNX model with the Machine Learning Model extension, from the
    model's own ``rts`` record (CONTRACT.md section 4): name, architecture, input bands
    and their normalisation, output."""
    name = str(metadata["name"])
    bands = [str(b) for b in metadata.get("bands") or []]
    item = pystac.Item(id=f"model-{_safe_id(name)}", geometry=shapely.geometry.mapping(shapely.box(*bbox)),
                       bbox=bbox, datetime=when, properties={})
    input_shape = metadata.get("_input_shape") or [-1, len(bands), -1, -1]
    output_shape = metadata.get("_output_shape") or [-1, 1, -1, -1]
    item.properties.update({
        "mlm:name": name,
        "mlm:architecture": str(metadata.get("architecture", "UnetPlusPlus")),
        "mlm:tasks": ["semantic-segmentation"],
        "mlm:framework": "ONNX",
        "mlm:input": [{
            "name": "stack", "bands": bands,
            "input": {"shape": input_shape, "dim_order": ["batch", "bands", "height", "width"],
                      "data_type": "float32"},
            "description": "rts-prep stack bands, each scaled x * scale + offset"
                           + (f", clipped to {metadata['clip']}" if metadata.get("clip") else ""),
        }],
        "mlm:output": [{
            "name": "rts", "tasks": ["semantic-segmentation"],
            "result": {"shape": output_shape, "dim_order": ["batch", "channel", "height", "width"],
                       "data_type": "float32"},
            "description": f"RTS {metadata.get('output', 'logits')}",
        }],
    })
    item.properties["bands"] = [{"name": band} for band in bands]  # STAC 1.1 bands, which mlm:input's name
    if metadata.get("encoder"):
        item.properties["rts:encoder"] = str(metadata["encoder"])
    item.stac_extensions.append(MLM_SCHEMA)
    FileExtension.add_to(item)
    asset = _asset(path, f"ONNX model {name}", ["mlm:model", "data"])
    asset.extra_fields["mlm:artifact_type"] = "onnx"
    asset.extra_fields["bands"] = item.properties["bands"]  # STAC 1.1 wants bands on an asset where an item has them
    item.add_asset("model", asset)
    return item


def _safe_id(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:80] or "model"


def catalogue(site: Path, scenes: list[SceneFiles], products: dict[str, tuple[list[Path], list[float], list[int]]],
              *, version: str, license: str = "other", models: list[pystac.Item] = ()) -> Path:
    """Write ``site/catalog.json`` and its collections and items (self-contained,
    relative links). Returns the root's path."""
    root = pystac.Catalog(id="rtsmap", title="rtsmap: retrogressive thaw slumps",
                          description="Retrogressive thaw slumps mapped by rtsmap: per-scene Level 1, Level 2, "
                                      "tracks, coverage and H3 density, with the map in index.html.")
    if scenes:
        items = [scene_item(scene) for scene in scenes]
        root.add_child(_collection("level1", "Level 1: per-scene probabilities, masks and polygons", items, license))
    for name, (files, bbox, years) in products.items():
        root.add_child(_collection(name, PRODUCT_TITLES.get(name, name),
                                   [product_item(name, files, bbox, years, version)], license))
    if models:
        root.add_child(_collection("models", "Models: the ONNX models of the probabilities", list(models), license))
    root.normalize_hrefs(str(site))
    root.make_all_asset_hrefs_relative()
    root.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return site / "catalog.json"


def _collection(name: str, title: str, items: list[pystac.Item], license: str) -> pystac.Collection:
    extent = pystac.Extent.from_items(items)
    collection = pystac.Collection(id=name, title=title, description=title, extent=extent, license=license)
    collection.add_items(items)
    return collection

