"""Writing the world to disk: scenes (SR, udm2, metadata), auxiliary rasters (DEM,
TCVIS, land cover) and the truth, each streamed by windows and written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio import features, warp
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from scipy import ndimage

from rts_core import atomic, contract, geoparquet, raster, vector
from rts_core.crs import project
from rts_core.log import scene_items
from rts_core.runner import Plan
from rts_core.sceneid import format_acquired

from . import sentinel2
from .confounders import ANATOMY_CODE, SLUMP_TREND
from .fields import Fields, scene_window
from .world import PIXEL_M, World, WorldScene, generation

DEM_CRS, DEM_PIXEL, DEM_NODATA = "EPSG:3413", 2.0, -9999.0
TCVIS_CRS, TCVIS_PIXEL = "EPSG:4326", (0.0008, 0.00027)  # about 31 x 30 m here
LANDCOVER_CRS, LANDCOVER_PIXEL = "EPSG:32607", 10.0  # the neighbouring UTM zone
ESRI_WATER, ESRI_BUILT, ESRI_BARE, ESRI_RANGELAND = 1, 7, 8, 11
BARE_KINDS = ("scarp", "scree", "pit", "cut_bank", "bluff")
UDM2_BANDS = ("clear", "snow", "shadow", "light_haze", "heavy_haze", "cloud", "confidence",
              "unusable")
AUX_MARGIN_M = 600.0


def strip_rows(width: int, pixels: int = 1_500_000) -> int:
    """Rows per window so that a window holds about ``pixels`` pixels."""
    return int(np.clip(pixels // max(width, 1), 32, 1024))


# -- paths -----------------------------------------------------------------------------
def scene_paths(out: Path, scene_id: str, quicklook: bool = False) -> dict[str, Path]:
    folder = out / "scenes" / scene_id
    paths = {"sr": folder / f"{scene_id}_3B_AnalyticMS_SR.tif",
             "udm2": folder / f"{scene_id}_3B_udm2.tif",
             "metadata": folder / f"{scene_id}_metadata.json"}
    if quicklook:
        paths["quicklook"] = folder / f"{scene_id}_quicklook.png"
    return paths


def aux_paths(out: Path) -> dict[str, Path]:
    return {name: out / "aux" / f"{name}.tif" for name in ("dem", "tcvis", "landcover")}


def truth_paths(out: Path) -> dict[str, Path]:
    folder = out / "truth"
    return {"rts": folder / "rts.parquet", "rts_gpkg": folder / "rts.gpkg",
            "extent": folder / "extent.parquet", "features": folder / "features.parquet",
            "conditions": folder / "conditions.parquet", "anatomy": folder / "anatomy.tif",
            "anatomy_classes": folder / "anatomy_classes.txt", "input_errors": folder / "input_errors.json",
            "scenes": out / "scenes.csv"}


# -- the run: one item for the auxiliary rasters, one for the truth, one per scene ------
def items(world: World, sensor: str = "planetscope", strips: list | None = None) -> list[tuple]:
    """The run's items; ``strips`` (rts_synth.dems) add one item per DEM strip and one for their truth."""
    dated = [("dem", strip) for strip in strips or []] + ([("dem_truth", list(strips))] if strips else [])
    if sensor == "sentinel2":
        return [("aux", None), ("truth", None)] + [("s2", (i, scene)) for i, scene in enumerate(world.scenes)] + dated
    return [("aux", None), ("truth", None)] + [("scene", scene) for scene in world.scenes] + dated


def out_dirs(out: Path, world: World, sensor: str = "planetscope", strips: list | None = None) -> list[Path]:
    if strips:
        return out_dirs(out, world, sensor) + [out / "dems"]
    if sensor == "sentinel2":
        return [out, out / "aux", out / "truth", out / "scenes"] + sorted({
            p.parent for i, scene in enumerate(world.scenes)
            for key, p in sentinel2.product_paths(out, scene, i).items() if key != "product"})
    return [out, out / "aux", out / "truth"] + [out / "scenes" / s.scene_id for s in world.scenes]


def plan_item(item, *, out: Path, quicklook: bool, stamp: str, dem_stamp: str = "") -> Plan:
    """The files of one item, all with the world's fingerprint (DEM strips: ``dem_stamp``,
    which also holds how many strips there are); a scene prints its SR path (a
    Sentinel-2 product: its SAFE folder or STAC item)."""
    kind, scene = item
    if kind == "aux":
        return Plan(list(aux_paths(out).values()), printed=[], fingerprint=stamp, data=item, source=out / "aux")
    if kind == "truth":
        return Plan(list(truth_paths(out).values()), printed=[], fingerprint=stamp, data=item, source=out / "truth")
    if kind in ("dem", "dem_truth"):
        from . import dems

        if kind == "dem":
            path = dems.strip_paths(out, [scene])[0]
            return Plan([path], printed=[], fingerprint=dem_stamp, data=item, source=path)
        return Plan(list(dems.truth_paths(out).values()), printed=[], fingerprint=dem_stamp, data=item,
                    source=out / "truth")
    if kind == "s2":
        index, scene = scene
        paths = sentinel2.product_paths(out, scene, index)
        files = [p for key, p in paths.items() if key != "product"]
        return Plan(files, printed=[paths["product"]], fingerprint=stamp, data=item, source=paths["product"])
    paths = scene_paths(out, scene.scene_id, quicklook)
    return Plan(list(paths.values()), printed=[paths["sr"]], fingerprint=stamp, data=item,
                source=out / "scenes" / scene.scene_id)


def write_item(plan: Plan, *, fields: Fields, out: Path, quicklook: bool, version: str) -> None:
    kind, scene = plan.data
    stamp = plan.fingerprint
    if kind == "aux":
        paths = aux_paths(out)
        write_dem(fields, paths["dem"], version, stamp)
        write_tcvis(fields, paths["tcvis"], version, stamp)
        write_landcover(fields, paths["landcover"], version, stamp)
    elif kind == "truth":
        write_truth(fields.world, truth_paths(out), out, stamp)
    elif kind == "dem":
        from . import dems

        dems.write_strip(fields, scene, plan.outputs[0], version, stamp)
    elif kind == "dem_truth":
        from . import dems

        dems.write_truth(fields, scene, dems.truth_paths(out), stamp)
    elif kind == "s2":
        index, scene = scene
        sentinel2.write_product(fields, scene, index, sentinel2.product_paths(out, scene, index), version, stamp)
    else:
        paths = scene_paths(out, scene.scene_id, quicklook)
        write_scene(fields, scene, paths, version, stamp)
        if quicklook:
            write_quicklook(paths["quicklook"], paths["sr"], scene_truth_utm(fields.world, scene))


# -- scenes ----------------------------------------------------------------------------
def write_scene(fields: Fields, scene: WorldScene, paths: dict[str, Path], tool_version: str,
                fingerprint: str = "") -> None:
    world = fields.world
    transform = world.grid.window_transform(scene.col_off, scene.row_off)
    size = scene.size
    common = dict(width=size, height=size, crs=world.grid.crs, transform=transform)
    with raster.CogWriter(paths["sr"], count=4, dtype="uint16", nodata=0,
                          band_descriptions=("blue", "green", "red", "nir"),
                          tags={"RTS_SYNTH": tool_version, contract.TAG_FINGERPRINT: fingerprint}, **common) as sr, \
            raster.CogWriter(paths["udm2"], count=8, dtype="uint8", band_descriptions=UDM2_BANDS,
                             tags={contract.TAG_FINGERPRINT: fingerprint}, overview_resampling="nearest",
                             **common) as udm2:
        strips = list(raster.row_windows(size, size, strip_rows(size)))
        for window in scene_items(strips, scene.scene_id, unit="strip"):
            dn, flags = scene_window(fields, scene, (window.col_off, window.row_off, window.width,
                                                     window.height))
            sr.write(dn, window=window)
            udm2.write(flags, window=window)
    footprint = project(scene.swath, world.grid.crs, "EPSG:4326")
    valid = scene.valid_area
    metadata = {
        "id": scene.scene_id, "type": "Feature",
        "geometry": shapely.geometry.mapping(footprint),
        "properties": {
            "acquired": format_acquired(scene.acquired).replace("Z", ".000000Z"),
            "item_type": "PSScene", "instrument": "PSB.SD", "provider": "synthetic (rts-synth)",
            "satellite_id": scene.satellite, "pixel_resolution": PIXEL_M,
            "epsg_code": int(world.grid.crs.split(":")[1]),
            "cloud_percent": round(
                100 * shapely.union_all(scene.clouds + scene.thin_clouds).area / scene.swath.area, 1),
            "clear_percent": round(100 * valid.area / scene.swath.area, 1),
            "sun_elevation": 40.0, "view_angle": 3.0,
            "rts_synth": {"region": scene.region + 1, "split": scene.split, "year": scene.year},
        },
    }
    atomic.write_text(paths["metadata"], json.dumps(metadata, indent=2))


def write_quicklook(path: Path, sr_path: Path, truth_utm: list, max_px: int = 800) -> None:
    """False colour (nir, red, green) with the true slump outlines in yellow."""
    with rasterio.open(sr_path) as src:
        scale = max(1, int(np.ceil(max(src.width, src.height) / max_px)))
        shape = (src.height // scale, src.width // scale)
        bands = src.read((4, 3, 2), out_shape=(3, *shape), resampling=Resampling.average).astype(np.float32)
        transform = src.transform * Affine.scale(src.width / shape[1], src.height / shape[0])
    valid = bands.max(axis=0) > 0
    image = np.zeros((3, *shape), np.uint8)
    for i in range(3):
        if valid.any():
            low, high = np.percentile(bands[i][valid], (2, 98))
            image[i] = np.clip((bands[i] - low) / max(high - low, 1) * 255, 0, 255)
    lines = [g.boundary for g in truth_utm if not g.is_empty]
    if lines:
        outline = features.rasterize(lines, out_shape=shape, transform=transform, all_touched=True) > 0
        image[:, outline] = np.array([255, 230, 0], np.uint8)[:, None]
    with atomic.atomic_path(path) as temporary, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(temporary, "w", driver="PNG", width=shape[1], height=shape[0], count=3,
                           dtype="uint8") as dst:
            dst.write(image)


# -- auxiliary rasters -----------------------------------------------------------------
def aux_grid(world: World, crs: str, pixel: tuple[float, float]):
    minx, miny, maxx, maxy = world.grid.box(0, 0, world.grid.width, world.grid.height).bounds
    # margin in metres, converted to the target CRS through the transformed bounds
    left, bottom, right, top = warp.transform_bounds(
        world.grid.crs, crs, minx - AUX_MARGIN_M, miny - AUX_MARGIN_M, maxx + AUX_MARGIN_M,
        maxy + AUX_MARGIN_M, densify_pts=51)
    dx, dy = pixel
    left, top = np.floor(left / dx) * dx, np.ceil(top / dy) * dy
    width, height = int(np.ceil((right - left) / dx)), int(np.ceil((top - bottom) / dy))
    return Affine(dx, 0, left, 0, -dy, top), width, height


def write_dem(fields: Fields, path: Path, tool_version: str, fingerprint: str = "") -> None:
    """ArcticDEM-like: float32 metres, EPSG:3413, 2 m, with no-data gaps. Elevation is
    evaluated on the world grid by windows, then warped (cubic) window by window."""
    world = fields.world
    grid = world.grid
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = atomic.temporary_path(path.with_name("elevation_utm.tif"))
    try:
        misregistered = Affine.translation(*world.dem_shift_m) * grid.transform  # (0, 0) but with --input-errors
        with rasterio.open(draft, "w", driver="GTiff", width=grid.width, height=grid.height, count=1,
                           dtype="float32", crs=grid.crs, transform=misregistered, tiled=True, blockxsize=512,
                           blockysize=512, nodata=DEM_NODATA) as dst:
            strips = list(raster.row_windows(grid.height, grid.width, strip_rows(grid.width, 1_000_000)))
            for window in scene_items(strips, "elevation", unit="strip"):
                dst.write(fields.elevation((window.col_off, window.row_off, window.width, window.height)),
                          1, window=window)
        transform, width, height = aux_grid(world, DEM_CRS, (DEM_PIXEL, DEM_PIXEL))
        gaps = [project(g, grid.crs, DEM_CRS) for g in world.dem_gaps]
        with rasterio.open(draft) as src, \
                WarpedVRT(src, crs=DEM_CRS, transform=transform, width=width, height=height,
                          resampling=Resampling.cubic, nodata=DEM_NODATA) as vrt, \
                raster.CogWriter(path, width=width, height=height, count=1, dtype="float32",
                                 crs=DEM_CRS, transform=transform, nodata=DEM_NODATA,
                                 band_descriptions=("elevation",),
                                 tags={"RTS_SYNTH": tool_version, contract.TAG_FINGERPRINT: fingerprint,
                                       "UNITS": "metre"}) as out:
            strips = list(raster.row_windows(height, width, strip_rows(width, 2_000_000)))
            for window in scene_items(strips, "DEM", unit="strip"):
                block = vrt.read(1, window=window)
                if gaps:
                    hole = features.rasterize(gaps, out_shape=block.shape,
                                              transform=rasterio.windows.transform(window, transform))
                    block[hole > 0] = DEM_NODATA
                out.write(block, window=window)
    finally:
        atomic.remove_quietly(draft)


def write_tcvis(fields: Fields, path: Path, tool_version: str, fingerprint: str = "") -> None:
    """Landsat Tasseled-Cap trends 2000-2019 (brightness, greenness, wetness), uint8 with
    128 = no change: slumps active before 2020 and eroding shores show wetness up and
    greenness down; outcrops and gravel bars show nothing."""
    world = fields.world
    transform, width, height = aux_grid(world, TCVIS_CRS, TCVIS_PIXEL)
    factor = 5  # supersampling, for the fraction of each 30 m cell that changed

    def fraction(geometries):
        geometries = [project(g, world.grid.crs, TCVIS_CRS) for g in geometries
                      if g is not None and not g.is_empty]
        if not geometries:
            return np.zeros((height, width), np.float32)
        fine = features.rasterize(geometries, out_shape=(height * factor, width * factor),
                                  transform=transform * Affine.scale(1 / factor))
        return fine.reshape(height, factor, width, factor).mean(axis=(1, 3)).astype(np.float32)

    slumps = fraction([s.disturbed_2000_2019() for s in world.slumps])
    erosion = fraction(world.shore_erosion)
    confounded = np.zeros((3, height, width), np.float32)  # each confounder's own trend, by cover
    for trend in sorted({c.trend for c in world.confounders if any(c.trend)}):
        changed = [c.polygon for c in world.confounders if c.trend == trend]
        confounded += np.asarray(trend, np.float32)[:, None, None] * fraction(changed)[None]
    rng = np.random.default_rng([world.seed, 20])
    noise = ndimage.gaussian_filter(rng.standard_normal((3, height, width)), (0, 1.0, 1.0)) * 6.0
    regional = ndimage.gaussian_filter(rng.standard_normal((height, width)), 8)
    greening = 6.0 + 4.0 * regional / max(float(regional.std()), 1e-9)  # Arctic greening
    bands = np.stack([
        128 + 2 + SLUMP_TREND[0] * slumps + 22 * erosion + noise[0] + confounded[0],
        128 + greening + SLUMP_TREND[1] * slumps - 30 * erosion + noise[1] + confounded[1],
        128 + SLUMP_TREND[2] * slumps + 35 * erosion + noise[2] + confounded[2],
    ])
    data = np.clip(np.round(bands), 0, 255).astype(np.uint8)
    raster.write_cog(path, data, crs=TCVIS_CRS, transform=transform,
                     band_descriptions=("tc_brightness", "tc_greenness", "tc_wetness"),
                     tags={"RTS_SYNTH": tool_version, contract.TAG_FINGERPRINT: fingerprint,
                           "ENCODING": "10-year trend clipped to -0.12..0.12, scaled to 0-255; 128 = no change"})


def write_landcover(fields: Fields, path: Path, tool_version: str, fingerprint: str = "") -> None:
    """ESRI 10 m land cover classes: water (1) for lakes, the river and ponds large
    enough to show at 10 m; bare ground (8) for rock, gravel and slumps; rangeland (11)."""
    world = fields.world
    transform, width, height = aux_grid(world, LANDCOVER_CRS, (LANDCOVER_PIXEL, LANDCOVER_PIXEL))
    bare = world.outcrops + world.gravel_bars + [c.polygon for c in world.confounders if c.kind in BARE_KINDS]
    shapes = [(project(g, world.grid.crs, LANDCOVER_CRS), ESRI_BARE) for g in bare + [s.polygon for s in world.slumps]]
    shapes += [(project(c.polygon, world.grid.crs, LANDCOVER_CRS), ESRI_BUILT)
               for c in world.confounders if c.kind in ("pad", "road")]
    water = world.water + [c.polygon for c in world.confounders if c.kind == "turbid_pond"]
    shapes += [(project(g, world.grid.crs, LANDCOVER_CRS), ESRI_WATER) for g in water]
    classes = features.rasterize(shapes, out_shape=(height, width), transform=transform,
                                 fill=ESRI_RANGELAND, dtype="uint8")
    raster.write_cog(path, classes, crs=LANDCOVER_CRS, transform=transform, nodata=0,
                     band_descriptions=("landcover",), overview_resampling="nearest",
                     tags={"RTS_SYNTH": tool_version, contract.TAG_FINGERPRINT: fingerprint,
                           "CLASSES": "ESRI 10 m: 1 water, 7 built area, 8 bare, 11 rangeland"})


# -- truth -----------------------------------------------------------------------------
FEATURE_CLASS = {"lake": "lake", "pond": "lake", "river": "river", "sea": "sea", "gravel_bar": "bare ground",
                 "rock_outcrop": "bare ground", "shore_erosion": "bare ground"}


def input_errors(world: World) -> dict:
    """The errors of the inputs (rts-synth --input-errors), as injected: none in the classic world."""
    return {"dem_shift_m": list(world.dem_shift_m), "dem_year": world.dem_year,
            "tcvis_period": "2000-2019",
            "scenes": {scene.scene_id: {"generation": generation(scene.satellite), "gain": list(scene.gain),
                                        "offset": list(scene.offset), "haze_amplitude": scene.haze_amplitude,
                                        "sun_azimuth_elevation": list(scene.sun) if scene.sun else None}
                       for scene in world.scenes}}


def write_anatomy(world: World, path: Path, legend_path: Path, fingerprint: str) -> None:
    """What lies under each pixel of the world grid, as the anatomy classes of
    rts_synth.confounders (1 vegetation ... 9 slump, at its final extent): the land
    cover that rts-validate objects --landcover names each false positive's class
    with. ``legend_path`` holds the --landcover-classes value."""
    layers = [(world.outcrops + world.gravel_bars + world.shore_strips, "bare ground"),
              ([c.polygon for c in world.confounders if c.kind == "fire_scar"], "vegetation")]
    layers += [([c.polygon], c.anatomy_class) for c in world.confounders if c.kind != "fire_scar"]
    layers += [(world.lakes + world.ponds, "lake"), ([world.river] if world.river is not None else [], "river"),
               ([world.sea] if world.sea is not None else [], "sea"),
               ([s.polygon for s in world.slumps], "slump")]
    shapes = [(g, ANATOMY_CODE[name]) for geometries, name in layers for g in geometries
              if g is not None and not g.is_empty]
    grid = world.grid
    codes = features.rasterize(shapes, out_shape=(grid.height, grid.width), transform=grid.transform,
                               fill=ANATOMY_CODE["vegetation"], dtype="uint8") if shapes else \
        np.full((grid.height, grid.width), ANATOMY_CODE["vegetation"], np.uint8)
    legend = ",".join(f"{code}={name}" for name, code in ANATOMY_CODE.items())
    raster.write_cog(path, codes[None], crs=grid.crs, transform=grid.transform, nodata=0,
                     band_descriptions=("anatomy",), overview_resampling="nearest",
                     tags={contract.TAG_FINGERPRINT: fingerprint, "CLASSES": legend})
    atomic.write_text(legend_path, legend + "\n")



def truth_frames(world: World):
    """The true slump footprints visible in each scene, each scene's valid extent, the
    world's features and each scene's injected conditions, as GeoDataFrames."""
    import geopandas
    import pandas

    crs = world.grid.crs
    rows, extents, conditions = [], [], []
    for scene in world.scenes:
        valid = scene.valid_area
        acquired = pandas.Timestamp(scene.acquired)
        extents.append({"scene_id": scene.scene_id, "acquired": acquired, "year": scene.year,
                        "region": scene.region + 1, "split": scene.split, "geometry": valid})
        for slump, footprint in zip(world.slumps, world.footprints(scene.year), strict=True):
            if footprint is None or not footprint.intersects(valid):
                continue
            visible = footprint.intersection(valid)
            if visible.area < 10 * world.pixel_m ** 2:  # under 10 pixels of the sensor
                continue
            rows.append({"scene_id": scene.scene_id, "acquired": acquired, "year": scene.year,
                         "region": scene.region + 1, "split": scene.split, "site_id": slump.site_id,
                         "source": slump.source, "geometry": visible})
        for kind, geometries in (("swath", [scene.swath]), ("cloud", scene.clouds),
                                 ("thin_cloud", scene.thin_clouds), ("shadow", scene.shadows),
                                 ("snow", scene.snow), ("haze_fringe", [scene.haze_fringe])):
            conditions += [{"scene_id": scene.scene_id, "kind": kind, "geometry": g}
                           for g in geometries if not g.is_empty]
    columns = ["scene_id", "acquired", "year", "region", "split", "site_id", "source", "geometry"]
    truth = geopandas.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=crs).to_crs(4326)
    truth["area_m2"] = truth.to_crs(6931).area  # equal-area (EASE-Grid 2.0 North)
    extent = geopandas.GeoDataFrame(extents, geometry="geometry", crs=crs).to_crs(4326)
    features_rows = []
    for slump in world.slumps:
        features_rows.append({"kind": "slump", "feature_id": slump.site_id, "region": slump.region + 1,
                              "source": slump.source, "source_area_m2": slump.source_area_m2,
                              "depth_m": slump.depth_m, "retreat_m_per_yr": slump.retreat_m_per_yr,
                              "start_year": slump.start_year, "regrowth": slump.regrowth, "anatomy_class": "slump",
                              "geometry": slump.polygon})
    for confounder in world.confounders:
        features_rows.append({"kind": confounder.kind, "feature_id": confounder.feature_id,
                              "region": confounder.region + 1, "depth_m": -confounder.relief_m,
                              "anatomy_class": confounder.anatomy_class, "trend_2000_2019": confounder.trend_active,
                              "lookalike": confounder.lookalike,
                              "geometry": confounder.polygon})
    for kind, geometries in (("lake", world.lakes), ("river", [world.river]), ("sea", [world.sea]),
                             ("pond", world.ponds),
                             ("gravel_bar", world.gravel_bars), ("rock_outcrop", world.outcrops),
                             ("shore_erosion", world.shore_strips), ("dem_gap", world.dem_gaps),
                             ("region", world.regions)):
        features_rows += [{"kind": kind, "feature_id": f"{kind}{j + 1}", "anatomy_class": FEATURE_CLASS.get(kind),
                           "geometry": g} for j, g in enumerate(geometries) if g is not None and not g.is_empty]
    feature_frame = geopandas.GeoDataFrame(features_rows, geometry="geometry", crs=crs)
    condition_frame = geopandas.GeoDataFrame(conditions, columns=["scene_id", "kind", "geometry"],
                                             geometry="geometry", crs=crs)
    return truth, extent, feature_frame, condition_frame


def write_truth(world: World, paths: dict[str, Path], out: Path, fingerprint: str | None = None) -> None:
    truth, extent, feature_frame, condition_frame = truth_frames(world)
    geoparquet.write(truth, paths["rts"], fingerprint)
    vector.write_geopackage({"rts": truth, "extent": extent}, paths["rts_gpkg"],
                            timestamp="2000-01-01T00:00:00Z")
    geoparquet.write(extent, paths["extent"], fingerprint)
    geoparquet.write(feature_frame, paths["features"], fingerprint)
    geoparquet.write(condition_frame, paths["conditions"], fingerprint)
    write_anatomy(world, paths["anatomy"], paths["anatomy_classes"], fingerprint or "")
    atomic.write_text(paths["input_errors"], json.dumps(input_errors(world), indent=1) + "\n")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["scene_id", "region", "year", "acquired", "split", "sr_path"])
    for index, scene in enumerate(world.scenes):
        sr = sentinel2.product_paths(out, scene, index)["product"] if world.sensor == "sentinel2" else \
            scene_paths(out, scene.scene_id)["sr"]
        writer.writerow([scene.scene_id, scene.region + 1, scene.year, format_acquired(scene.acquired),
                         scene.split, os.path.relpath(sr, out)])
    atomic.write_text(paths["scenes"], text.getvalue())


def scene_truth_utm(world: World, scene: WorldScene) -> list:
    valid = scene.valid_area
    return [f.intersection(valid) for f in world.footprints(scene.year)
            if f is not None and f.intersects(valid)]
