"""Small scenes and auxiliary rasters with known content, written for prep tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer

SCENE_ID = "20220714_201530_42_24a3"
SCENE_CRS = "EPSG:32608"
SCENE_ORIGIN = (580_000.0, 7_710_000.0)  # near Tuktoyaktuk


def scene_transform(pixel=3.0, origin=SCENE_ORIGIN):
    return Affine(pixel, 0, origin[0], 0, -pixel, origin[1])


def write_scene(folder: Path, size=(200, 240), *, dn=None, udm2=None, bands=4, descriptions=None,
                scene_id=SCENE_ID, crs=SCENE_CRS, with_udm2=True, acquired=None,
                suffix="_3B_AnalyticMS_SR.tif", origin=SCENE_ORIGIN) -> Path:
    """A scene folder: SR (uint16 DN), udm2 (all clear unless given), metadata JSON (its
    acquisition the id's time to the microsecond unless given)."""
    if acquired is None:
        acquired = f"{scene_id[0:4]}-{scene_id[4:6]}-{scene_id[6:8]}T{scene_id[9:11]}:{scene_id[11:13]}:" \
                   f"{scene_id[13:15]}.123456Z" if scene_id[8] == "_" else "2022-07-14T20:15:30.123456Z"
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = size
    if dn is None:
        rng = np.random.default_rng(1)
        dn = rng.integers(100, 4000, size=(bands, rows, cols)).astype(np.uint16)
    sr = folder / f"{scene_id}{suffix}"
    transform = scene_transform(origin=origin) if crs else Affine.identity()
    with rasterio.open(sr, "w", driver="GTiff", width=cols, height=rows, count=dn.shape[0], dtype="uint16",
                       crs=crs, transform=transform, nodata=0) as dst:
        dst.write(dn)
        for i, name in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, name)
    if with_udm2:
        if udm2 is None:
            udm2 = np.zeros((8, rows, cols), np.uint8)
            udm2[0] = 1
            udm2[6] = 90
        with rasterio.open(folder / f"{scene_id}_3B_udm2.tif", "w", driver="GTiff", width=cols, height=rows,
                           count=8, dtype="uint8", crs=crs, transform=transform) as dst:
            dst.write(udm2)
    metadata = {"id": scene_id, "properties": {"acquired": acquired}}
    (folder / f"{scene_id}_metadata.json").write_text(json.dumps(metadata))
    return sr


def dem_grid(margin_m=400.0, size=(200, 240), pixel=2.0, origin=SCENE_ORIGIN, crs=SCENE_CRS):
    """A 2 m EPSG:3413 grid covering the scene with a margin."""
    left, top = origin
    right, bottom = left + size[1] * 3.0, top - size[0] * 3.0
    to_polar = Transformer.from_crs(crs, "EPSG:3413", always_xy=True)
    xs, ys = to_polar.transform([left, right, left, right], [top, top, bottom, bottom])
    x0, x1 = min(xs) - margin_m, max(xs) + margin_m
    y0, y1 = min(ys) - margin_m, max(ys) + margin_m
    width, height = int((x1 - x0) / pixel), int((y1 - y0) / pixel)
    transform = Affine(pixel, 0, np.floor(x0), 0, -pixel, np.ceil(y1))
    xs = transform.c + (np.arange(width) + 0.5) * pixel
    ys = transform.f - (np.arange(height) + 0.5) * pixel
    return transform, xs, ys


def write_dem(path: Path, function, nodata=-9999.0, holes=None, **grid) -> Path:
    """DEM in EPSG:3413 at 2 m: z = function(x, y) on pixel centres (metres)."""
    transform, xs, ys = dem_grid(**grid)
    z = function(xs[None, :], ys[:, None]).astype(np.float32)
    if holes is not None:
        z[holes(xs[None, :], ys[:, None])] = nodata
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1, dtype="float32",
                       crs="EPSG:3413", transform=transform, nodata=nodata) as dst:
        dst.write(z, 1)
    return path


def write_geographic_dem(path: Path, function) -> Path:
    """DEM in EPSG:4326 at about 2 m around the scene: z = function(x, y) with x, y the
    EPSG:3413 coordinates of each pixel centre (so the terrain is the same surface)."""
    to_geo = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True)
    lon0, lat0 = to_geo.transform(SCENE_ORIGIN[0] - 400, SCENE_ORIGIN[1] + 400)
    lon1, lat1 = to_geo.transform(SCENE_ORIGIN[0] + 240 * 3 + 400, SCENE_ORIGIN[1] - 200 * 3 - 400)
    dlat = 2.0 / 111_320
    dlon = dlat / np.cos(np.radians(lat0))
    transform = Affine(dlon, 0, min(lon0, lon1), 0, -dlat, max(lat0, lat1))
    width, height = int(abs(lon1 - lon0) / dlon), int(abs(lat1 - lat0) / dlat)
    lons = transform.c + (np.arange(width) + 0.5) * dlon
    lats = transform.f - (np.arange(height) + 0.5) * dlat
    lon_grid, lat_grid = np.meshgrid(lons, lats)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3413", always_xy=True).transform(lon_grid, lat_grid)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs="EPSG:4326", transform=transform) as dst:
        dst.write(function(x, y).astype(np.float32), 1)
    return path


def write_tcvis(path: Path, value=(128, 100, 160), shift_deg=0.0) -> Path:
    """A constant 3-band TCVIS in EPSG:4326, ~30 m, around the scene (or shifted away)."""
    to_geo = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(SCENE_ORIGIN[0], SCENE_ORIGIN[1])
    dx, dy = 0.0008, 0.00027
    transform = Affine(dx, 0, lon - 0.03 + shift_deg, 0, -dy, lat + 0.01)
    width, height = int(0.06 / dx), int(0.03 / dy)
    data = np.stack([np.full((height, width), v, np.uint8) for v in value])
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       crs="EPSG:4326", transform=transform) as dst:
        dst.write(data)
    return path


def write_landcover(path: Path, water_rows: int = 0, nodata_cols: int = 0) -> Path:
    """ESRI-like land cover in the scene's CRS at 10 m: rangeland (11), the top
    ``water_rows`` of 10 m cells water (1), the last ``nodata_cols`` columns no-data."""
    transform = Affine(10, 0, SCENE_ORIGIN[0] - 100, 0, -10, SCENE_ORIGIN[1] + 100)
    classes = np.full((100, 100), 11, np.uint8)
    classes[: 10 + water_rows] = 1 if water_rows else 11
    if nodata_cols:
        classes[:, -nodata_cols:] = 0
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1, dtype="uint8",
                       crs=SCENE_CRS, transform=transform, nodata=0) as dst:
        dst.write(classes, 1)
    return path


S2_PRODUCT = "S2A_MSIL2A_20230715T201851_N{baseline}_R071_T{tile}_20230716T003443"
S2_SCENE_ID = "S2A_T08WMC_20230715T201851"
S2_SIZE = (60, 72)  # rows, cols at 10 m: the builders' PlanetScope scene's ground


def s2_dn(seed=2) -> np.ndarray:
    """Blue, green, red, nir DN (uint16, 1100..4999: above the -1000 offset)."""
    return np.random.default_rng(seed).integers(1100, 5000, size=(4, *S2_SIZE)).astype(np.uint16)


def write_s2_raster(path: Path, data: np.ndarray, pixel: float, driver="GTiff", crs=SCENE_CRS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"QUALITY": 100, "REVERSIBLE": "YES"} if driver == "JP2OpenJPEG" else {}
    with rasterio.open(path, "w", driver=driver, width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype, crs=crs, transform=scene_transform(pixel), **options) as dst:
        dst.write(data, 1)
    return path


def mtd_xml(baseline: str, offsets: dict[int, int] | None, quantification=10000, tile="08WMC") -> str:
    offsets_xml = "" if offsets is None else "<BOA_ADD_OFFSET_VALUES_LIST>" + "".join(
        f'<BOA_ADD_OFFSET band_id="{band}">{value}</BOA_ADD_OFFSET>' for band, value in offsets.items()) + \
        "</BOA_ADD_OFFSET_VALUES_LIST>"
    product = S2_PRODUCT.format(baseline=baseline.replace(".", ""), tile=tile)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>2023-07-15T20:18:51.024Z</PRODUCT_START_TIME>
<PRODUCT_URI>{product}.SAFE</PRODUCT_URI><PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
</Product_Info><Product_Image_Characteristics>
<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">{quantification}</BOA_QUANTIFICATION_VALUE>
</QUANTIFICATION_VALUES_LIST>{offsets_xml}</Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
"""


def write_safe(root: Path, dn=None, scl=None, baseline="05.09", offset=-1000, skip=(), tile="08WMC") -> Path:
    """A .SAFE L2A product: JPEG 2000 bands and SCL, MTD_MSIL2A.xml (BOA_ADD_OFFSET
    ``offset`` for all bands from baseline 04.00; none before). ``skip``: files left out."""
    dn = s2_dn() if dn is None else dn
    scl = np.full((S2_SIZE[0] // 2, S2_SIZE[1] // 2), 4, np.uint8) if scl is None else scl
    safe = root / (S2_PRODUCT.format(baseline=baseline.replace(".", ""), tile=tile) + ".SAFE")
    granule = safe / "GRANULE" / "L2A_T08WMC_A042000_20230715T201851" / "IMG_DATA"
    for name, data in zip(("B02", "B03", "B04", "B08"), dn, strict=True):
        if name not in skip:
            write_s2_raster(granule / "R10m" / f"T08WMC_20230715T201851_{name}_10m.jp2", data, 10.0, "JP2OpenJPEG")
    if "SCL" not in skip:
        write_s2_raster(granule / "R20m" / "T08WMC_20230715T201851_SCL_20m.jp2", scl, 20.0, "JP2OpenJPEG")
    if "MTD" not in skip:
        offsets = {band: offset for band in range(13)} if baseline >= "04.00" else None
        (safe / "MTD_MSIL2A.xml").write_text(mtd_xml(baseline, offsets, tile=tile))
    return safe


def write_stac_item(root: Path, dn=None, scl=None, *, offset_applied=None, scale=1e-4, offset=-0.1,
                    keys=("blue", "green", "red", "nir", "scl"), raster_bands=True, hrefs=None,
                    tile="08WMC") -> Path:
    """An Earth Search-like STAC item with COG assets beside it (relative hrefs)."""
    dn = s2_dn() if dn is None else dn
    scl = np.full((S2_SIZE[0] // 2, S2_SIZE[1] // 2), 4, np.uint8) if scl is None else scl
    folder = root / "S2A_08WMC_20230715_0_L2A"
    assets = {}
    for key, name, data, pixel in zip(keys, ("B02", "B03", "B04", "B08", "SCL"), [*dn, scl],
                                      (10.0,) * 4 + (20.0,), strict=True):
        write_s2_raster(folder / f"{name}.tif", data, pixel)
        asset = {"href": (hrefs or {}).get(name, f"./{name}.tif"), "type": "image/tiff; application=geotiff"}
        if raster_bands and name != "SCL":
            asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "scale": scale, "offset": offset}]
        assets[key] = asset
    properties = {"datetime": "2023-07-15T20:18:51.024000Z", "platform": "sentinel-2a", "s2:mgrs_tile": tile,
                  "s2:processing_baseline": "05.09"}
    if offset_applied is not None:
        properties["earthsearch:boa_offset_applied"] = offset_applied
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2A_08WMC_20230715_0_L2A",
            "geometry": {"type": "Point", "coordinates": [-133.0, 69.45]}, "bbox": [-133.1, 69.4, -132.9, 69.5],
            "properties": properties, "links": [], "assets": assets}
    path = folder / "item.json"
    path.write_text(json.dumps(item))
    return path


def write_cog_folder(root: Path, dn=None, scl=None, baseline="05.09", tile="08WMC") -> Path:
    dn = s2_dn() if dn is None else dn
    scl = np.full((S2_SIZE[0] // 2, S2_SIZE[1] // 2), 4, np.uint8) if scl is None else scl
    folder = root / S2_PRODUCT.format(baseline=baseline.replace(".", ""), tile=tile)
    for name, data in zip(("B02", "B03", "B04", "B08"), dn, strict=True):
        write_s2_raster(folder / f"T08WMC_20230715T201851_{name}_10m.tif", data, 10.0)
    write_s2_raster(folder / "T08WMC_20230715T201851_SCL_20m.tif", scl, 20.0)
    return folder
