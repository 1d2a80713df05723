"""rts-synth's confounders (#31): landforms that share a slump's cues but its telling
ones, RTS-free regions, regions held apart, and the anatomy class of every feature."""

import geopandas
import numpy as np
import pytest
import rasterio
from rasterio import features

from rts_synth.confounders import ANATOMY_CODE, HARD, KINDS, parse_rates
from rts_synth.fields import Fields, shading
from rts_synth.world import RegionError, build_world
from tests.conftest import run_script

YEARS = [2021, 2022, 2023]


@pytest.fixture(scope="module")
def hard_world():
    return build_world(7, 24, 768, YEARS, None, parse_rates("hard"), rts_free=(2, 4), test_regions=2)


def test_rates_parse_and_bad_ones_say_why():
    assert parse_rates("none") == {} and parse_rates("hard") == HARD
    assert parse_rates("hard*0.5")["scarp"] == pytest.approx(HARD["scarp"] / 2)
    assert parse_rates("scarp=2, ald=0.5") == {"scarp": 2.0, "ald": 0.5}
    for bad, why in (("dune=1", "unknown confounder 'dune'"), ("scarp=-1", "finite and >= 0"),
                     ("scarp=nan", "finite and >= 0"), ("hard*-2", "finite and >= 0")):
        with pytest.raises(ValueError, match=why):
            parse_rates(bad)


def test_the_classic_world_has_none_and_rts_free_regions_have_no_slump(hard_world):
    classic = build_world(7, 24, 384, YEARS)
    assert classic.confounders == [] and classic.test_regions == {3}
    world = hard_world
    assert {c.kind for c in world.confounders} == set(KINDS)
    assert world.test_regions == {2, 3} and world.rts_free == {1, 3}
    regions_with_slumps = {s.region for s in world.slumps}
    assert regions_with_slumps == {0, 2}  # one RTS-free region in training, one held apart
    assert {c.region for c in world.confounders} == {0, 1, 2, 3}  # confounders everywhere
    splits = {(scene.region, scene.split) for scene in world.scenes}
    assert splits == {(0, "train"), (1, "train"), (2, "test"), (3, "test")}
    # no confounder overlaps a slump: the truth stays exact
    slumps = geopandas.GeoSeries([s.polygon for s in world.slumps])
    for confounder in world.confounders:
        assert not slumps.intersects(confounder.polygon.buffer(-1)).any(), confounder.feature_id
    with pytest.raises(RegionError, match="no region 5"):
        build_world(7, 24, 384, YEARS, rts_free=(5,))


def test_each_confounder_shows_the_cues_it_shares_with_slumps(hard_world):
    """Bare kinds are as bare as slumps (NDVI), scars and pits are depressions, turbid
    ponds are as brown as a wet slump floor in the visible bands, fire scars lower NDVI."""
    world = hard_world
    fields = Fields(world)
    grid = world.grid

    def window_of(polygon, pad=20):
        minx, miny, maxx, maxy = polygon.bounds
        col = int((minx - grid.x0) / grid.pixel) - pad
        row = int((grid.y0 - maxy) / grid.pixel) - pad
        return (col, row, int((maxx - minx) / grid.pixel) + 2 * pad, int((maxy - miny) / grid.pixel) + 2 * pad)

    def inside(polygon, window):
        col, row, width, height = window
        return features.rasterize([polygon], out_shape=(height, width),
                                  transform=grid.window_transform(col, row)).astype(bool)

    def ndvi(refl):
        return (refl[3] - refl[2]) / (refl[3] + refl[2])

    slump = max(world.slumps, key=lambda s: s.polygon.area)
    window = window_of(slump.polygon)
    slump_ndvi = float(np.median(ndvi(fields.ground(window, YEARS[-1]))[inside(slump.polygon, window)]))
    seen = set()
    for confounder in sorted(world.confounders, key=lambda c: -c.polygon.area):
        if confounder.kind in seen or confounder.polygon.area < 400:
            continue
        seen.add(confounder.kind)
        window = window_of(confounder.polygon)
        mask = inside(confounder.polygon, window)
        if mask.sum() < 20:
            continue
        refl = fields.ground(window, YEARS[-1])
        elevation = fields.elevation(window)
        ring = inside(confounder.polygon.buffer(15), window) & ~inside(confounder.polygon.buffer(3), window)
        inner_ndvi, ring_ndvi = float(np.median(ndvi(refl)[mask])), float(np.median(ndvi(refl)[ring]))
        if confounder.kind in ("scarp", "scree", "pit", "cut_bank", "bluff"):
            assert abs(inner_ndvi - slump_ndvi) < 0.15, (confounder.kind, inner_ndvi, slump_ndvi)
        if confounder.kind in ("scarp", "pit", "old_scar"):  # a depression, like a slump's scar
            assert np.median(elevation[mask]) < np.median(elevation[ring]) - 0.5, confounder.kind
        if confounder.kind == "pad":
            assert np.median(elevation[mask]) > np.median(elevation[ring]), confounder.kind
        if confounder.kind == "fire_scar":
            assert inner_ndvi < ring_ndvi - 0.1
        if confounder.kind == "turbid_pond":
            assert refl[3][mask].mean() < 0.1 and abs(refl[2][mask].mean() - 0.083) < 0.02
    assert {"scarp", "pit", "fire_scar", "turbid_pond", "old_scar"} <= seen


def test_the_truth_names_each_confounders_class(tmp_path):
    out = tmp_path / "world"
    done = run_script("rts-synth", "-q", "-o", out, "--scenes", "8", "--size", "256", "--years", "2022,2023",
                      "--confounders", "scarp=4,pit=2,turbid_pond=4,fire_scar=0.5,ald=2,old_scar=2",
                      "--rts-free-regions", "2", "--seed", "2")
    assert done.returncode == 0, done.stderr
    truth = geopandas.read_parquet(out / "truth" / "features.parquet")
    found = truth[truth["kind"].isin(KINDS)]
    assert len(found) and (found["anatomy_class"] == found["kind"].map(lambda k: KINDS[k][0])).all()
    assert set(truth.loc[truth["kind"] == "slump", "region"]) == {1}
    legend = (out / "truth" / "anatomy_classes.txt").read_text().strip()
    assert legend.startswith("1=vegetation,2=bare ground") and "9=slump" in legend
    with rasterio.open(out / "truth" / "anatomy.tif") as dataset:
        codes = dataset.read(1)
        transform = dataset.transform
        assert dataset.tags()["CLASSES"] == legend
    for _, row in found[found["kind"] != "fire_scar"].iterrows():
        burned = features.rasterize([row.geometry.buffer(-4)], out_shape=codes.shape, transform=transform).astype(bool)
        if burned.any():
            assert np.bincount(codes[burned]).argmax() == ANATOMY_CODE[row["anatomy_class"]], row["feature_id"]
    bad = run_script("rts-synth", "-q", "-o", tmp_path / "bad", "--scenes", "4", "--confounders", "dune=1")
    assert bad.returncode == 2 and "unknown confounder 'dune'" in bad.stderr
    bad = run_script("rts-synth", "-q", "-o", tmp_path / "bad", "--scenes", "4", "--rts-free-regions", "9")
    assert bad.returncode == 2 and "no region 9" in bad.stderr


def test_input_errors_change_the_inputs_not_the_world():
    clean = build_world(5, 12, 512, YEARS)
    world = build_world(5, 12, 512, YEARS, input_errors=True)
    # the same slumps and scenes: the errors come from their own random stream
    assert [s.polygon.wkb for s in world.slumps] == [s.polygon.wkb for s in clean.slumps]
    assert [s.scene_id for s in world.scenes] == [s.scene_id for s in clean.scenes]
    assert clean.dem_shift_m == (0.0, 0.0) and clean.dem_year is None
    assert 2.0 <= np.hypot(*world.dem_shift_m) <= 6.0 and world.dem_year == YEARS[0] - 1
    for scene, plain in zip(world.scenes, clean.scenes, strict=True):
        assert scene.sun is not None and plain.sun is None and plain.offset == (0.0, 0.0, 0.0, 0.0)
        assert scene.haze_amplitude >= plain.haze_amplitude
        if scene.satellite.startswith("10"):  # Dove Classic reads NIR high and red low against SuperDove
            assert scene.gain[3] / plain.gain[3] > 1.0 > scene.gain[2] / plain.gain[2] - 0.05
    # the DEM is older than the scenes: a slump that started later has no scar in it, and
    # a growing one a smaller scar than its final extent
    fields, clean_fields = Fields(world), Fields(clean)
    grid = world.grid
    for slump in world.slumps:
        minx, miny, maxx, maxy = slump.polygon.bounds
        col, row = int((minx - grid.x0) / grid.pixel) - 8, int((grid.y0 - maxy) / grid.pixel) - 8
        window = (col, row, int((maxx - minx) / grid.pixel) + 16, int((maxy - miny) / grid.pixel) + 16)
        small = (window[0] - 3, window[1] - 3, window[2] + 6, window[3] + 6)
        core = (slice(3, 3 + window[3]), slice(3, 3 + window[2]))
        old, final = fields.scar_depth(small, core), clean_fields.scar_depth(small, core)
        if slump.start_year > YEARS[0] - 1:
            assert not old.any() and final.any()
        elif slump.retreat_m_per_yr > 3:
            assert (old > 0).sum() < (final > 0).sum()


def test_terrain_shading_brightens_slopes_facing_the_sun():
    world = build_world(5, 12, 512, YEARS, input_errors=True)
    fields = Fields(world)
    window = (300, 300, 200, 200)
    elevation = fields.elevation(window)
    shade_south = shading(fields, window, (180.0, 30.0))
    shade_north = shading(fields, window, (0.0, 30.0))
    assert 0.9 < float(shade_south.mean()) < 1.1 and shade_south.std() > 0.02
    dz_dy = -np.gradient(elevation, axis=0)  # elevation gained northwards
    facing_south = dz_dy > np.percentile(np.abs(dz_dy), 60)  # ground falling to the south
    assert shade_south[facing_south].mean() > shade_north[facing_south].mean()


def test_the_sea_has_bluffs_on_its_coast_and_the_classic_world_has_no_sea(hard_world):
    """The hard mix brings a sea on the west with eroding bluffs (anatomy class sea):
    low NIR water below the land, bare banks at its edge with a trend."""
    assert build_world(7, 24, 384, YEARS).sea is None
    world = hard_world
    assert world.sea is not None and world.sea in world.water
    bluffs = [c for c in world.confounders if c.kind == "bluff"]
    assert bluffs and all(c.anatomy_class == "sea" for c in bluffs)
    assert all(c.polygon.distance(world.sea) < 1.0 and c.polygon.intersection(world.sea).area < 1.0
               for c in bluffs)
    assert {c.region for c in bluffs} <= {0, 2}  # the western regions
    assert not any(s.polygon.intersection(world.sea).area > 0.03 * s.polygon.area for s in world.slumps)
    fields = Fields(world)
    grid = world.grid
    bluff = max(bluffs, key=lambda c: c.polygon.area)
    minx, miny, maxx, maxy = bluff.polygon.buffer(60).bounds
    window = (int((minx - grid.x0) / grid.pixel), int((grid.y0 - maxy) / grid.pixel),
              int((maxx - minx) / grid.pixel), int((maxy - miny) / grid.pixel))
    transform = grid.window_transform(window[0], window[1])
    sea = features.rasterize([world.sea], out_shape=(window[3], window[2]), transform=transform).astype(bool)
    bank = features.rasterize([bluff.polygon.buffer(-2)], out_shape=sea.shape, transform=transform).astype(bool)
    refl, elevation = fields.ground(window, YEARS[-1]), fields.elevation(window)
    assert sea.any() and bank.any() and (~sea & ~bank).any()
    assert refl[3][sea].mean() < 0.05 < refl[3][bank].mean()
    assert np.median(elevation[sea]) < np.median(elevation[~sea & ~bank]) - 2


def test_revegetated_slumps_are_fainter_and_keep_their_outline():
    bare = build_world(3, 12, 512, YEARS, None, parse_rates("hard"))
    grown = build_world(3, 12, 512, YEARS, None, parse_rates("hard"), revegetated=0.5)
    assert [s.polygon.wkb for s in grown.slumps] == [s.polygon.wkb for s in bare.slumps]
    regrowth = np.array([s.regrowth for s in grown.slumps])
    assert 0.25 < (regrowth > 0).mean() < 0.75 and ((regrowth == 0) | ((regrowth >= 0.2) & (regrowth <= 0.45))).all()
    assert all(s.regrowth == 0 for s in bare.slumps)
    slump_index = max((i for i, s in enumerate(grown.slumps) if s.regrowth > 0),
                      key=lambda i: grown.slumps[i].polygon.area)
    polygon = grown.slumps[slump_index].polygon
    grid = grown.grid
    minx, miny, maxx, maxy = polygon.bounds
    window = (int((minx - grid.x0) / grid.pixel), int((grid.y0 - maxy) / grid.pixel),
              int((maxx - minx) / grid.pixel) + 1, int((maxy - miny) / grid.pixel) + 1)
    inside = features.rasterize([polygon.buffer(-3)], out_shape=(window[3], window[2]),
                                transform=grid.window_transform(window[0], window[1])).astype(bool)

    def ndvi(world):
        refl = Fields(world).ground(window, YEARS[-1])
        return float(np.median(((refl[3] - refl[2]) / (refl[3] + refl[2]))[inside]))

    assert ndvi(grown) > ndvi(bare) + 0.1


def test_a_share_of_scarps_are_look_alikes_with_a_slumps_whole_trend(hard_world):
    """Some bare ground cannot be told from a slump at 3 m: those scarps have no rock in
    their soil, a slump's depth and a slump's whole TCVIS trend; the rest keep 0.8 of it
    and a scarp's shallow relief."""
    from rts_synth.confounders import LOOKALIKE_SHARE, SLUMP_TREND

    scarps = [c for c in hard_world.confounders if c.kind == "scarp"]
    alike = [c for c in scarps if c.lookalike]
    assert not any(c.lookalike for c in hard_world.confounders if c.kind != "scarp")
    assert abs(len(alike) / len(scarps) - LOOKALIKE_SHARE) < 0.15
    assert all(c.trend == SLUMP_TREND for c in alike if c.trend_active)
    assert all(c.trend == KINDS["scarp"][3] and c.trend[1] == 0.8 * SLUMP_TREND[1]
               for c in scarps if c.trend_active and not c.lookalike)
    assert all(-8.75 <= c.relief_m <= -3.75 for c in alike)  # slumps here are 3-10 m deep
    assert all(-3.5 <= c.relief_m <= -1.5 for c in scarps if not c.lookalike)
