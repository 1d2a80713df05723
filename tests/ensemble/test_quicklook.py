"""rts-ensemble --quicklook: the clean-up hands back what it dropped and why, and the PNG
shows exactly that over the stack's false colour (or the probability)."""

import numpy as np
import pytest
import rasterio
from PIL import Image

from rts_core import contract, raster
from rts_ensemble import quicklook as ql
from rts_ensemble.cleanup import CleanupOptions, clean, clean_objects
from tests.conftest import run_script
from tests.ensemble.test_ensemble import SCENE, TRANSFORM, write_prob

SHAPE = (150, 240)  # not square: the long side becomes 1024 px, the short one in proportion


def field():
    """One object of each fate: kept, too small, at the border, on water; a no-data hole."""
    p = np.full(SHAPE, 0.1, np.float32)
    p[60:70, 110:120] = 0.9  # kept (100 px, far from everything)
    p[30:33, 60:63] = 0.9  # size: 9 px
    p[70:80, 0:10] = 0.9  # edge: touches the left border
    p[100:110, 180:190] = 0.9  # water: all of it on water
    valid = np.ones(SHAPE, bool)
    valid[120:140, 20:60] = False  # no data, away from every object
    water = np.zeros(SHAPE, bool)
    water[95:115, 175:195] = True
    return p, valid, water


@pytest.fixture
def scene(tmp_path):
    p, valid, water = field()
    probs = [write_prob(tmp_path / f"{SCENE}.{m}.prob.tif", p, valid, m) for m in ("tcvis", "notcvis")]
    landcover = tmp_path / "lc.tif"
    with rasterio.open(landcover, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=1, dtype="uint8",
                       crs="EPSG:32608", transform=TRANSFORM) as dst:
        dst.write(np.where(water, 1, 11).astype(np.uint8), 1)
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    write_stack(stacks / contract.stack_name(SCENE), SHAPE)
    return tmp_path, probs, landcover, stacks


def write_stack(path, shape, transform=TRANSFORM):
    """A stack with its bands out of the usual order (found by name): nir ramps up along
    the columns, red down along them, green is flat (so no pixel is yellow or magenta,
    the outline colours); reflectance stored x 1e-4."""
    cols = np.mgrid[0:shape[0], 0:shape[1]][1]
    bands = {"green": np.full(shape, 500), "nir": 1000 + 3000 * cols // shape[1], "blue": np.full(shape, 300),
             "red": 2200 - 2000 * cols // shape[1]}
    tags = raster.scene_tags(SCENE, "2022-08-01T20:15:00Z", "test")
    raster.write_cog(path, np.stack(list(bands.values())).astype(np.int16), crs="EPSG:32608", transform=transform,
                     nodata=-32768, tags=tags, band_descriptions=tuple(bands), scales=[1e-4] * 4,
                     offsets=[0.0] * 4)
    return path


def test_the_cleanup_returns_each_dropped_object_with_its_reason():
    p, valid, water = field()
    cleaned = clean_objects(p, valid, CleanupOptions(), water, keep_dropped=True)
    assert cleaned.n_pixels.tolist() == [100]
    assert set(np.unique(cleaned.labels[60:70, 110:120])) == {1}
    found = {reasons: int((cleaned.dropped == i + 1).sum()) for i, reasons in enumerate(cleaned.reasons)}
    assert found == {("size",): 9, ("edge",): 100, ("water",): 100}
    assert cleaned.dropped.max() == 3 and not (cleaned.dropped & cleaned.labels).any()
    assert (cleaned.dropped[30:33, 60:63] == cleaned.reasons.index(("size",)) + 1).all()
    assert (cleaned.dropped[70:80, 0:10] == cleaned.reasons.index(("edge",)) + 1).all()
    # the plain clean-up is the same survivors, without the dropped ones
    labels, n_pixels = clean(p, valid, CleanupOptions(), water)
    np.testing.assert_array_equal(labels, cleaned.labels)
    assert clean_objects(p, valid, CleanupOptions(), water).dropped is None


def test_an_object_failing_several_rules_names_them_all():
    p = np.full((60, 60), 0.1, np.float32)
    p[0:3, 20:23] = 0.9  # small and at the border
    cleaned = clean_objects(p, np.ones(p.shape, bool), CleanupOptions(), keep_dropped=True)
    assert cleaned.reasons == [("edge", "size")]
    assert ql.reason_label(cleaned.reasons[0]) == "edge+size"


def colour_pixels(png, colour, tolerance=40, rows=None, cols=None):
    """Pixels of about ``colour`` in the PNG, or in the box around scene pixels
    ``rows``, ``cols`` (start, stop), widened by 2 scene pixels."""
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    if rows is not None:
        sy, sx = rgb.shape[0] / SHAPE[0], rgb.shape[1] / SHAPE[1]
        rgb = rgb[max(0, int((rows[0] - 2) * sy)):int((rows[1] + 2) * sy),
                  max(0, int((cols[0] - 2) * sx)):int((cols[1] + 2) * sx)]
    return int((np.abs(rgb - np.array(colour)).max(axis=-1) <= tolerance).sum())


def hex_rgb(text):
    return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))


@pytest.fixture
def captured(monkeypatch):
    """The layers the scene hands to the quicklook (drawn and written as usual)."""
    import rts_ensemble.stage

    seen = []

    def capture(path, layers, *args, **kwargs):
        seen.append(layers)
        return ql.write_quicklook(path, layers, *args, **kwargs)

    monkeypatch.setattr(rts_ensemble.stage, "write_quicklook", capture)
    return seen


def test_quicklook_on_the_stack_shows_level1_and_each_dropped_object_labelled(scene, captured):
    root, probs, landcover, stacks = scene
    out = root / "l1"
    done = run_script("rts-ensemble", *probs, "--water", landcover, "--quicklook", "--stacks", stacks, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(out / contract.l1_name(SCENE))]  # the PNG is not for the next stage
    png = out / f"{SCENE}.quicklook.png"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [contract.prob_name(SCENE), contract.mask_name(SCENE), contract.l1_name(SCENE), contract.extent_name(SCENE),
         png.name])
    with Image.open(png) as image:
        image.load()
        width, height = image.size
    assert 1000 <= max(width, height) <= 1100
    assert height == pytest.approx(width * SHAPE[0] / SHAPE[1], abs=2)
    # around each object (pixel boxes scaled to the PNG), its outline's colour
    for rows, cols, colour in [((60, 70), (110, 120), ql.LEVEL1_COLOUR), ((30, 33), (60, 63), ql.DROPPED_COLOUR),
                               ((70, 80), (0, 10), ql.DROPPED_COLOUR), ((100, 110), (180, 190), ql.DROPPED_COLOUR)]:
        assert colour_pixels(png, hex_rgb(colour), rows=rows, cols=cols) > 20, (rows, cols)
    assert colour_pixels(png, hex_rgb(ql.DROPPED_COLOUR), rows=(60, 70), cols=(110, 120)) == 0
    # what was drawn is what the clean-up dropped, with its reasons
    (layers,) = captured
    assert layers.stack == stacks / contract.stack_name(SCENE)
    assert sorted(r for _, r in layers.dropped) == [("edge",), ("size",), ("water",)]
    assert {r: round(g.area) for g, r in layers.dropped} == {("edge",): 900, ("size",): 81, ("water",): 900}
    assert len(layers.level1) == 1 and round(layers.level1[0].area) == 900
    figure = ql.draw(layers)
    axes = figure.axes[0]
    labels = sorted(t.get_text() for t in axes.texts if t.get_text() in {"edge", "size", "water"})
    assert labels == ["edge", "size", "water"]
    background = axes.images[0].get_array()
    assert background.ndim == 3  # the false colour: nir (ramping along columns) as red
    assert background[5, -5, 0] > 0.9 > 0.1 > background[5, 5, 0]  # nir as red, rising to the east
    assert background[5, -5, 1] < 0.1 < 0.9 < background[5, 5, 1]  # red as green, falling
    assert (background[..., 2] == 0).all()  # green (flat) as blue
    assert "false colour" in " ".join(t.get_text() for t in axes.texts)


def test_without_stacks_the_probability_is_the_background(scene, captured):
    root, probs, landcover, _ = scene
    done = run_script("rts-ensemble", *probs, "--water", landcover, "--quicklook", "-o", root / "l1")
    assert done.returncode == 0, done.stderr
    (layers,) = captured
    assert layers.stack is None
    axes = ql.draw(layers).axes[0]
    background = axes.images[0].get_array()
    assert background.ndim == 2 and background.max() == pytest.approx(0.9, abs=0.01)
    assert axes.images[0].get_cmap().name == ql.PROBABILITY_CMAP
    assert "ensemble probability" in " ".join(t.get_text() for t in axes.texts)
    png = root / "l1" / f"{SCENE}.quicklook.png"
    assert colour_pixels(png, hex_rgb(ql.LEVEL1_COLOUR)) > 50


def test_a_missing_stack_falls_back_to_the_probability_with_a_warning(scene, captured, tmp_path):
    root, probs, _, _ = scene
    empty = tmp_path / "no_stacks"
    empty.mkdir()
    done = run_script("rts-ensemble", *probs, "--quicklook", "--stacks", empty, "-o", root / "l1")
    assert done.returncode == 0, done.stderr
    assert "quicklook on the probability" in done.stderr
    assert captured[0].stack is None


def test_a_large_scene_is_drawn_decimated():
    """4000 x 2500 px in, at most 1024 px out; the stack is read at that size."""
    shape = (2500, 4000)
    p = np.zeros(shape, np.float32)
    layers = ql.SceneLayers(SCENE, p, np.ones(shape, bool), TRANSFORM, "EPSG:32608")
    figure = ql.draw(layers)
    assert max(figure.get_size_inches() * figure.dpi) == 1024
    assert max(figure.axes[0].images[0].get_array().shape) <= 1024


def test_false_colour_is_read_decimated(tmp_path):
    path = write_stack(tmp_path / "big.stack.tif", (1800, 2600))
    image, extent, _ = ql.read_false_colour(path)
    assert image.shape[2] == 3 and max(image.shape[:2]) == 1024
    assert extent == (TRANSFORM.c, TRANSFORM.c + 2600 * 3, TRANSFORM.f - 1800 * 3, TRANSFORM.f)


def test_a_failing_quicklook_leaves_nothing_of_the_scene(scene, monkeypatch):
    import rts_ensemble.stage

    def broken(*_args, **_kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(rts_ensemble.stage, "write_quicklook", broken)
    root, probs, _, _ = scene
    out = root / "l1"
    done = run_script("rts-ensemble", *probs, "--quicklook", "-o", out)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "drawing failed" in errors[0]
    assert not list(out.iterdir())


def test_reruns_skip_a_complete_scene_and_add_a_missing_quicklook(scene):
    root, probs, _, _ = scene
    out = root / "l1"
    assert run_script("rts-ensemble", *probs, "-o", out).returncode == 0
    png = out / f"{SCENE}.quicklook.png"
    assert not png.exists()
    done = run_script("rts-ensemble", *probs, "--quicklook", "-o", out)
    assert done.returncode == 0 and png.exists()
    before = png.stat().st_mtime_ns
    done = run_script("rts-ensemble", *probs, "--quicklook", "-o", out)
    assert done.returncode == 0 and "1 already complete" in done.stderr
    assert png.stat().st_mtime_ns == before


def test_stacks_needs_quicklook_and_a_folder(scene, tmp_path):
    root, probs, _, stacks = scene
    assert run_script("rts-ensemble", *probs, "--stacks", stacks, "-o", root / "l1").returncode == 2
    done = run_script("rts-ensemble", *probs, "--quicklook", "--stacks", tmp_path / "nowhere", "-o", root / "l1")
    assert done.returncode == 2 and "--stacks" in done.stderr
    assert not (root / "l1").exists() or not list((root / "l1").iterdir())
