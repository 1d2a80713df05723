"""Dated DEM strips of the world, ArcticDEM-like, with the truth of their errors and of
each slump's volume change (``rts-synth --dems N``; the test world of rts-volume).

Each strip is the world's terrain in its year (slumps at that year's outline and depth,
rts_synth.fields), warped to EPSG:3413 at 2 m and given the errors ArcticDEM strips
have against each other:

- a horizontal misregistration of up to 4 m and a vertical offset of up to 2 m;
- a tilt of up to 0.3 m per km;
- noise: white (0.15 m), growing with slope (0.3 m x tan(slope): stereo matching is worse
  on steep ground), and spatially correlated (0.1 m, about 150 m across);
- voids: blobs where matching failed, the lakes and the sea (water is masked in
  ArcticDEM's bitmask), and a strip edge that leaves part of the world uncovered.

The truth: ``truth/dem_strips.csv`` (each strip's date and errors; the shift rts-volume
should apply to a later strip is its misregistration minus the earlier one's) and
``truth/volume.parquet`` (per slump and pair of strips: the elevation change summed
over the slump's final outline from the error-free terrain, in m³ of ground).
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio import features
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from rts_core import atomic, contract, geoparquet, raster
from rts_core.crs import project
from rts_core.log import scene_items

from .fields import Fields, LatticeNoise
from .files import DEM_CRS, DEM_NODATA, DEM_PIXEL, aux_grid
from .world import PIXEL_M, Grid, World

WHITE_NOISE_M, SLOPE_NOISE_M, CORRELATED_NOISE_M, CORRELATED_SPACING_PX = 0.15, 0.3, 0.1, 75
TRUTH_BUFFER_M = 6.0  # the outline's edge pixels change too


@dataclass(frozen=True)
class DemStrip:
    name: str
    acquired: date
    shift_x_m: float  # the strip shows at a position the ground this far east of it
    shift_y_m: float
    shift_z_m: float  # added to every elevation
    tilt_x_m_per_km: float
    tilt_y_m_per_km: float
    voids: tuple  # polygons in the world's CRS
    edge_share: float  # the share of the world's width, on one side, that the strip misses
    edge_east: bool
    seed: int


def plan_strips(world: World, count: int) -> list[DemStrip]:
    """``count`` strips dated over the world's years (summer dates, evenly spread from the
    first year to the last; several in a year when there are more strips than years)."""
    rng = np.random.default_rng([world.seed, 40])
    first, last = date(world.years[0], 7, 1), date(world.years[-1], 8, 20)
    span = (last - first).days
    dates = [first + timedelta(days=round(span * i / max(count - 1, 1))) for i in range(count)]
    dates = [d if 6 <= d.month <= 9 else date(d.year, 8, 15) for d in dates]  # no winter DEMs
    strips = []
    minx, miny, maxx, maxy = world.grid.box(0, 0, world.grid.width, world.grid.height).bounds
    for index, acquired in enumerate(dates):
        while any(s.acquired == acquired for s in strips):
            acquired += timedelta(days=1)
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 4.0)
        voids = []
        for _ in range(int(rng.integers(3, 7))):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            blob = shapely.Point(x, y).buffer(rng.uniform(25, 150))
            voids.append(shapely.affinity.scale(blob, rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5)))
        sensor = ("WV01", "WV02", "WV03", "GE01")[index % 4]
        catalogue = [f"10{rng.integers(2, 5)}0010{''.join(rng.choice(list('0123456789ABCDEF'), 9))}"
                     for _ in range(2)]
        name = f"SETSM_s2s041_{sensor}_{acquired:%Y%m%d}_{catalogue[0]}_{catalogue[1]}_2m_lsf_seg1_dem.tif"
        strips.append(DemStrip(name, acquired, float(distance * np.cos(angle)), float(distance * np.sin(angle)),
                               float(rng.uniform(-2, 2)), float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3)),
                               tuple(voids), float(rng.uniform(0.0, 0.12)), bool(rng.random() < 0.5),
                               int(rng.integers(2**31))))
    return strips


def strip_paths(out: Path, strips: list[DemStrip]) -> list[Path]:
    return [out / "dems" / strip.name for strip in strips]


def truth_paths(out: Path) -> dict[str, Path]:
    return {"strips": out / "truth" / "dem_strips.csv", "volume": out / "truth" / "volume.parquet"}


def write_strip(fields: Fields, strip: DemStrip, path: Path, tool_version: str, fingerprint: str = "") -> None:
    """One strip: the terrain of its year on the world grid (a draft), warped to EPSG:3413
    with its misregistration, plus its offset, tilt, noise and voids."""
    world = fields.world
    grid = world.grid
    draft = atomic.temporary_path(path.with_name(f"{strip.acquired:%Y%m%d}_utm.tif"))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with rasterio.open(draft, "w", driver="GTiff", width=grid.width, height=grid.height, count=1,
                           dtype="float32", crs=grid.crs, transform=grid.transform, tiled=True, blockxsize=512,
                           blockysize=512) as dst:
            for window in raster.row_windows(grid.height, grid.width, 512):
                dst.write(fields.elevation((window.col_off, window.row_off, window.width, window.height),
                                           strip.acquired.year), 1, window=window)
        transform, width, height = aux_grid(world, DEM_CRS, (DEM_PIXEL, DEM_PIXEL))
        misregistered = Affine.translation(strip.shift_x_m, strip.shift_y_m) @ transform
        water = [project(g, grid.crs, DEM_CRS) for g in world.lakes + ([world.sea] if world.sea is not None else [])]
        voids = [project(g, grid.crs, DEM_CRS) for g in strip.voids] + water
        correlated = LatticeNoise(Grid(0.0, 0.0, width, height), CORRELATED_SPACING_PX, (strip.seed, 1))
        edge = int(strip.edge_share * width)
        rng = np.random.default_rng(strip.seed)
        tags = {"RTS_SYNTH": tool_version, contract.TAG_FINGERPRINT: fingerprint, "UNITS": "metre"}
        with rasterio.open(draft) as src, \
                WarpedVRT(src, crs=DEM_CRS, transform=misregistered, width=width, height=height,
                          resampling=Resampling.cubic, nodata=np.nan) as vrt, \
                raster.CogWriter(path, width=width, height=height, count=1, dtype="float32", crs=DEM_CRS,
                                 transform=transform, nodata=DEM_NODATA, band_descriptions=("elevation",),
                                 tags=tags) as out:
            for window in scene_items(list(raster.row_windows(height, width, 512)), strip.name[:40], unit="strip"):
                halo = _Halo(window, height)
                block = vrt.read(1, window=halo.padded)
                terrain = block[halo.inner]
                gy, gx = np.gradient(block, DEM_PIXEL)
                slope = np.hypot(gx, gy)[halo.inner]
                rows = np.arange(window.row_off, window.row_off + window.height)
                cols = np.arange(window.width)
                x_km = (cols[None, :] - width / 2) * DEM_PIXEL / 1000
                y_km = (height / 2 - rows[:, None]) * DEM_PIXEL / 1000
                noise = (rng.normal(0, 1, terrain.shape) * (WHITE_NOISE_M + SLOPE_NOISE_M * slope)
                         + CORRELATED_NOISE_M * correlated(rows, cols))
                values = (terrain + strip.shift_z_m + strip.tilt_x_m_per_km * x_km + strip.tilt_y_m_per_km * y_km
                          + noise).astype(np.float32)
                hole = features.rasterize(voids, out_shape=values.shape,
                                          transform=rasterio.windows.transform(window, transform)) > 0
                hole |= ~np.isfinite(values)
                if edge:
                    hole[:, -edge:] |= strip.edge_east
                    hole[:, :edge] |= not strip.edge_east
                out.write(np.where(hole, np.float32(DEM_NODATA), values), window=window)
    finally:
        atomic.remove_quietly(draft)


@dataclass
class _Halo:
    """A row window with one row of halo above and below (for slopes), clipped to the raster."""

    window: object
    height: int

    @property
    def padded(self):
        from rasterio.windows import Window

        top = max(self.window.row_off - 1, 0)
        bottom = min(self.window.row_off + self.window.height + 1, self.height)
        return Window(self.window.col_off, top, self.window.width, bottom - top)

    @property
    def inner(self):
        top = self.window.row_off - self.padded.row_off
        return slice(top, top + self.window.height), slice(None)


def volume_truth(fields: Fields, strips: list[DemStrip]) -> pd.DataFrame:
    """Per slump and pair of strips (earlier, later): the true volume change (m³, negative
    = loss) and the area that lost ground (m²), summed on the world grid from the
    error-free scar depths of the two years over the slump's final outline."""
    world = fields.world
    grid = world.grid
    slumps = world.slumps
    years = sorted({s.acquired.year for s in strips})
    outlines = [s.polygon.buffer(TRUTH_BUFFER_M) for s in slumps]
    pairs = list(itertools.combinations(years, 2))
    # (year_before, year_after) -> (volume, lowered area) per slump, index 0 for no slump
    sums = {pair: (np.zeros(len(slumps) + 1), np.zeros(len(slumps) + 1)) for pair in pairs}
    for window in raster.row_windows(grid.height, grid.width, 512):
        box = (window.col_off, window.row_off, window.width, window.height)
        ids = fields.burn("slumps_truth", outlines, list(range(1, len(slumps) + 1)), box, dtype="int32")
        if not ids.any():
            continue
        small = (box[0] - 3, box[1] - 3, box[2] + 6, box[3] + 6)
        core = (slice(3, 3 + box[3]), slice(3, 3 + box[2]))
        depth = {year: fields.scar_depth(small, core, year) for year in years}
        for before, after in pairs:
            dz = (depth[before] - depth[after]).astype(float)  # deeper later: the ground went down
            volume, lowered = sums[(before, after)]
            volume += np.bincount(ids.ravel(), dz.ravel() * PIXEL_M ** 2, minlength=len(slumps) + 1)
            lowered += np.bincount(ids.ravel(), (dz < -0.01).ravel() * PIXEL_M ** 2, minlength=len(slumps) + 1)
    rows = []
    for before, after in itertools.combinations(sorted(strips, key=lambda s: s.acquired), 2):
        if before.acquired.year == after.acquired.year:
            volume, lowered = np.zeros(len(slumps)), np.zeros(len(slumps))
        else:
            volume, lowered = (totals[1:] for totals in sums[(before.acquired.year, after.acquired.year)])
        for index, slump in enumerate(slumps):
            if slump.start_year > after.acquired.year:
                continue  # not there yet
            rows.append({"site_id": slump.site_id, "region": slump.region + 1, "date_before": before.acquired,
                         "date_after": after.acquired, "volume_change_m3": float(volume[index]),
                         "area_loss_m2": float(lowered[index]), "area_m2": float(slump.polygon.area),
                         "geometry": slump.polygon})
    return pd.DataFrame(rows)


def write_truth(fields: Fields, strips: list[DemStrip], paths: dict[str, Path], fingerprint: str = "") -> None:
    """``truth/dem_strips.csv`` and ``truth/volume.parquet`` (module docstring)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["name", "date", "shift_x_m", "shift_y_m", "shift_z_m", "tilt_x_m_per_km", "tilt_y_m_per_km",
                     "edge_share"])
    for s in strips:
        writer.writerow([s.name, s.acquired.isoformat(), f"{s.shift_x_m:.4f}", f"{s.shift_y_m:.4f}",
                         f"{s.shift_z_m:.4f}", f"{s.tilt_x_m_per_km:.4f}", f"{s.tilt_y_m_per_km:.4f}",
                         f"{s.edge_share:.4f}"])
    atomic.write_text(paths["strips"], text.getvalue())
    truth = volume_truth(fields, strips)
    frame = gpd.GeoDataFrame(truth.drop(columns="geometry") if len(truth) else truth,
                             geometry=list(truth["geometry"]) if len(truth) else [], crs=fields.world.grid.crs)
    geoparquet.write(frame, paths["volume"], fingerprint=fingerprint)
