"""Confounders: the landforms that fool slump mappers in the field (DARTS preprint,
Table 5: bare ground 64 % of its false positives, lakes 8 %, rivers 7 %, periglacial
landforms 4 %, sea 3 %, vegetation 2 %). Each shares most cues with a slump and differs in few:

| kind | anatomy class | looks like a slump in | differs in |
| --- | --- | --- | --- |
| scarp | bare ground | a bare scar, a headwall-like break, 40 % on lake shores | rock, 0.8 of the trend (40 %: none) |
| scree | bare ground | bare, on a slope | a bump, not a scar |
| pit | infrastructure | bare wet floor, a steep-walled depression, trend | rectangular, beside a road |
| pad | infrastructure | bare gravel | raised, rectangular |
| road | infrastructure | bare gravel | a line |
| cut_bank | river | bare, a steep bank at the water, trend | a strip along the river |
| bluff | sea | bare, a steep bank at the water, trend | a strip along the coast |
| turbid_pond | lake | the brown of a wet slump floor, some with a steep bank | water (low NIR) |
| ald | ALD | bare, on a slope, trend | long and thin, shallow |
| fire_scar | vegetation | low NDVI, greening-down trend | no relief, large |
| old_scar | old scar | the scar and its headwall | revegetated, greening-up trend |

Active-layer detachments are not slumps here: they are not in ``truth/rts.parquet``,
and a detection of one is a false positive of class ALD. DARTS maps "RTS/ALD
footprints" together; the anatomy shows how many of the false positives are ALDs, so a
user can count them either way.

Frequencies are per km² of region, scaled by ``--confounders`` (see :data:`HARD`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon, box

from .shapes import axis_extent, largest_polygon, lobate_polygon

# Anatomy classes of the truth (truth/anatomy.tif codes, as rts-validate --landcover-classes).
ANATOMY_CLASSES = ("vegetation", "bare ground", "lake", "river", "sea", "infrastructure", "ALD", "old scar",
                   "slump")
ANATOMY_CODE = {name: code for code, name in enumerate(ANATOMY_CLASSES, start=1)}

# kind: (anatomy class, relief profile, relief in metres (negative: a depression),
#        TCVIS trend (brightness, greenness, wetness) at full cover)
KINDS = {
    "scarp": ("bare ground", "headwall", (-1.5, -3.5), (32.0, -44.0, 38.0)),
    "scree": ("bare ground", "dome", (0.5, 1.5), (0.0, 0.0, 0.0)),
    "pit": ("infrastructure", "walls", (-2.0, -4.0), (30.0, -45.0, 35.0)),
    "pad": ("infrastructure", "walls", (0.6, 1.2), (25.0, -35.0, -5.0)),
    "road": ("infrastructure", "walls", (0.4, 0.8), (20.0, -30.0, -5.0)),
    "cut_bank": ("river", "headwall", (-2.0, -4.0), (22.0, -30.0, 35.0)),
    "bluff": ("sea", "headwall", (-3.0, -6.0), (25.0, -35.0, 30.0)),
    "turbid_pond": ("lake", "walls", (-0.5, -2.0), (0.0, 0.0, 0.0)),
    "ald": ("ALD", "headwall", (-0.3, -0.8), (15.0, -25.0, 20.0)),
    "fire_scar": ("vegetation", "none", (0.0, 0.0), (-25.0, -50.0, 10.0)),
    "old_scar": ("old scar", "headwall", (-2.0, -5.0), (-5.0, 25.0, -10.0)),
}

# A slump's TCVIS trend (brightness, greenness, wetness) at full cover (rts_synth.files).
SLUMP_TREND = (40.0, -55.0, 48.0)
# The share of scarps that keep no telling cue at 3 m: a slump's soil without rock and
# a slump's whole trend. In the field some bare ground cannot be told from a slump in
# the imagery alone; these make that part of the error irreducible, as it is there.
LOOKALIKE_SHARE = 0.4
# Look-alikes are as deep as slumps: their scarp relief (1.5-3.5 m) times this. Shallower,
# they kept a cue: one retrained model rejected them all, another did not.
LOOKALIKE_DEPTH_FACTOR = 2.5

# Per km² of region at rate 1: the hard demo world's mix (--confounders hard).
HARD = {"scarp": 4.5, "scree": 1.6, "pit": 0.3, "pad": 0.3, "road": 0.2, "cut_bank": 1.0, "bluff": 0.8,
        "turbid_pond": 1.6, "ald": 0.8, "fire_scar": 0.12, "old_scar": 0.8}


@dataclass
class Confounder:
    kind: str
    feature_id: str
    region: int
    polygon: Polygon
    relief_m: float  # negative: a depression
    upslope: tuple[float, float]  # unit vector: where a headwall faces
    trend_active: bool  # changed during the Landsat trend period (2000-2019)
    lookalike: bool = False  # a scarp with no telling cue left at 3 m (LOOKALIKE_SHARE)

    @property
    def anatomy_class(self) -> str:
        return KINDS[self.kind][0]

    @property
    def profile(self) -> str:
        return KINDS[self.kind][1]

    @property
    def trend(self) -> tuple[float, float, float]:
        if not self.trend_active:
            return (0.0, 0.0, 0.0)
        return SLUMP_TREND if self.lookalike else KINDS[self.kind][3]

    @property
    def toe_head(self) -> tuple[float, float]:
        return axis_extent(self.polygon, self.upslope)


def parse_rates(text: str) -> dict[str, float]:
    """``hard``, ``none``, or KIND=RATE pairs (per km² of region, or a factor of the
    hard mix with ``hard*F``); raises ValueError naming what is wrong."""
    text = text.strip()
    if text in ("", "none"):
        return {}
    if text == "hard" or text.startswith("hard*"):
        factor = float(text[5:]) if text.startswith("hard*") else 1.0
        if not (math.isfinite(factor) and factor >= 0):
            raise ValueError(f"a factor of the hard mix must be finite and >= 0, got {factor}")
        return {kind: rate * factor for kind, rate in HARD.items()}
    rates = {}
    for part in text.split(","):
        kind, _, value = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown confounder {kind!r} (known: {', '.join(KINDS)})")
        rate = float(value)
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"{kind}: a rate must be finite and >= 0, got {value!r}")
        rates[kind] = rate
    return rates


def place_confounders(rng: np.random.Generator, region_index: int, region: Polygon, rates: dict[str, float],
                      banks: dict[str, Polygon | None], busy, slumps, start_number: int) -> list[Confounder]:
    """The confounders of one region, in a fixed order of kinds so that a seed gives one
    world. ``busy`` (an Occupancy of water, slumps, outcrops and placed confounders) keeps
    them apart; a fire scar, large, only keeps away from the slumps (``slumps``) and
    takes the tundra under it, ponds and all. ``banks``: the water a bank kind lines
    (``cut_bank``: the river, ``bluff``: the sea; None where there is none)."""
    side = region.bounds[2] - region.bounds[0]
    area_km2 = (side / 1000) ** 2
    placed: list[Confounder] = []
    roads: list[Polygon] = []
    for kind in KINDS:
        rate = rates.get(kind, 0.0)
        if rate <= 0:
            continue
        for _ in range(int(rng.poisson(rate * area_km2))):
            for _attempt in range(30):
                polygon, upslope = _outline(kind, rng, region, banks.get(kind), roads)
                if polygon is None or polygon.is_empty or not region.buffer(-20).contains(polygon):
                    continue
                if kind == "fire_scar":
                    clash = slumps.within(polygon, 25.0)
                elif kind in banks:  # may touch the water: clear of everything else, not of the water
                    clash = slumps.within(polygon, 25.0) or busy.overlap_area(polygon) > 0.01 * polygon.area
                else:
                    clash = busy.within(polygon, 5.0 if kind == "road" else 25.0)
                if clash:
                    continue
                low, high = sorted(KINDS[kind][2])
                relief = float(rng.uniform(low, high)) if (low, high) != (0.0, 0.0) else 0.0
                trend_active = bool(rng.random() < 0.7)
                lookalike = kind == "scarp" and bool(rng.random() < LOOKALIKE_SHARE)
                if lookalike:  # a slump's depth too (3.75-8.75 m), so that no cue tells them apart
                    relief *= LOOKALIKE_DEPTH_FACTOR
                confounder = Confounder(kind, f"{kind}{start_number + len(placed) + 1}", region_index, polygon,
                                        relief, upslope, trend_active, lookalike)
                placed.append(confounder)
                if kind != "fire_scar":
                    busy.add(polygon)
                if kind == "road":
                    roads.append(polygon)
                break
    return placed


def _shore_frame(rng: np.random.Generator, water, edge):
    """A random point on ``edge`` (part of the water's outline), the unit tangent there
    and the unit normal pointing away from the water (upslope)."""
    distance = rng.uniform(0, edge.length)
    point, ahead = edge.interpolate(distance), edge.interpolate(min(distance + 5, edge.length))
    tx, ty = ahead.x - point.x, ahead.y - point.y
    norm = math.hypot(tx, ty) or 1.0
    nx, ny = -ty / norm, tx / norm
    if water.contains(shapely.Point(point.x + 4 * nx, point.y + 4 * ny)):
        nx, ny = -nx, -ny
    return point, (tx, ty), (nx, ny)


def _on_shore(rng: np.random.Generator, blob: Polygon, water, region: Polygon, radius: float):
    """``blob`` (centred on 0, 0) turned and moved onto the shore of ``water``, its toe
    at the water's edge; None or empty where the shore misses the region."""
    edge = water.boundary.intersection(region.buffer(-60))
    if edge.is_empty or edge.length == 0:
        return None, (0.0, 1.0)
    point, _tangent, (nx, ny) = _shore_frame(rng, water, edge)
    angle = math.degrees(math.atan2(ny, nx)) - 90
    placed = affinity.translate(affinity.rotate(blob, angle, origin=(0, 0)),
                                point.x + nx * 0.8 * radius, point.y + ny * 0.8 * radius)
    return largest_polygon(placed.difference(water)), (nx, ny)


def _outline(kind: str, rng: np.random.Generator, region: Polygon, water: Polygon | None, roads):
    """An outline of ``kind`` somewhere in the region, and its upslope direction
    (``water``: the river or sea a bank lines)."""
    minx, miny, maxx, maxy = region.bounds
    x, y = rng.uniform(minx + 60, maxx - 60), rng.uniform(miny + 60, maxy - 60)
    angle = rng.uniform(0, 360)
    upslope = (math.cos(math.radians(angle + 90)), math.sin(math.radians(angle + 90)))
    if kind in ("scarp", "old_scar"):  # slump-sized, arcuate at the headwall
        radius = float(np.clip(rng.lognormal(np.log(35), 0.5), 12, 110))
        blob = lobate_polygon(rng, radius, rng.uniform(1.0, 1.6), 0.25)
        if kind == "scarp" and water is not None and not water.is_empty and rng.random() < 0.4:
            # on a lake shore, where the slumps are, its headwall away from the water
            return _on_shore(rng, blob, water, region, radius)
        return affinity.translate(affinity.rotate(blob, angle, origin=(0, 0)), x, y), upslope
    if kind == "scree":  # a fan below a break, long down the slope
        blob = lobate_polygon(rng, float(rng.uniform(15, 45)), rng.uniform(1.6, 2.6), 0.3)
        return affinity.translate(affinity.rotate(blob, angle, origin=(0, 0)), x, y), upslope
    if kind == "ald":  # long, thin, shallow
        blob = lobate_polygon(rng, float(rng.uniform(6, 14)), rng.uniform(3.0, 6.0), 0.2)
        return affinity.translate(affinity.rotate(blob, angle, origin=(0, 0)), x, y), upslope
    if kind in ("pit", "pad"):  # rectangular, near a road where there is one
        if roads and rng.random() < 0.7:
            along = roads[int(rng.integers(len(roads)))].exterior
            point = along.interpolate(rng.uniform(0, along.length))
            x, y = point.x + rng.uniform(-60, 60), point.y + rng.uniform(-60, 60)
        width, height = rng.uniform(25, 90), rng.uniform(20, 70)
        rectangle = box(-width / 2, -height / 2, width / 2, height / 2)
        return affinity.translate(affinity.rotate(rectangle, angle, origin=(0, 0)), x, y), upslope
    if kind == "road":  # a gravel road of 6-10 m across the region, with a bend
        length = rng.uniform(400, 1200)
        bend = rng.uniform(-0.4, 0.4)
        points = [(0, 0), (length / 2, length * bend / 4), (length, 0)]
        line = affinity.translate(affinity.rotate(LineString(points), angle, origin=(0, 0)), x - length / 2, y)
        return line.buffer(rng.uniform(3, 5), cap_style="flat").intersection(region.buffer(-25)), upslope
    if kind in ("cut_bank", "bluff"):  # a bare bank on the water's edge, headwall away from the water
        if water is None or water.is_empty or not water.intersects(region):
            return None, upslope
        edge = water.exterior.intersection(region.buffer(-60))
        if edge.is_empty:
            return None, upslope
        point, (tx, ty), upslope = _shore_frame(rng, water, edge)
        length, width = rng.uniform(50, 180), rng.uniform(8, 20)
        strip = affinity.rotate(box(-length / 2, 0, length / 2, width), math.degrees(math.atan2(ty, tx)),
                                origin=(0, 0))
        return largest_polygon(affinity.translate(strip, point.x, point.y).difference(water)), upslope
    if kind == "turbid_pond":
        return affinity.translate(lobate_polygon(rng, float(rng.uniform(8, 30)), 1.0, 0.25), x, y), upslope
    if kind == "fire_scar":  # large and irregular
        blob = lobate_polygon(rng, float(rng.uniform(120, 300)), rng.uniform(0.7, 1.4), 0.35)
        return affinity.translate(blob, x, y), upslope
    raise ValueError(kind)
