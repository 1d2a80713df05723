"""Rasters of the world evaluated window by window, as pure functions of world pixel
position: the same ground pixel gets the same elevation and texture in every scene
and every window layout, and memory depends only on the window size.

Noise is of two kinds: smooth lattice noise (a small random grid, bilinearly
interpolated) and per-pixel hash noise (a counter-based generator keyed by the world
row and column), so no window needs to know about any other.
"""

from __future__ import annotations

import numpy as np
from rasterio import features
from scipy import ndimage
from shapely import STRtree
from shapely.geometry import Polygon

from .world import PIXEL_M, Grid, World, WorldScene

# Surface reflectance (blue, green, red, nir) of the surface types.
TUNDRA_SPARSE = np.array([0.036, 0.062, 0.058, 0.215])
TUNDRA_LUSH = np.array([0.026, 0.055, 0.036, 0.315])
WET_SEDGE = np.array([0.026, 0.046, 0.036, 0.170])
SLUMP_WET = np.array([0.058, 0.072, 0.083, 0.105])
SLUMP_DRY = np.array([0.092, 0.112, 0.128, 0.162])
ROCK = np.array([0.100, 0.126, 0.150, 0.198])
GRAVEL = np.array([0.112, 0.136, 0.156, 0.188])
SHORE_BARE = np.array([0.078, 0.098, 0.108, 0.150])
LAKE = np.array([0.044, 0.044, 0.030, 0.016])
POND_SEDIMENT = np.array([0.070, 0.102, 0.096, 0.062])
RIVER = np.array([0.060, 0.082, 0.072, 0.042])
SEA = np.array([0.052, 0.066, 0.050, 0.022])  # coastal water, a little sediment
TURBID = np.array([0.066, 0.084, 0.088, 0.094])  # sediment-laden water, as brown as a wet slump floor
BURN_FACTOR = np.array([0.90, 0.85, 1.05, 0.50])  # burned tundra: darker, and NIR most
SNOW = np.array([0.86, 0.85, 0.82, 0.72])
CLOUD = np.array([0.56, 0.56, 0.55, 0.58])

# Surface classes rasterised per window (higher code wins where shapes overlap).
TUNDRA, SHORE, ROCK_CLASS, GRAVEL_CLASS, POND, LAKE_CLASS, RIVER_CLASS, SEA_CLASS = range(8)


def hash_uniform(rows: np.ndarray, cols: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) noise keyed by (row, col, salt): splitmix64 of the position."""
    with np.errstate(over="ignore"):
        x = (rows.astype(np.uint64)[:, None] << np.uint64(32)) | cols.astype(np.uint64)[None, :]
        x = x + np.uint64((salt * 0x9E3779B97F4A7C15) % 2**64)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return ((x >> np.uint64(40)).astype(np.float32)) * np.float32(2.0**-24)


def hash_normal(rows: np.ndarray, cols: np.ndarray, salt: int) -> np.ndarray:
    """Approximately standard normal noise (sum of three uniforms)."""
    total = hash_uniform(rows, cols, salt) + hash_uniform(rows, cols, salt + 1) + \
        hash_uniform(rows, cols, salt + 2)
    return (total - 1.5) * 2.0


class LatticeNoise:
    """Smooth noise: a random lattice every ``spacing`` pixels, smoothed, and
    interpolated bilinearly at any world pixel. Unit standard deviation."""

    def __init__(self, grid: Grid, spacing: int, seed: tuple[int, ...]):
        rng = np.random.default_rng(seed)
        shape = (grid.height // spacing + 4, grid.width // spacing + 4)
        lattice = ndimage.gaussian_filter(rng.standard_normal(shape), 1.0, mode="wrap")
        self.lattice = (lattice / lattice.std()).astype(np.float32)
        self.spacing = spacing

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        r = (rows + 0.5) / self.spacing + 1
        c = (cols + 0.5) / self.spacing + 1
        r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
        wr, wc = (r - r0).astype(np.float32)[:, None], (c - c0).astype(np.float32)[None, :]
        lattice = self.lattice
        top = lattice[np.ix_(r0, c0)] * (1 - wc) + lattice[np.ix_(r0, c0 + 1)] * wc
        bottom = lattice[np.ix_(r0 + 1, c0)] * (1 - wc) + lattice[np.ix_(r0 + 1, c0 + 1)] * wc
        return top * (1 - wr) + bottom * wr


class Fields:
    """Evaluates the world's rasters over windows of the world grid."""

    def __init__(self, world: World):
        self.world = world
        grid = world.grid
        seed = world.seed
        self.relief = LatticeNoise(grid, 60, (seed, 10))
        self.hummocks = LatticeNoise(grid, 12, (seed, 11))
        self.vigour = LatticeNoise(grid, 30, (seed, 12))
        self.patches = LatticeNoise(grid, 6, (seed, 13))
        self.slump_texture = LatticeNoise(grid, 4, (seed, 14))
        self._trees = {}

    # -- rasterising geometry ------------------------------------------------------
    def _query(self, name: str, geometries, bounds):
        if name not in self._trees:
            self._trees[name] = STRtree(geometries) if geometries else None
        tree = self._trees[name]
        if tree is None:
            return []
        from shapely.geometry import box

        return list(tree.query(box(*bounds)))

    def burn(self, name: str, geometries, values, window: tuple[int, int, int, int],
             dtype="uint8", fill=0) -> np.ndarray:
        """Rasterise the geometries touching a window (col, row, width, height) of the
        world grid; ``values`` gives each geometry's burn value (later ones win)."""
        col, row, width, height = window
        bounds = self.world.grid.box(col, row, width, height).bounds
        hits = sorted(self._query(name, geometries, bounds))
        shapes = [(geometries[i], values[i]) for i in hits if not geometries[i].is_empty]
        if not shapes:
            return np.full((height, width), fill, dtype=dtype)
        return features.rasterize(shapes, out_shape=(height, width), fill=fill, dtype=dtype,
                                  transform=self.world.grid.window_transform(col, row))

    def mask(self, name: str, geometries, window) -> np.ndarray:
        return self.burn(name, geometries, [1] * len(geometries), window).astype(bool)

    # -- elevation -----------------------------------------------------------------
    def elevation(self, window: tuple[int, int, int, int], year: int | None = None) -> np.ndarray:
        """Terrain in metres: rolling relief, basins rising away from lakes and the
        river, rock outcrop domes, and each slump's scar depression at its final extent
        (a steep headwall upslope, shallowing to the toe); with ``year``, the scars as
        they were in that year, deepening year by year (dated DEMs, --dems)."""
        world = self.world
        margin = 60  # px: lake/valley slopes reach 180 m
        col, row, width, height = window
        big = (col - margin, row - margin, width + 2 * margin, height + 2 * margin)
        rows = np.arange(row, row + height)
        cols = np.arange(col, col + width)
        inner = (slice(margin, margin + height), slice(margin, margin + width))
        z = 30 + 9.0 * self.relief(rows, cols) + 0.8 * self.hummocks(rows, cols)

        lakes = self.mask("lakes", world.lakes, big)
        far = np.full((height, width), 1e4)
        d_lake = ndimage.distance_transform_edt(~lakes)[inner] * PIXEL_M if lakes.any() else far
        z += 4.0 * (1 - np.exp(-d_lake / 60.0)) - 1.5 * lakes[inner]
        river = self.mask("river", [world.river], big)
        d_river = ndimage.distance_transform_edt(~river)[inner] * PIXEL_M if river.any() else far
        z += 6.0 * (1 - np.exp(-d_river / 80.0)) - 2.0 * river[inner]
        if world.sea is not None:  # land rises from the coast; the sea lies below
            sea = self.mask("sea", [world.sea], big)
            d_sea = ndimage.distance_transform_edt(~sea)[inner] * PIXEL_M if sea.any() else far
            z += 8.0 * (1 - np.exp(-d_sea / 50.0)) - 3.0 * sea[inner]

        small = (col - 3, row - 3, width + 6, height + 6)
        core = (slice(3, 3 + height), slice(3, 3 + width))
        ids = self.burn("outcrops", world.outcrops, list(range(1, len(world.outcrops) + 1)), small,
                        dtype="int32")
        if ids.any():
            depth_in = ndimage.distance_transform_edt(ids > 0)[core] * PIXEL_M
            heights = np.concatenate([[0.0], world.outcrop_heights])
            z += heights[ids[core]] * np.clip(depth_in / 12.0, 0, 1) ** 0.7
        z -= self.scar_depth(small, core, year)
        z += self.confounder_relief(small, core)
        z += 0.08 * hash_normal(rows, cols, world.seed * 7 + 3)
        return z.astype(np.float32)

    def scar_depth(self, small, core, year: int | None = None) -> np.ndarray:
        """Depth (m, >= 0) of the slump scars at their final extent, or in ``year``
        (dated DEMs: outlines and depths of that year)."""
        world = self.world
        slumps = world.slumps
        name, outlines = "slumps_final", [s.polygon for s in slumps]
        depths = [s.depth_m for s in slumps]
        if year is not None:
            name = f"slumps_{year}"
            outlines = [f if f is not None else Polygon() for f in world.footprints(year)]
            depths = [s.depth_in(year) for s in slumps]
        elif world.dem_year is not None:  # an older DEM: the scars as they were that year
            name = "slumps_dem"
            outlines = [f if f is not None else Polygon() for f in (s.footprint(world.dem_year) for s in slumps)]
        ids = self.burn(name, outlines, list(range(1, len(slumps) + 1)), small, dtype="int32")[core]
        height, width = ids.shape
        if not ids.any():
            return np.zeros((height, width), np.float32)
        inside = self.burn(name, outlines, [1] * len(slumps), small) > 0
        edge = np.clip(ndimage.distance_transform_edt(inside)[core] / 1.0, 0, 1)
        t = self._along(ids, small[0] + 3, small[1] + 3)
        depth = np.concatenate([[0.0], depths])
        return (depth[ids] * (0.5 + 0.5 * np.clip(t, 0, 1)) * edge).astype(np.float32)

    def confounder_relief(self, small, core) -> np.ndarray:
        """Elevation change (m) of the confounders: scars with a headwall (deepest
        upslope), steep-walled pits and raised pads, domes of scree."""
        shaped = [c for c in self.world.confounders if c.relief_m != 0.0]
        ids = self.burn("confounders_relief", [c.polygon for c in shaped], list(range(1, len(shaped) + 1)), small,
                        dtype="int32")
        height, width = ids[core].shape
        if not ids.any():
            return np.zeros((height, width), np.float32)
        depth_in = ndimage.distance_transform_edt(ids > 0)[core] * PIXEL_M
        ids = ids[core]
        relief = np.concatenate([[0.0], [c.relief_m for c in shaped]])[ids]
        profile = np.array(["none"] + [c.profile for c in shaped])[ids]
        t = np.clip(self._along(ids, small[0] + 3, small[1] + 3, shaped), 0, 1)
        shape = np.where(profile == "headwall", (0.5 + 0.5 * t) * np.clip(depth_in / 3.0, 0, 1),
                         np.where(profile == "dome", np.clip(depth_in / 12.0, 0, 1) ** 0.7,
                                  np.clip(depth_in / 3.0, 0, 1)))
        return (relief * shape).astype(np.float32)

    def _along(self, ids: np.ndarray, col: int, row: int, features=None) -> np.ndarray:
        """Position along each pixel's feature axis (slumps, or ``features`` with an
        ``upslope`` and ``toe_head``): 0 at the toe, 1 at the headwall."""
        features = self.world.slumps if features is None else features
        xs, ys = self.world.grid.centres(col, row, ids.shape[1], ids.shape[0])
        ux = np.concatenate([[0.0], [f.upslope[0] for f in features]])
        uy = np.concatenate([[0.0], [f.upslope[1] for f in features]])
        ranges = np.array([(0.0, 1.0)] + [f.toe_head for f in features])
        s = xs[None, :] * ux[ids] + ys[:, None] * uy[ids]
        return (s - ranges[ids, 0]) / np.maximum(ranges[ids, 1] - ranges[ids, 0], 1.0)

    # -- surface reflectance -------------------------------------------------------
    def ground(self, window, year: int) -> np.ndarray:
        """Cloud-free surface reflectance (4, rows, cols) in ``year``."""
        world = self.world
        col, row, width, height = window
        rows = np.arange(row, row + height)
        cols = np.arange(col, col + width)
        margin = 12
        big = (col - margin, row - margin, width + 2 * margin, height + 2 * margin)
        inner = (slice(margin, margin + height), slice(margin, margin + width))

        vigour = np.clip(0.55 + 0.25 * self.vigour(rows, cols) + 0.12 * self.patches(rows, cols), 0, 1)
        refl = TUNDRA_SPARSE[:, None, None] * (1 - vigour) + TUNDRA_LUSH[:, None, None] * vigour
        water = self.mask("water", world.water, big)
        if water.any():
            wet = np.exp(-ndimage.distance_transform_edt(~water)[inner] * PIXEL_M / 25.0)
            refl = refl * (1 - 0.6 * wet) + WET_SEDGE[:, None, None] * (0.6 * wet)
        texture = 1 + 0.05 * hash_normal(rows, cols, world.seed * 7 + 1) + 0.04 * self.hummocks(rows, cols)
        refl = refl * texture

        classes = self._classes(window)
        for code, spectrum, grain in ((SHORE, SHORE_BARE, 0.08), (ROCK_CLASS, ROCK, 0.10),
                                      (GRAVEL_CLASS, GRAVEL, 0.08), (POND, POND_SEDIMENT, 0.03),
                                      (LAKE_CLASS, LAKE, 0.02), (RIVER_CLASS, RIVER, 0.03), (SEA_CLASS, SEA, 0.03)):
            where = classes == code
            if where.any():
                local = spectrum[:, None] * (1 + grain * hash_normal(rows, cols, code)[where])[None, :]
                refl[:, where] = local
        self._paint_confounders(refl, window, rows, cols, classes == TUNDRA)
        self._paint_slumps(refl, window, year, rows, cols)
        return refl.astype(np.float32)

    def _classes(self, window) -> np.ndarray:
        world = self.world
        layers = [("shore", world.shore_strips, SHORE), ("outcrops", world.outcrops, ROCK_CLASS),
                  ("gravel", world.gravel_bars, GRAVEL_CLASS), ("ponds", world.ponds, POND),
                  ("lakes", world.lakes, LAKE_CLASS), ("river", [world.river], RIVER_CLASS)]
        if world.sea is not None:
            layers.append(("sea", [world.sea], SEA_CLASS))
        classes = np.zeros((window[3], window[2]), np.uint8)
        for name, geometries, code in layers:
            classes[self.mask(name, geometries, window)] = code
        return classes

    def _paint_confounders(self, refl: np.ndarray, window, rows, cols, tundra: np.ndarray) -> None:
        """Each confounder in the colours that make it one: bare soil, gravel, turbid
        water, burned or revegetated tundra (see rts_synth.confounders). A fire burns
        the tundra only (``tundra``), not the water or bare ground it spreads over."""
        confounders = self.world.confounders
        if not confounders:
            return
        ids = self.burn("confounders", [c.polygon for c in confounders], list(range(1, len(confounders) + 1)),
                        window, dtype="int32")
        if not ids.any():
            return
        kinds = np.array(["none"] + [c.kind for c in confounders])[ids]
        kinds[(kinds == "fire_scar") & ~tundra] = "none"
        grain = 1 + 0.07 * hash_normal(rows, cols, 4099)
        mottle = np.clip(0.5 + 0.5 * self.slump_texture(rows, cols), 0, 1)

        def paint(kind_names, colour):
            where = np.isin(kinds, kind_names)
            if where.any():
                refl[:, where] = colour(where) * grain[where][None, :]

        paint(["fire_scar"], lambda w: refl[:, w] * BURN_FACTOR[:, None])
        paint(["old_scar"], lambda w: 0.55 * refl[:, w] + 0.45 * (
            TUNDRA_SPARSE[:, None] * (1 - 0.4 * mottle[w]) + SLUMP_DRY[:, None] * 0.4 * mottle[w]))
        # a scarp is soil with a little rock in it (none in a look-alike), drier or wetter in
        # patches, as a slump floor
        rock = 0.3 * mottle * ~np.array([False] + [c.lookalike for c in confounders])[ids]
        paint(["scarp"], lambda w: ROCK[:, None] * rock[w] + (1 - rock[w]) * (
            SLUMP_WET[:, None] * (1 - mottle[w]) + SLUMP_DRY[:, None] * mottle[w]))
        paint(["scree"], lambda w: ROCK[:, None] * mottle[w] + SLUMP_DRY[:, None] * (1 - mottle[w]))
        paint(["pit"], lambda w: SLUMP_WET[:, None] * (1 - 0.5 * mottle[w]) + SLUMP_DRY[:, None] * 0.5 * mottle[w])
        paint(["pad", "road"], lambda w: GRAVEL[:, None] * np.ones(int(w.sum()))[None, :])
        paint(["cut_bank", "bluff"], lambda w: SHORE_BARE[:, None] * (1 - mottle[w]) + SLUMP_DRY[:, None] * mottle[w])
        paint(["ald"], lambda w: 0.5 * refl[:, w] + 0.5 * SLUMP_DRY[:, None])
        paint(["turbid_pond"], lambda w: TURBID[:, None] * np.ones(int(w.sum()))[None, :])

    def _paint_slumps(self, refl: np.ndarray, window, year: int, rows, cols) -> None:
        """Bare, wet scar soil: drier and brighter near the headwall, wet debris at the
        toe, partly vegetated margins, a few remnant vegetation patches, and on the
        slumps that are growing over (``Slump.regrowth``) that share of vegetation."""
        slumps = self.world.slumps
        col, row, width, height = window
        footprints = self.world.footprints(year)
        geometries = [f if f is not None else slumps[0].polygon.centroid.buffer(0) for f in footprints]
        values = [i + 1 if f is not None else 0 for i, f in enumerate(footprints)]
        small = (col - 3, row - 3, width + 6, height + 6)
        core = (slice(3, 3 + height), slice(3, 3 + width))
        burned = self.burn(f"slumps_{year}", geometries, values, small, dtype="int32")
        ids = burned[core]
        inside = ids > 0
        if not inside.any():
            return
        t = np.clip(self._along(ids, col, row), 0, 1)[inside]
        texture = self.slump_texture(rows, cols)[inside]
        dryness = np.clip(0.25 + 0.6 * t + 0.2 * texture, 0, 1)
        bare = SLUMP_WET[:, None] * (1 - dryness) + SLUMP_DRY[:, None] * dryness
        bare = bare * (1 + 0.06 * hash_normal(rows, cols, 977)[inside])[None, :]
        margin = np.clip(ndimage.distance_transform_edt(burned > 0)[core][inside] / 1.5, 0, 1)
        remnant = 0.3 * (self.patches(rows, cols)[inside] > 1.8)
        regrowth = np.concatenate([[0.0], [s.regrowth for s in slumps]])[ids[inside]]
        cover = np.clip((1 - margin) * 0.3 + remnant + regrowth, 0, 1)
        refl[:, inside] = bare * (1 - cover) + refl[:, inside] * cover


def shading(fields: Fields, world_window, sun: tuple[float, float]) -> np.ndarray:
    """Terrain shading under a sun (azimuth, elevation in degrees): the cosine of the
    incidence angle on each pixel's slope over that on flat ground (Lambert), so a slope
    facing the sun is brighter and one facing away darker, differently in each scene."""
    col, row, width, height = world_window
    margin = 12
    elevation = fields.elevation((col - margin, row - margin, width + 2 * margin, height + 2 * margin))
    # smoothed: the relief is interpolated bilinearly, whose slopes jump at lattice lines
    dz_dy, dz_dx = np.gradient(ndimage.gaussian_filter(elevation, 4.0), PIXEL_M)
    inner = (slice(margin, margin + height), slice(margin, margin + width))
    dz_dx, dz_dy = dz_dx[inner], -dz_dy[inner]  # rows run south: y grows upward
    azimuth, altitude = np.radians(sun[0]), np.radians(sun[1])
    sun_vector = np.array([np.sin(azimuth) * np.cos(altitude), np.cos(azimuth) * np.cos(altitude), np.sin(altitude)])
    normal = np.stack([-dz_dx, -dz_dy, np.ones_like(dz_dx)])
    normal /= np.linalg.norm(normal, axis=0)
    incidence = np.tensordot(sun_vector, normal, axes=1)
    return np.clip(incidence / np.sin(altitude), 0.2, 2.0).astype(np.float32)


def scene_window(fields: Fields, scene: WorldScene, window) -> tuple[np.ndarray, np.ndarray]:
    """Digital numbers (4 bands, uint16, SR x 10000, 0 outside the swath) and udm2
    (8 bands, uint8) of a window of a scene; ``window`` is (col, row, width, height)
    in scene pixels."""
    world = fields.world
    col, row, width, height = window
    wcol, wrow = scene.col_off + col, scene.row_off + row
    world_window = (wcol, wrow, width, height)
    rows = np.arange(wrow, wrow + height)
    cols = np.arange(wcol, wcol + width)
    refl = fields.ground(world_window, scene.year)

    def scene_mask(geometries, name):
        return fields.mask(f"{scene.scene_id}_{name}", geometries, world_window) if geometries \
            else np.zeros((height, width), bool)

    margin = 9
    big = (wcol - margin, wrow - margin, width + 2 * margin, height + 2 * margin)
    inner = (slice(margin, margin + height), slice(margin, margin + width))

    def soft(geometries, name, sigma):
        if not geometries:
            return np.zeros((height, width), np.float32)
        hard = fields.mask(f"{scene.scene_id}_{name}", geometries, big).astype(np.float32)
        return ndimage.gaussian_filter(hard, sigma)[inner]

    snow = scene_mask(scene.snow, "snow")
    refl[:, snow] = SNOW[:, None] * (1 + 0.02 * hash_normal(rows, cols, 5)[snow])[None, :]
    shadow = soft(scene.shadows, "shadow", 2.0)
    refl *= 1 - 0.62 * shadow[None]
    xs, ys = world.grid.centres(wcol, wrow, width, height)
    hx, hy = scene.haze_direction
    ramp = (xs[None, :] - xs.mean()) * hx + (ys[:, None] - ys.mean()) * hy
    haze = scene.haze_amplitude * np.clip(0.5 + ramp / (scene.size * 3.0), 0, 1)
    refl += haze[None] * np.array([1.0, 0.7, 0.5, 0.3])[:, None, None]
    cloud_texture = 0.9 + 0.1 * fields.hummocks(rows, cols)
    for geometries, name, opacity in ((scene.thin_clouds, "thin", 0.45), (scene.clouds, "cloud", 0.97)):
        alpha = soft(geometries, name, 3.0) * opacity
        if alpha.any():
            refl = refl * (1 - alpha[None]) + CLOUD[:, None, None] * cloud_texture[None] * alpha[None]
    if scene.sun is not None:
        refl *= shading(fields, world_window, scene.sun)[None]
    refl *= np.asarray(scene.gain, np.float32)[:, None, None]
    refl += np.asarray(scene.offset, np.float32)[:, None, None]
    refl += 0.003 * np.stack([hash_normal(rows, cols, scene.salt + 10 * b) for b in range(4)])
    in_swath = scene_mask([scene.swath], "swath")
    dn = np.clip(np.round(refl * 10000), 1, 65535).astype(np.uint16)
    dn[:, ~in_swath] = 0

    udm2 = np.zeros((8, height, width), np.uint8)
    cloud = scene_mask(scene.clouds, "cloud")
    heavy = scene_mask(scene.thin_clouds, "thin") & ~cloud
    shadow_flag = scene_mask(scene.shadows, "shadow") & ~cloud & ~heavy
    snow_flag = snow & ~cloud & ~heavy & ~shadow_flag
    light = scene_mask([scene.haze_fringe], "fringe") & ~cloud & ~heavy & ~shadow_flag & ~snow_flag
    clear = ~(cloud | heavy | shadow_flag | snow_flag | light)
    for band, flag in ((0, clear), (1, snow_flag), (2, shadow_flag), (3, light), (4, heavy), (5, cloud)):
        udm2[band] = flag & in_swath
    udm2[6] = np.where(in_swath, np.where(clear, 92, 45), 0)
    udm2[7] = np.where(in_swath, 0, 1)  # unusable: outside the footprint (blackfill)
    return dn, udm2
