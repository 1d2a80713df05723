"""The synthetic world as vector geometry: the grid, regions, terrain features, thaw
slumps that grow upslope year by year, and each scene's footprint, clouds and snow.

Everything here is geometry in the site's UTM CRS (metres) and plain numbers; the
rasters are evaluated from it window by window in :mod:`rts_synth.fields`.

Layout: ``n_regions`` square regions on a grid with gaps between them. Each region is
visited by two overlapping scenes a year; the last region's scenes are held apart for
testing (``split == "test"``), so no slump of the test scenes is ever seen in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import shapely
from affine import Affine
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box

from .confounders import Confounder, place_confounders
from .shapes import Shape, axis_extent, largest_polygon, lobate_polygon, procedural_shape

# Site on the Tuktoyaktuk Peninsula (NWT, Canada), a slump-rich region of DARTS.
SITE_LON, SITE_LAT = -133.4, 69.45
SITE_CRS = "EPSG:32608"  # UTM zone 8N
PIXEL_M = 3.0
DEEPENING_PER_YEAR = 0.1  # of a slump's final depth (dated DEMs)
SATELLITES = ("2416", "24a3", "2423", "242d", "1062", "2262", "247d", "241f")


@dataclass(frozen=True)
class Grid:
    """The world grid: 3 m pixels, north up, in the site's UTM zone."""

    x0: float  # left edge, metres
    y0: float  # top edge, metres
    width: int
    height: int
    pixel: float = PIXEL_M
    crs: str = SITE_CRS

    @property
    def transform(self) -> Affine:
        return Affine(self.pixel, 0, self.x0, 0, -self.pixel, self.y0)

    def window_transform(self, col_off: int, row_off: int) -> Affine:
        return self.transform * Affine.translation(col_off, row_off)

    def box(self, col_off: int, row_off: int, width: int, height: int) -> Polygon:
        x = self.x0 + col_off * self.pixel
        y = self.y0 - row_off * self.pixel
        return box(x, y - height * self.pixel, x + width * self.pixel, y)

    def centres(self, col_off: int, row_off: int, width: int, height: int):
        """x (columns) and y (rows) of pixel centres, as 1-D arrays."""
        xs = self.x0 + (col_off + np.arange(width) + 0.5) * self.pixel
        ys = self.y0 - (row_off + np.arange(height) + 0.5) * self.pixel
        return xs, ys


class RegionError(ValueError):
    """A region number the world does not have."""


@dataclass
class Slump:
    site_id: str
    region: int
    polygon: Polygon  # the final (largest) extent, last year
    upslope: tuple[float, float]  # unit vector, toe -> headwall
    retreat_m_per_yr: float
    start_year: int
    depth_m: float
    source: str
    source_area_m2: float
    last_year: int
    regrowth: float = 0.0  # share of the floor revegetated (0: bare; --revegetated-slumps)

    def footprint(self, year: int) -> Polygon | None:
        """The active area in ``year``: the final outline cut back downslope by the
        headwall retreat still to come (an arcuate headwall, as the real ones)."""
        if year < self.start_year:
            return None
        shift = self.retreat_m_per_yr * (self.last_year - year)
        if shift <= 0:
            return self.polygon
        moved = affinity.translate(self.polygon, -self.upslope[0] * shift, -self.upslope[1] * shift)
        part = self.polygon.intersection(moved)
        if part.is_empty or part.area < 150:
            return None
        return largest_polygon(part)

    def disturbed_2000_2019(self) -> Polygon | None:
        """What the Landsat trend period (2000-2019) saw: only slumps active before 2020,
        and then their older, smaller extent."""
        if self.start_year > 2019:
            return None
        return self.footprint(self.last_year - 2) or self.footprint(self.last_year)

    def depth_in(self, year: int) -> float:
        """Depth (m) at the headwall in ``year`` for dated DEMs (--dems): a slump deepens
        by 10 % of its final depth a year up to its last year, from half of it."""
        return self.depth_m * float(np.clip(1.0 - DEEPENING_PER_YEAR * (self.last_year - year), 0.5, 1.0))

    @property
    def toe_head(self) -> tuple[float, float]:
        """Extent of the final outline along the upslope axis (metres)."""
        return axis_extent(self.polygon, self.upslope)


@dataclass
class WorldScene:
    scene_id: str
    region: int
    year: int
    acquired: datetime
    satellite: str
    col_off: int
    row_off: int
    size: int
    swath: Polygon
    clouds: list[Polygon]
    thin_clouds: list[Polygon]
    shadows: list[Polygon]
    snow: list[Polygon]
    haze_amplitude: float
    haze_direction: tuple[float, float]
    gain: tuple[float, float, float, float]
    salt: int
    split: str
    offset: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # reflectance added per band
    sun: tuple[float, float] | None = None  # (azimuth, elevation) in degrees: terrain shading, when set

    @property
    def haze_fringe(self) -> Polygon:
        """A 20 m ring around clouds that udm2 flags as light haze."""
        every = shapely.union_all(self.clouds + self.thin_clouds)
        return every.buffer(20).difference(every) if not every.is_empty else Polygon()

    @property
    def invalid(self):
        return shapely.union_all(self.clouds + self.thin_clouds + self.shadows + self.snow
                                 + [self.haze_fringe])

    @property
    def valid_area(self):
        """Clear pixels inside the swath: what udm2 marks usable (DARTS v1 rule)."""
        return self.swath.difference(self.invalid)


@dataclass
class World:
    seed: int
    grid: Grid
    years: list[int]
    regions: list[Polygon]
    test_regions: frozenset[int]  # 0-based indices of the regions held apart for testing
    lakes: list[Polygon] = field(default_factory=list)
    river: Polygon | None = None
    sea: Polygon | None = None  # a coast on the west, with the bluffs of the hard world
    ponds: list[Polygon] = field(default_factory=list)
    gravel_bars: list[Polygon] = field(default_factory=list)
    outcrops: list[Polygon] = field(default_factory=list)
    outcrop_heights: list[float] = field(default_factory=list)
    shore_strips: list[Polygon] = field(default_factory=list)  # eroding, bare shore
    shore_erosion: list[Polygon] = field(default_factory=list)  # its TCVIS footprint
    slumps: list[Slump] = field(default_factory=list)
    confounders: list[Confounder] = field(default_factory=list)
    rts_free: frozenset[int] = frozenset()  # 0-based indices of regions without slumps
    dem_shift_m: tuple[float, float] = (0.0, 0.0)  # the DEM's misregistration (x, y)
    dem_year: int | None = None  # the DEM's date: slumps at their extent of that year (None: the last)
    dem_gaps: list[Polygon] = field(default_factory=list)
    scenes: list[WorldScene] = field(default_factory=list)
    sensor: str = "planetscope"  # or "sentinel2": the scenes are written as Sentinel-2 products

    _footprints: dict = field(default_factory=dict, repr=False)

    @property
    def pixel_m(self) -> float:
        """The scenes' pixel size as written (3 m PlanetScope, 10 m Sentinel-2)."""
        return 10.0 if self.sensor == "sentinel2" else PIXEL_M

    def footprints(self, year: int) -> list[Polygon | None]:
        """Every slump's footprint in ``year`` (None where absent), computed once."""
        if year not in self._footprints:
            self._footprints[year] = [s.footprint(year) for s in self.slumps]
        return self._footprints[year]

    @property
    def water(self) -> list[Polygon]:
        return (self.lakes + self.ponds + ([self.river] if self.river is not None else [])
                + ([self.sea] if self.sea is not None else []))


class Occupancy:
    """Geometries placed so far, with a quick "anything within d metres?" test (bounding
    boxes in numpy first, exact distance only for the few near ones), so placing
    thousands of features stays linear."""

    def __init__(self, geometries=()):
        self.geometries: list = []
        self._bounds = np.empty((0, 4))
        for geometry in geometries:
            self.add(geometry)

    def add(self, geometry) -> None:
        if geometry is None or geometry.is_empty:
            return
        self.geometries.append(geometry)
        self._bounds = np.vstack([self._bounds, geometry.bounds])

    def near(self, geometry, distance: float = 0.0) -> list:
        minx, miny, maxx, maxy = geometry.bounds
        b = self._bounds
        hit = ((b[:, 0] <= maxx + distance) & (b[:, 2] >= minx - distance)
               & (b[:, 1] <= maxy + distance) & (b[:, 3] >= miny - distance))
        return [self.geometries[i] for i in np.flatnonzero(hit)]

    def within(self, geometry, distance: float = 0.0) -> bool:
        return any(geometry.distance(other) <= distance for other in self.near(geometry, distance))

    def overlap_area(self, geometry) -> float:
        return sum(geometry.intersection(other).area for other in self.near(geometry))



def site_origin(width_m: float, height_m: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, SITE_CRS, always_xy=True).transform(SITE_LON, SITE_LAT)
    return (round((x - width_m / 2) / PIXEL_M) * PIXEL_M,
            round((y + height_m / 2) / PIXEL_M) * PIXEL_M)


def build_world(seed: int, n_scenes: int, size: int, years: list[int],
                label_shapes: list[Shape] | None = None, confounder_rates: dict[str, float] | None = None,
                rts_free: tuple[int, ...] = (), test_regions: int = 1, input_errors: bool = False,
                revegetated: float = 0.0) -> World:
    """The whole world for a seed: deterministic, geometry only (fast).

    ``confounder_rates``: per km² of region by kind (rts_synth.confounders); none by
    default. ``rts_free``: 1-based numbers of regions without slumps (their confounders
    stay). ``test_regions``: how many of the last regions are held apart for testing.
    ``input_errors``: the errors of real inputs (:func:`add_input_errors`).
    ``revegetated``: the share of slumps whose floor is partly grown over (20-45 %),
    drawn from its own stream. A sea comes with coastal bluffs (confounder ``bluff``)."""
    years = sorted(years)
    per_region = 2 * len(years)  # two scenes a year per region
    n_regions = max(1, math.ceil(n_scenes / per_region))
    columns = math.ceil(math.sqrt(n_regions))
    rows = math.ceil(n_regions / columns)
    region_px = round(size * 1.25)
    gap_px = max(60, round(size * 0.15))
    margin_px = 150
    width = 2 * margin_px + columns * region_px + (columns - 1) * gap_px
    height = 2 * margin_px + rows * region_px + (rows - 1) * gap_px
    x0, y0 = site_origin(width * PIXEL_M, height * PIXEL_M)
    grid = Grid(x0, y0, width, height)
    region_offsets = [(margin_px + (i % columns) * (region_px + gap_px),
                       margin_px + (i // columns) * (region_px + gap_px)) for i in range(n_regions)]
    regions = [grid.box(c, r, region_px, region_px) for c, r in region_offsets]
    held_apart = frozenset(range(max(n_regions - test_regions, 1), n_regions)) if n_regions > 1 else frozenset()
    unknown = [r for r in rts_free if not 1 <= r <= n_regions]
    if unknown:
        raise RegionError(f"no region {unknown[0]}: the world has {n_regions} regions")
    world = World(seed, grid, years, regions, held_apart, rts_free=frozenset(r - 1 for r in rts_free))

    rng = np.random.default_rng([seed, 0])
    world.river = _river(rng, grid)
    world.gravel_bars = _gravel_bars(rng, world.river)
    if (confounder_rates or {}).get("bluff", 0.0) > 0:
        world.sea = _sea(np.random.default_rng([seed, 5]), grid, region_px)
    for index, region in enumerate(regions):
        region_rng = np.random.default_rng([seed, 1, index])
        _fill_region(world, index, region, region_rng, label_shapes)
        if confounder_rates:
            busy = Occupancy(world.water + [s.polygon for s in world.slumps] + world.outcrops + world.gravel_bars
                             + [c.polygon for c in world.confounders if c.kind != "fire_scar"])
            world.confounders += place_confounders(
                np.random.default_rng([seed, 3, index]), index, region, confounder_rates,
                {"cut_bank": world.river, "bluff": world.sea,
                 "scarp": shapely.union_all([lake for lake in world.lakes if lake.intersects(region)])}, busy,
                Occupancy(s.polygon for s in world.slumps), len(world.confounders))
    scene_rng = np.random.default_rng([seed, 2])
    used_ids: set[str] = set()
    for i in range(n_scenes):
        region = i % n_regions
        year = years[(i // n_regions) % len(years)]
        world.scenes.append(_scene(world, scene_rng, region, region_offsets[region], region_px,
                                   size, year, used_ids))
    if input_errors:
        add_input_errors(world, np.random.default_rng([seed, 4]))
    if revegetated > 0:
        regrowth_rng = np.random.default_rng([seed, 6])
        for slump in world.slumps:
            if regrowth_rng.random() < revegetated:
                slump.regrowth = float(regrowth_rng.uniform(0.2, 0.45))
    return world


# Relative gain (blue, green, red, nir) of PlanetScope generations against the truth:
# Dove Classic (PS2) and Dove-R (PS2.SD) read differently from SuperDove (PSB.SD),
# most in the red and NIR that NDVI is made of.
GENERATION_GAIN = {"PS2": (1.04, 1.02, 0.95, 1.08), "PS2.SD": (1.02, 1.01, 0.98, 1.04),
                   "PSB.SD": (1.0, 1.0, 1.0, 1.0)}


def generation(satellite: str) -> str:
    """The PlanetScope generation of a satellite id (24xx SuperDove, 22xx Dove-R, else Dove Classic)."""
    return "PSB.SD" if satellite.startswith("24") else "PS2.SD" if satellite.startswith("22") else "PS2"


def add_input_errors(world: World, rng: np.random.Generator) -> None:
    """The errors of real inputs, drawn from their own stream (the world is otherwise
    the same): each scene's gain by satellite generation and date, a reflectance
    offset, haze that udm2 leaves clear, and a sun that shades the terrain; a DEM
    misregistered by a few metres and made the year before the first scene, so slumps
    grew after it. TCVIS already shows the earlier period 2000-2019."""
    angle = rng.uniform(0, 2 * np.pi)
    distance = rng.uniform(2.0, 6.0)
    world.dem_shift_m = (float(distance * np.cos(angle)), float(distance * np.sin(angle)))
    world.dem_year = world.years[0] - 1
    for scene in world.scenes:
        base = np.asarray(GENERATION_GAIN[generation(scene.satellite)])
        scene.gain = tuple(float(g) for g in np.asarray(scene.gain) * base * rng.normal(1.0, 0.03, 4))
        scene.offset = tuple(float(o) for o in rng.normal(0.002, 0.003, 4))
        scene.haze_amplitude = float(scene.haze_amplitude + rng.uniform(0.0, 0.03))
        scene.sun = (float(rng.uniform(140, 220)), float(rng.uniform(25, 45)))


def _river(rng: np.random.Generator, grid: Grid) -> Polygon:
    """A meandering river of 20-30 m across the world, west to east."""
    xs = np.linspace(grid.x0 - 100, grid.x0 + grid.width * PIXEL_M + 100, 400)
    height_m = grid.height * PIXEL_M
    y_mid = grid.y0 - height_m * rng.uniform(0.25, 0.4)
    wavelength = rng.uniform(500, 900)
    phase = rng.uniform(0, 2 * np.pi)
    ys = (y_mid + 90 * np.sin(2 * np.pi * xs / wavelength + phase)
          + 40 * np.sin(2 * np.pi * xs / (wavelength * 0.37) + 2 * phase))
    return LineString(np.column_stack([xs, ys])).buffer(rng.uniform(10, 15), quad_segs=4)


def _sea(rng: np.random.Generator, grid: Grid, region_px: int) -> Polygon:
    """The sea along the west of the world, its wavy coast 12-20 % into the western
    regions (north to south, beyond the grid)."""
    top, bottom = grid.y0 + 300, grid.y0 - grid.height * PIXEL_M - 300
    ys = np.linspace(top, bottom, 300)
    inland = (150 + region_px * rng.uniform(0.12, 0.2)) * PIXEL_M
    wavelength = rng.uniform(600, 1100)
    phase = rng.uniform(0, 2 * np.pi)
    xs = grid.x0 + inland + 60 * np.sin(2 * np.pi * ys / wavelength + phase) \
        + 25 * np.sin(2 * np.pi * ys / (wavelength * 0.3) + 3 * phase)
    west = grid.x0 - 300
    return Polygon([(west, top), *zip(xs, ys, strict=True), (west, bottom)])


def _gravel_bars(rng: np.random.Generator, river: Polygon) -> list[Polygon]:
    """Bare gravel bars on the river's banks: bare, flat, no change in TCVIS."""
    centre = river.exterior
    bars = []
    for distance in rng.uniform(0, centre.length, 14):
        point = centre.interpolate(distance)
        ahead = centre.interpolate(min(distance + 10, centre.length))
        angle = math.degrees(math.atan2(ahead.y - point.y, ahead.x - point.x))
        bar = affinity.rotate(affinity.scale(Point(0, 0).buffer(1, quad_segs=8),
                                             rng.uniform(35, 80), rng.uniform(10, 20)), angle)
        bars.append(affinity.translate(bar, point.x, point.y).difference(river))
    return [largest_polygon(b) for b in bars if not b.is_empty]


def _random_point(rng: np.random.Generator, area: Polygon, inset: float) -> tuple[float, float]:
    minx, miny, maxx, maxy = area.bounds
    return (rng.uniform(minx + inset, maxx - inset), rng.uniform(miny + inset, maxy - inset))


def _fill_region(world: World, index: int, region: Polygon, rng: np.random.Generator,
                 label_shapes: list[Shape] | None) -> None:
    side = region.bounds[2] - region.bounds[0]
    area_km2 = (side / 1000) ** 2
    # lakes of 40-350 m radius, merged where they touch
    lakes = []
    for _ in range(1 + rng.poisson(0.7 * area_km2)):
        radius = float(np.clip(rng.lognormal(np.log(110), 0.5), 40, side * 0.12))
        x, y = _random_point(rng, region, radius)
        lake = affinity.translate(lobate_polygon(rng, radius, rng.uniform(0.7, 1.4), 0.2), x, y)
        if (world.river is None or not lake.buffer(40).intersects(world.river)) and \
                (world.sea is None or not lake.buffer(60).intersects(world.sea)):
            lakes.append(lake)
    merged = shapely.union_all(lakes)
    world.lakes.extend(g for g in getattr(merged, "geoms", [merged]) if not g.is_empty)
    region_lakes = [lake for lake in world.lakes if lake.intersects(region)]

    # eroding lake shores: bare strip + strong TCVIS trend, but no slump
    for lake in region_lakes:
        if lake.area < 20_000 or rng.random() < 0.4:
            continue
        centre = lake.centroid
        angle = rng.uniform(0, 2 * np.pi)
        reach = 3 * math.sqrt(lake.area)
        wedge = Polygon([(centre.x, centre.y),
                         (centre.x + reach * math.cos(angle - 0.5), centre.y + reach * math.sin(angle - 0.5)),
                         (centre.x + reach * math.cos(angle + 0.5), centre.y + reach * math.sin(angle + 0.5))])
        arc = lake.exterior.intersection(wedge)
        if arc.is_empty:
            continue
        world.shore_strips.append(largest_polygon(arc.buffer(5).difference(lake)))
        world.shore_erosion.append(largest_polygon(arc.buffer(35).difference(lake)))

    water = Occupancy(world.water)
    taken = Occupancy(s.polygon for s in world.slumps)
    max_area = min(120_000.0, (side * 0.08) ** 2)
    candidates = [s for s in (label_shapes or []) if s.area_m2 <= max_area]
    n_slumps = 0 if index in world.rts_free else max(3, round(3.2 * area_km2))
    shores = region_lakes or []
    river_here = world.river.intersection(region) if world.river is not None else Polygon()
    placed = 0
    for _ in range(n_slumps * 40):
        if placed >= n_slumps:
            break
        on_river = (not river_here.is_empty) and (not shores or rng.random() < 0.3)
        if not on_river and not shores:
            break
        shape = (candidates[rng.integers(len(candidates))] if candidates
                 else procedural_shape(rng, max_area))
        edge = (world.river if on_river else shores[rng.integers(len(shores))]).exterior
        slump = _place_slump(world, index, rng, shape, edge, region, water, taken)
        if slump is not None:
            world.slumps.append(slump)
            taken.add(slump.polygon)
            placed += 1

    # small ponds, some sediment-laden and too small for 10 m land cover
    for _ in range(int((6 + rng.poisson(2)) * max(1.0, area_km2 / 8))):
        radius = float(rng.uniform(4, 22))
        pond = affinity.translate(lobate_polygon(rng, radius, 1.0, 0.25), *_random_point(rng, region, 30))
        if not (water.within(pond, 15) or taken.within(pond, 15)):
            world.ponds.append(pond)
            water.add(pond)

    # bare rock outcrops on the uplands: the main false-positive source in DARTS
    busy = Occupancy(water.geometries + taken.geometries)
    for _ in range(int(rng.integers(3, 7) * max(1.0, area_km2 / 8))):
        for _attempt in range(20):
            radius = float(rng.uniform(15, 60))
            outcrop = affinity.translate(lobate_polygon(rng, radius, rng.uniform(0.6, 1.6), 0.35),
                                         *_random_point(rng, region, radius + 10))
            if not busy.within(outcrop, 40):
                world.outcrops.append(outcrop)
                world.outcrop_heights.append(float(rng.uniform(1.5, 4.0)))
                busy.add(outcrop)
                break

    # ArcticDEM gaps, away from the slumps
    for _ in range(int(rng.integers(1, 3) * max(1.0, area_km2 / 8))):
        for _attempt in range(20):
            radius = float(rng.uniform(30, 80))
            gap = affinity.translate(lobate_polygon(rng, radius, 1.0, 0.3), *_random_point(rng, region, 0))
            if not taken.within(gap, 40):
                world.dem_gaps.append(gap)
                break


def _place_slump(world: World, region_index: int, rng: np.random.Generator, shape: Shape,
                 edge, region: Polygon, water: Occupancy, taken: Occupancy) -> Slump | None:
    """Put a slump on a shore: toe at the water's edge, headwall upslope (away from water)."""
    distance = rng.uniform(0, edge.length)
    point = edge.interpolate(distance)
    before = edge.interpolate((distance - 8) % edge.length)
    after = edge.interpolate((distance + 8) % edge.length)
    tx, ty = after.x - before.x, after.y - before.y
    norm = math.hypot(tx, ty)
    if norm == 0:
        return None
    nx, ny = -ty / norm, tx / norm
    probe = Point(point.x + 5 * nx, point.y + 5 * ny)
    if any(w.contains(probe) for w in water.near(probe)):
        nx, ny = -nx, -ny
    angle = math.degrees(math.atan2(ny, nx)) - 90 + rng.normal(0, 12)
    ux, uy = math.cos(math.radians(angle + 90)), math.sin(math.radians(angle + 90))
    polygon = affinity.rotate(shape.polygon, angle, origin=(0, 0))
    coords = np.asarray(polygon.exterior.coords)
    toe = (coords @ np.array([ux, uy])).min()
    shift = 2.0 - toe
    polygon = affinity.translate(polygon, point.x + ux * shift, point.y + uy * shift)
    if not region.buffer(-30).contains(polygon):
        return None
    if water.overlap_area(polygon) > 0.03 * polygon.area:
        return None
    if taken.within(polygon, 25):
        return None
    years = world.years
    start = years[0] - 10
    if len(years) > 1 and rng.random() < 0.15:
        start = int(rng.choice(years[1:]))  # initiated during the study period
    retreat = 0.0 if rng.random() < 0.1 else float(rng.uniform(3, 15))
    depth = float(np.clip(2.0 + 0.04 * math.sqrt(polygon.area), 3.0, 10.0))
    site_id = f"S{region_index + 1:02d}{len([s for s in world.slumps if s.region == region_index]) + 1:03d}"
    return Slump(site_id, region_index, polygon, (ux, uy), retreat, start, depth, shape.source,
                 shape.area_m2, years[-1])


def _scene(world: World, rng: np.random.Generator, region: int, offset: tuple[int, int],
           region_px: int, size: int, year: int, used_ids: set[str]) -> WorldScene:
    grid = world.grid
    col_off = offset[0] + int(rng.integers(0, region_px - size + 1))
    row_off = offset[1] + int(rng.integers(0, region_px - size + 1))
    footprint = grid.box(col_off, row_off, size, size)
    centre = footprint.centroid
    swath = affinity.rotate(affinity.scale(footprint, 1.08, 1.12), rng.uniform(7, 12),
                            origin=(centre.x + rng.uniform(-0.05, 0.05) * size * PIXEL_M, centre.y))
    swath = swath.intersection(footprint)
    while True:
        acquired = datetime(year, 7, 1, 19, 30, tzinfo=UTC) + timedelta(
            days=int(rng.integers(0, 55)), seconds=int(rng.integers(0, 7200)))
        satellite = SATELLITES[int(rng.integers(len(SATELLITES)))]
        scene_id = f"{acquired:%Y%m%d_%H%M%S}_{int(rng.integers(0, 100)):02d}_{satellite}"
        if scene_id not in used_ids:
            used_ids.add(scene_id)
            break
    side = size * PIXEL_M
    clouds, thin = [], []
    for _ in range(int(rng.choice([0, 0, 1, 1, 2, 3]))):
        radius = float(rng.uniform(0.03, 0.12) * side)
        cloud = affinity.translate(lobate_polygon(rng, radius, rng.uniform(0.6, 1.5), 0.3),
                                   *_random_point(rng, footprint, 0))
        (thin if rng.random() < 0.3 else clouds).append(cloud.intersection(swath))
    dx, dy = rng.uniform(-60, 60), rng.uniform(80, 220)  # sun in the south: shadows north
    shadows = [affinity.translate(c, dx, dy).intersection(swath) for c in clouds]
    snow = []
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(1, 5))):
            drift = lobate_polygon(rng, float(rng.uniform(12, 45)), rng.uniform(0.3, 0.6), 0.3)
            drift = affinity.rotate(drift, rng.uniform(0, 180))
            snow.append(affinity.translate(drift, *_random_point(rng, footprint, 50)).intersection(swath))
    heading = rng.uniform(0, 2 * np.pi)
    return WorldScene(
        scene_id=scene_id, region=region, year=year, acquired=acquired, satellite=satellite,
        col_off=col_off, row_off=row_off, size=size, swath=swath,
        clouds=[c for c in clouds if not c.is_empty], thin_clouds=[c for c in thin if not c.is_empty],
        shadows=[s for s in shadows if not s.is_empty], snow=[s for s in snow if not s.is_empty],
        haze_amplitude=float(rng.uniform(0.0, 0.015)),
        haze_direction=(math.cos(heading), math.sin(heading)),
        gain=tuple(float(g) for g in rng.normal(1.0, 0.03, 4)),
        salt=int(rng.integers(1, 2**31)),
        split="test" if region in world.test_regions else "train")
