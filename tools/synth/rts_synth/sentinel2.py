"""Sentinel-2 L2A-like products of the demo world (``rts-synth --sensor sentinel2``).

Each scene of the world becomes a product on a 10 m grid: the scene's reflectance (3 m)
averaged to 10 m, stored as DN = reflectance x 10000 + 1000 from processing baseline
04.00 (products from 25 January 2022 on) and reflectance x 10000 before it, 0 outside
the swath; the scene classification (SCL, 20 m) from the scene's clouds (9), thin clouds
(10), shadows (3), snow (11), water (6), vegetation elsewhere (4) and no data (0).
Scenes alternate between two forms rts-prep reads: a SAFE-like folder (JPEG 2000 bands
and SCL, MTD_MSIL2A.xml) and a STAC item in Earth Search's conventions with COG assets.
Each region is an MGRS-like tile (08WMA, 08WMB, ...).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio import features, warp
from rasterio.enums import Resampling

from rts_core import atomic, raster
from rts_core.crs import project
from rts_core.sceneid import format_acquired, sentinel2_scene_id

from .fields import Fields, scene_window
from .world import PIXEL_M, World, WorldScene

S2_PIXEL_M, SCL_PIXEL_M = 10.0, 20.0
OFFSET_FROM = datetime(2022, 1, 25, tzinfo=UTC)  # processing baseline 04.00
BANDS = ("B02", "B03", "B04", "B08")
SCL_NODATA, SCL_SHADOW, SCL_VEGETATION, SCL_WATER, SCL_CLOUD, SCL_CIRRUS, SCL_SNOW = 0, 3, 4, 6, 9, 10, 11


def satellite(scene: WorldScene) -> str:
    return "S2A" if scene.salt % 2 == 0 else "S2B"


def tile(scene: WorldScene) -> str:
    return f"08WM{'ABCDEFGHJKLMNPQR'[scene.region % 16]}"


def baseline(scene: WorldScene) -> str:
    return "05.09" if scene.acquired >= OFFSET_FROM else "03.01"


def scene_id(scene: WorldScene) -> str:
    """The id rts-prep gives the product: satellite, tile, sensing time."""
    return sentinel2_scene_id(satellite(scene), tile(scene), scene.acquired)


def product_name(scene: WorldScene) -> str:
    when = f"{scene.acquired:%Y%m%dT%H%M%S}"
    return f"{satellite(scene)}_MSIL2A_{when}_N{baseline(scene).replace('.', '')}_R071_T{tile(scene)}_{when}"


def with_sentinel2_ids(world: World) -> World:
    """The world with each scene named as its Sentinel-2 product (truth and scenes.csv
    follow the names)."""
    world.scenes = [replace(scene, scene_id=scene_id(scene)) for scene in world.scenes]
    world.sensor = "sentinel2"
    return world


def is_safe(index: int) -> bool:
    """Every other scene a SAFE folder, the rest STAC items."""
    return index % 2 == 0


def product_paths(out: Path, scene: WorldScene, index: int) -> dict[str, Path]:
    """Every file of the product; "product" is what rts-prep is given (printed)."""
    name = product_name(scene)
    if is_safe(index):
        folder = out / "scenes" / f"{name}.SAFE"
        granule = folder / "GRANULE" / f"L2A_T{tile(scene)}_A000000_{scene.acquired:%Y%m%dT%H%M%S}" / "IMG_DATA"
        stem = f"T{tile(scene)}_{scene.acquired:%Y%m%dT%H%M%S}"
        paths = {band: granule / "R10m" / f"{stem}_{band}_10m.jp2" for band in BANDS}
        paths["SCL"] = granule / "R20m" / f"{stem}_SCL_20m.jp2"
        paths["metadata"] = folder / "MTD_MSIL2A.xml"
        return {"product": folder, **paths}
    folder = out / "scenes" / name
    paths = {band: folder / f"{band}.tif" for band in (*BANDS, "SCL")}
    paths["metadata"] = folder / "item.json"
    return {"product": paths["metadata"], **paths}


def grids(world: World, scene: WorldScene) -> tuple[Affine, int, Affine, int]:
    """The product's 10 m grid and its SCL's 20 m grid (origin at the scene's corner)."""
    origin = world.grid.window_transform(scene.col_off, scene.row_off)
    size10 = int(scene.size * PIXEL_M // S2_PIXEL_M)
    size20 = -(-size10 // 2)
    return (Affine(S2_PIXEL_M, 0, origin.c, 0, -S2_PIXEL_M, origin.f), size10,
            Affine(SCL_PIXEL_M, 0, origin.c, 0, -SCL_PIXEL_M, origin.f), size20)


def reflectance_10m(fields: Fields, scene: WorldScene, transform10: Affine, size10: int) -> np.ndarray:
    """The scene's surface reflectance averaged from 3 m to 10 m (NaN outside the swath)."""
    world = fields.world
    dn, _ = scene_window(fields, scene, (0, 0, scene.size, scene.size))
    source = np.where(dn > 0, dn / 1e4, np.nan).astype(np.float32)
    target = np.full((4, size10, size10), np.nan, np.float32)
    warp.reproject(source, target, src_transform=world.grid.window_transform(scene.col_off, scene.row_off),
                   src_crs=world.grid.crs, dst_transform=transform10, dst_crs=world.grid.crs,
                   src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.average)
    return target


def scene_classes(world: World, scene: WorldScene, transform20: Affine, size20: int) -> np.ndarray:
    shapes = [(scene.swath, SCL_VEGETATION)] + [(g, SCL_WATER) for g in world.water]
    shapes += [(g, SCL_SNOW) for g in scene.snow] + [(g, SCL_SHADOW) for g in scene.shadows]
    shapes += [(g, SCL_CIRRUS) for g in scene.thin_clouds] + [(g, SCL_CLOUD) for g in scene.clouds]
    classes = features.rasterize([(g, v) for g, v in shapes if g is not None and not g.is_empty],
                                 out_shape=(size20, size20), transform=transform20, fill=SCL_NODATA, dtype="uint8")
    outside = features.rasterize([(scene.swath, 1)], out_shape=(size20, size20), transform=transform20,
                                 fill=0, dtype="uint8") == 0
    classes[outside] = SCL_NODATA
    return classes


def write_product(fields: Fields, scene: WorldScene, index: int, paths: dict[str, Path], tool_version: str,
                  fingerprint: str = "") -> None:
    world = fields.world
    transform10, size10, transform20, size20 = grids(world, scene)
    reflectance = reflectance_10m(fields, scene, transform10, size10)
    offset = 1000 if baseline(scene) >= "04.00" else 0
    dn = np.where(np.isfinite(reflectance), np.clip(np.round(reflectance * 1e4) + offset, 1, 65535), 0)
    dn = dn.astype(np.uint16)
    classes = scene_classes(world, scene, transform20, size20)
    safe = is_safe(index)
    tags = {"RTS_SYNTH": tool_version, "RTS_FINGERPRINT": fingerprint}
    for band, data in zip((*BANDS, "SCL"), (*dn, classes), strict=True):
        transform = transform20 if band == "SCL" else transform10
        if safe:  # JPEG 2000 as in the SAFE product, lossless
            path = paths[band]
            with atomic.atomic_path(path) as temporary, rasterio.open(
                    temporary, "w", driver="JP2OpenJPEG", width=data.shape[1], height=data.shape[0], count=1,
                    dtype=data.dtype, crs=world.grid.crs, transform=transform, QUALITY=100, REVERSIBLE="YES",
                    nodata=0) as out:
                out.write(data, 1)
        else:
            raster.write_cog(paths[band], data, crs=world.grid.crs, transform=transform, nodata=0, tags=tags,
                             overview_resampling="nearest")
    if safe:
        atomic.write_text(paths["metadata"], mtd_xml(scene, offset))
    else:
        atomic.write_text(paths["metadata"], json.dumps(stac_item(world, scene, offset, size10), indent=1))


def mtd_xml(scene: WorldScene, offset: int) -> str:
    offsets = "" if offset == 0 else "<BOA_ADD_OFFSET_VALUES_LIST>" + "".join(
        f'<BOA_ADD_OFFSET band_id="{band}">{-offset}</BOA_ADD_OFFSET>' for band in range(13)) + \
        "</BOA_ADD_OFFSET_VALUES_LIST>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>{format_acquired(scene.acquired).replace('Z', '.000Z')}</PRODUCT_START_TIME>
<PRODUCT_URI>{product_name(scene)}.SAFE</PRODUCT_URI>
<PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL><PROCESSING_BASELINE>{baseline(scene)}</PROCESSING_BASELINE>
<Datatake><SPACECRAFT_NAME>Sentinel-2{satellite(scene)[-1]}</SPACECRAFT_NAME></Datatake>
</Product_Info><Product_Image_Characteristics>
<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
</QUANTIFICATION_VALUES_LIST>{offsets}</Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
"""


def stac_item(world: World, scene: WorldScene, offset: int, size10: int) -> dict:
    """An item as Earth Search publishes them: assets blue ... scl with raster:bands."""
    footprint = project(scene.swath, world.grid.crs, "EPSG:4326")
    keys = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "SCL": "scl"}
    assets = {}
    for band, key in keys.items():
        asset = {"href": f"./{band}.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                 "roles": ["data"]}
        if band != "SCL":
            asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 10,
                                      "scale": 0.0001, "offset": -offset / 10000}]
        assets[key] = asset
    name = f"{satellite(scene)}_{tile(scene)}_{scene.acquired:%Y%m%d}_0_L2A"
    return {"type": "Feature", "stac_version": "1.0.0", "id": name,
            "geometry": shapely.geometry.mapping(footprint), "bbox": list(footprint.bounds),
            "properties": {"datetime": format_acquired(scene.acquired),
                           "platform": f"sentinel-2{satellite(scene)[-1].lower()}", "constellation": "sentinel-2",
                           "s2:mgrs_tile": tile(scene),
                           "s2:processing_baseline": baseline(scene), "earthsearch:boa_offset_applied": False,
                           "proj:epsg": int(world.grid.crs.split(":")[1]), "proj:shape": [size10, size10],
                           "rts_synth": {"region": scene.region + 1, "split": scene.split, "year": scene.year}},
            "links": [], "assets": assets}
