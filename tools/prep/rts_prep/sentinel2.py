"""A Sentinel-2 L2A scene in any of three forms, as rts-prep needs it: where its blue,
green, red and nir bands (10 m) and its scene classification (SCL, 20 m) are, how their
numbers become reflectance, its id and its acquisition time. No pixel is read here.

- a ``.SAFE`` product folder: JPEG 2000 bands under ``GRANULE/*/IMG_DATA/R10m`` and
  ``R20m``, and ``MTD_MSIL2A.xml`` (quantification value, BOA_ADD_OFFSET per band,
  processing baseline);
- a STAC item JSON in the public catalogues' conventions (Earth Search: assets ``blue``
  ... ``scl`` with ``raster:bands`` scale and offset and ``earthsearch:boa_offset_applied``;
  Copernicus Data Space: ``B02_10m`` ... ``SCL_20m``), its assets local paths (relative to
  the item) or URLs GDAL reads;
- a folder of per-band COGs (``*B02*.tif`` ... ``*SCL*.tif``) named like the product
  (``S2A_MSIL2A_20230715T201851_N0509_R071_T08WMC_...``), the baseline read from the name.

Reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE. From processing baseline
04.00 (25 January 2022) the offset is -1000; before it, 0. DN 0 is no data.
"""

from __future__ import annotations

import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rts_core.errors import InputError
from rts_core.sceneid import (
    SENTINEL2_PRODUCT,
    parse_acquired,
    sentinel2_id_from_item,
    sentinel2_id_from_name,
    sentinel2_product_of,
)

log = logging.getLogger(__name__)

SENSOR = "Sentinel-2"
PIXEL_M = 10.0
BANDS = ("B02", "B03", "B04", "B08")  # blue, green, red, nir at 10 m
BAND_IDS = {"B02": "1", "B03": "2", "B04": "3", "B08": "7"}  # band_id in MTD_MSIL2A.xml
SCL_CLASSES = {0: "no data", 1: "saturated or defective", 2: "cast shadows", 3: "cloud shadows", 4: "vegetation",
               5: "not vegetated", 6: "water", 7: "unclassified", 8: "cloud, medium probability",
               9: "cloud, high probability", 10: "thin cirrus", 11: "snow or ice"}
INVALID_SCL = (0, 1, 2, 3, 8, 9, 10, 11)
OFFSET_BASELINE = (4, 0)  # BOA_ADD_OFFSET from processing baseline 04.00 on
OFFSET_SINCE = datetime.fromisoformat("2022-01-25T00:00:00+00:00")
DEFAULT_QUANTIFICATION, DEFAULT_OFFSET_DN = 10000.0, -1000.0
# STAC asset keys per band, Earth Search's first, then Copernicus Data Space's and others
ASSET_KEYS = {"B02": ("blue", "B02", "B02_10m", "b02"), "B03": ("green", "B03", "B03_10m", "b03"),
              "B04": ("red", "B04", "B04_10m", "b04"), "B08": ("nir", "B08", "B08_10m", "b08"),
              "SCL": ("scl", "SCL", "SCL_20m", "scl_20m")}
# URL scheme -> the GDAL virtual file system that reads it ("" : already a GDAL path)
GDAL_PREFIXES = {"http://": "/vsicurl/http://", "https://": "/vsicurl/https://", "s3://": "/vsis3/",
                 "gs://": "/vsigs/", "/vsicurl/": "/vsicurl/", "/vsis3/": "/vsis3/", "/vsigs/": "/vsigs/"}
URL_SCHEMES = tuple(GDAL_PREFIXES)
MAX_METADATA_BYTES = 20_000_000


@dataclass(frozen=True)
class Band:
    """One band: where it is, and reflectance = DN x scale + offset. Both come from a
    stranger's metadata: a scale that is not finite and in (0, 1), or an offset not in
    (-1, 1), is an error of the product (a NaN BOA_ADD_OFFSET stored no-data that the
    mask called valid)."""

    href: str
    scale: float
    offset: float
    name: str = ""

    def __post_init__(self):
        if not (math.isfinite(self.scale) and 0 < self.scale < 1 and math.isfinite(self.offset)
                and -1 < self.offset < 1):
            raise InputError(f"band {self.name}: implausible reflectance scale {self.scale} or offset {self.offset} "
                             "(reflectance = DN x scale + offset)")


@dataclass(frozen=True)
class Sentinel2Scene:
    scene_id: str
    acquired: datetime
    bands: tuple[Band, Band, Band, Band]  # blue, green, red, nir
    scl: str
    metadata: Path | None  # the product's or item's metadata file (None: a folder of COGs)
    baseline: str | None
    sensor: str = SENSOR

    @property
    def files(self) -> list[Path]:
        """The local files the stack is made from (URLs are not fingerprinted by time)."""
        hrefs = [b.href for b in self.bands] + [self.scl]
        local = [Path(h) for h in hrefs if not h.startswith(URL_SCHEMES)]
        return local + ([self.metadata] if self.metadata else [])


def is_sentinel2(path: Path) -> bool:
    """Whether a scene argument is a Sentinel-2 product (SAFE, STAC item or COG folder)."""
    if split_item_path(path)[1] is not None:
        return True
    if path.is_file():
        return path.suffix.lower() == ".json"
    if path.is_dir():
        return path.name.upper().endswith(".SAFE") or (path / "MTD_MSIL2A.xml").exists() or \
            any(path.glob("*SCL*.tif")) or bool(SENTINEL2_PRODUCT.search(path.name))
    return False


def open_sentinel2(path: Path, asset_roots: Sequence[Path] = ()) -> Sentinel2Scene:
    """A SAFE, a STAC item (its local assets inside its folder or ``asset_roots``; one
    Item of a collection as ``items.json#<item id>``) or a folder of COGs."""
    file, item_id = split_item_path(path)
    if item_id is not None:
        return from_stac(file, asset_roots, item_id)
    if path.is_file():
        return from_stac(path, asset_roots)
    if path.name.upper().endswith(".SAFE") or (path / "MTD_MSIL2A.xml").exists():
        return from_safe(path)
    return from_cog_folder(path)



def baseline_tuple(text: str | None) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\s*", str(text)) if text is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def default_offset(baseline: str | None, acquired: datetime) -> float:
    """The BOA offset in DN that the baseline (else the date) implies."""
    parsed = baseline_tuple(baseline)
    if parsed is None:
        log.warning("no processing baseline: the offset follows the date (-1000 from %s)", OFFSET_SINCE.date())
        return DEFAULT_OFFSET_DN if acquired >= OFFSET_SINCE else 0.0
    return DEFAULT_OFFSET_DN if parsed >= OFFSET_BASELINE else 0.0


def _one(folder: Path, pattern: str, what: str) -> str:
    found = sorted(folder.glob(pattern))
    if not found:
        raise InputError(f"missing {what} ({pattern})")
    if len(found) > 1:
        raise InputError(f"several files for {what} ({', '.join(p.name for p in found[:3])})")
    return str(found[0])


def _read_xml(path: Path) -> ET.Element:
    """A metadata XML without document type declarations (no entities to expand)."""
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise InputError(f"metadata file {path.name} is implausibly large")
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"missing or unreadable metadata file {path.name}: {exc.strerror or exc}") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise InputError(f"metadata file {path.name} declares a document type or entities: refused")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"unreadable metadata file {path.name}: {exc}") from None


def _local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def from_safe(folder: Path) -> Sentinel2Scene:
    root = _read_xml(folder / "MTD_MSIL2A.xml")
    values: dict[str, str] = {}
    offsets: dict[str, float] = {}
    for element in root.iter():
        name = _local(element)
        if name == "BOA_ADD_OFFSET":
            try:
                offsets[str(element.get("band_id"))] = float(element.text or "")
            except ValueError:
                raise InputError(f"MTD_MSIL2A.xml: BOA_ADD_OFFSET {element.text!r} is not a number") from None
        elif name in ("PRODUCT_URI", "PROCESSING_BASELINE", "BOA_QUANTIFICATION_VALUE",
                      "QUANTIFICATION_VALUE", "SPACECRAFT_NAME") and name not in values:
            values[name] = (element.text or "").strip()
    product = SENTINEL2_PRODUCT.search(values.get("PRODUCT_URI", "") or folder.name)
    if product is None:
        raise InputError("MTD_MSIL2A.xml: no PRODUCT_URI naming an L2A product (S2x_MSIL2A_..._Txxxxx)")
    try:
        acquired = parse_acquired(product.group(2))  # the datatake start, as every STAC source has it (from_stac)
        quantification = float(values.get("BOA_QUANTIFICATION_VALUE") or values.get("QUANTIFICATION_VALUE")
                               or DEFAULT_QUANTIFICATION)
    except ValueError as exc:
        raise InputError(f"MTD_MSIL2A.xml: {exc}") from None
    if not 0 < quantification < 1e9:
        raise InputError(f"MTD_MSIL2A.xml: quantification value {quantification} is not positive")
    baseline = values.get("PROCESSING_BASELINE") or f"{product.group(3)}.{product.group(4)}"
    if offsets:
        missing = [band for band in BANDS if BAND_IDS[band] not in offsets]
        if missing:
            raise InputError(f"MTD_MSIL2A.xml: no BOA_ADD_OFFSET for {', '.join(missing)}")
    elif (baseline_tuple(baseline) or (0, 0)) >= OFFSET_BASELINE:
        raise InputError(f"MTD_MSIL2A.xml: baseline {baseline} (04.00 or later) but no BOA_ADD_OFFSET values")
    granules = folder / "GRANULE"
    bands = tuple(Band(_one(granules, f"*/IMG_DATA/R10m/*_{band}_10m.jp2", f"band {band} (10 m)"),
                       1.0 / quantification, offsets.get(BAND_IDS[band], 0.0) / quantification, band)
                  for band in BANDS)
    scl = _one(granules, "*/IMG_DATA/R20m/*_SCL_20m.jp2", "the scene classification SCL (20 m)")
    # the id from the product name (as the workflow names the stack before reading any file)
    return Sentinel2Scene(sentinel2_id_from_name(product.group(0)), acquired, bands, scl, folder / "MTD_MSIL2A.xml",
                          baseline)


def _asset_href(href: str, item_path: Path, asset_roots: Sequence[Path] = ()) -> str:
    """A URL GDAL reads, or a local path inside the item's folder or one of the roots the
    user allowed (``--asset-root``): an item is a stranger's file, and an absolute href
    must not make GDAL open another user's data or /proc/self/environ."""
    scheme = next((scheme for scheme in GDAL_PREFIXES if href.startswith(scheme)), None)
    if scheme is not None:
        rest = href.removeprefix(scheme)
        if scheme == "/vsicurl/" and not rest.startswith(("http://", "https://")):
            raise InputError(f"asset {href!r}: /vsicurl/ reads http:// and https:// only")
        return GDAL_PREFIXES[scheme] + rest
    local = href.removeprefix("file://")
    if "://" in local:
        raise InputError(f"asset {href!r}: unsupported scheme")
    if local.startswith("/vsi"):
        raise InputError(f"asset {href!r}: unsupported GDAL virtual file system")
    folder = item_path.parent.resolve()
    path = (folder / local).resolve()  # an absolute href replaces the folder
    roots = [folder, *(Path(root).resolve() for root in asset_roots)]
    if not any(path.is_relative_to(root) for root in roots):
        where = "the item's folder" + (" or an --asset-root" if asset_roots else " (allow others with --asset-root)")
        raise InputError(f"asset {href!r} lies outside {where}")
    return str(path)


ITEM_SEPARATOR = "#"  # items.json#<item id>: one Item of an ItemCollection or a JSON list of Items


def read_stac_json(path: Path):
    """A STAC JSON file (an Item, an ItemCollection or a list of Items), size-capped."""
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise InputError("the STAC document is implausibly large")
        return json.loads(path.read_text())
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable STAC item: {' '.join(str(exc).split())[:200]}") from None


def collection_items(raw) -> list | None:
    """The Items of an ItemCollection (a GeoJSON FeatureCollection) or of a JSON list of
    Items; None for a single Item."""
    if isinstance(raw, list):
        return raw
    if isinstance(raw, dict) and raw.get("type") == "FeatureCollection":
        features = raw.get("features")
        return features if isinstance(features, list) else []
    return None


def expand_collections(paths):
    """Each input path, with a STAC ItemCollection or list of Items given as one input
    per Item (``items.json#<item id>``), so that every Item is a scene of its own: its
    own stack, its own error line."""
    for path in paths:
        text = str(path)
        if text.lower().endswith(".json") and Path(text).is_file():
            try:
                items = collection_items(read_stac_json(Path(text)))
            except InputError:
                items = None  # reading it again as an input says what is wrong with it
            if items is not None:
                ids = [item.get("id") if isinstance(item, dict) else None for item in items]
                if not items:
                    yield text  # reported as an empty collection
                for index, item_id in enumerate(ids):
                    yield f"{text}{ITEM_SEPARATOR}{item_id if isinstance(item_id, str) else index}"
                continue
        yield path


def split_item_path(path: str | Path) -> tuple[Path, str | None]:
    """(file, item id) of ``items.json#<item id>``; (path, None) for any other input."""
    text = str(path)
    head, separator, item_id = text.rpartition(ITEM_SEPARATOR)
    if separator and head.lower().endswith(".json") and not Path(text).exists() and Path(head).is_file():
        return Path(head), item_id
    return Path(text), None


def _item_dict(raw, item_id: str | None) -> dict:
    items = collection_items(raw)
    if items is None:
        if not isinstance(raw, dict):
            raise InputError("not a STAC Item, ItemCollection or list of Items")
        return raw
    if item_id is None:
        if len(items) == 1 and isinstance(items[0], dict):
            return items[0]
        raise InputError(f"a collection of {len(items)} Items: each is given as its own input (FILE#<item id>)")
    found = [item for index, item in enumerate(items) if isinstance(item, dict) and
             (item.get("id") == item_id or (not isinstance(item.get("id"), str) and str(index) == item_id))]
    if len(found) != 1:
        raise InputError(f"{'no' if not found else len(found)} Item(s) with id {item_id[:80]!r} in the collection")
    return found[0]


def parse_item(raw: dict):
    """A pystac Item from a dict; pystac's own warnings (extension migrations and the
    like, printed for every Earth Search item) go to the debug log, not stderr."""
    import warnings

    import pystac

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        item = pystac.Item.from_dict(raw, preserve_dict=True)
    for warning in caught:
        log.debug("pystac: %s", warning.message)
    return item


def from_stac(path: Path, asset_roots: Sequence[Path] = (), item_id: str | None = None) -> Sentinel2Scene:
    """A Sentinel-2 L2A STAC Item (alone, or ``item_id`` of an ItemCollection or list).

    One acquisition has one id and time whichever catalogue it came from: the datatake
    start in the product's name (``s2:product_uri``, Earth Search v0's
    ``sentinel:product_id``, the Planetary Computer's and Copernicus' item ids), as a
    SAFE's. Items' ``datetime`` differ: Earth Search's is the tile's sensing time, up to
    minutes after the datatake start, the Planetary Computer's the datatake start."""
    import pystac

    raw = _item_dict(read_stac_json(path), item_id)
    try:
        item = parse_item(raw)
    except (ValueError, KeyError, TypeError, AttributeError, pystac.STACError) as exc:
        raise InputError(f"not a readable STAC item: {' '.join(str(exc).split())[:200]}") from None
    properties = item.properties
    product = sentinel2_product_of(raw)
    if product is not None:
        scene_id, acquired = sentinel2_id_from_name(product.group(0)), parse_acquired(product.group(2))
    else:  # no product name (rts-synth's items): the item's own time
        if item.datetime is None:
            raise InputError("the STAC item has no datetime")
        scene_id, acquired = sentinel2_id_from_item(raw), item.datetime
    if scene_id is None:
        raise InputError("the STAC item names no Sentinel-2 platform and MGRS tile")
    baseline = properties.get("s2:processing_baseline") or properties.get("processing:version") or (
        f"{product.group(3)}.{product.group(4)}" if product else None)
    applied = properties.get("earthsearch:boa_offset_applied", properties.get("sentinel:boa_offset_applied"))
    found = {}
    for band, keys in ASSET_KEYS.items():
        key = next((k for k in keys if k in item.assets), None)
        if key is None:
            raise InputError(f"the STAC item has no asset for {band} (looked for {', '.join(keys)})")
        found[band] = (item.assets[key], _asset_href(item.assets[key].href, path, asset_roots))
    bands = []
    for band in BANDS:
        asset, href = found[band]
        raster_bands = asset.extra_fields.get("raster:bands") or [{}]
        info = raster_bands[0] if isinstance(raster_bands[0], dict) else {}
        scale, offset = info.get("scale"), info.get("offset")
        try:
            if applied is True:  # the numbers were shifted already: reflectance = DN x scale
                scale, offset = float(scale or 1 / DEFAULT_QUANTIFICATION), 0.0
            elif scale is not None:
                scale, offset = float(scale), float(offset or 0.0)
            else:
                scale, offset = 1 / DEFAULT_QUANTIFICATION, default_offset(baseline, acquired) / DEFAULT_QUANTIFICATION
        except (TypeError, ValueError):
            raise InputError(f"asset {band}: raster:bands scale {scale!r} or offset {offset!r} is not a number") \
                from None
        bands.append(Band(href, scale, offset, band))
    return Sentinel2Scene(scene_id, acquired, tuple(bands), found["SCL"][1], path, str(baseline) if baseline else None)


def from_cog_folder(folder: Path) -> Sentinel2Scene:
    product = SENTINEL2_PRODUCT.search(folder.name)
    if product is None:
        raise InputError("a folder of Sentinel-2 COGs must be named like its product "
                         "(S2A_MSIL2A_20230715T201851_N0509_R071_T08WMC_...), which gives its date and baseline")
    acquired = parse_acquired(product.group(2))
    baseline = f"{product.group(3)}.{product.group(4)}"
    offset = default_offset(baseline, acquired) / DEFAULT_QUANTIFICATION
    bands = tuple(Band(_one(folder, f"*{band}*.tif", f"band {band}"), 1 / DEFAULT_QUANTIFICATION, offset, band)
                  for band in BANDS)
    scl = _one(folder, "*SCL*.tif", "the scene classification SCL")
    return Sentinel2Scene(sentinel2_id_from_name(folder.name), acquired, bands, scl, None,
                          baseline)
