"""workflow/gallery.py: the demo's static page, built from a tiny fake demo folder (a few
PNGs made here) rather than a whole demo run, and rendered in headless Chromium when
one is installed."""

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from tests.browser import chromium_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "workflow" / "gallery.py"
TEST_SCENES = ["20230720_212652_60_2423", "20210722_204938_81_242d"]
TRAIN_SCENE = "20210708_212841_23_2416"


def png(path: Path, colour=(40, 120, 200), size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = colour
    image[size[1] // 4: size[1] // 2, size[0] // 4: size[0] // 2] = (255, 255, 0)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def demo(tmp_path):
    """What make demo leaves, in miniature: the scene table with its split, quicklooks,
    the validation and threshold reports with their charts, the products."""
    demo = tmp_path / "demo"
    world = demo / "world"
    world.mkdir(parents=True)
    rows = ["scene_id,region,year,acquired,split,sr_path"]
    for scene_id, split in [(TRAIN_SCENE, "train"), (TEST_SCENES[0], "test"), (TEST_SCENES[1], "test")]:
        rows.append(f"{scene_id},4,{scene_id[:4]},{scene_id[:4]}-07-20T21:26:52Z,{split},"
                    f"scenes/{scene_id}/{scene_id}_3B_AnalyticMS_SR.tif")
        png(world / "scenes" / scene_id / f"{scene_id}_quicklook.png", (90, 140, 60))
        png(demo / "level1" / f"{scene_id}.quicklook.png")
    (world / "scenes.csv").write_text("\n".join(rows) + "\n")
    validation = demo / "validation"
    png(validation / "scores.png")
    png(validation / "map.png")
    (validation / "report.md").write_text("# Validation\n\n![scores](scores.png)\n\n![map](map.png)\n")
    (validation / "metrics.json").write_text(json.dumps(
        {"mode": "intersect", "overall": {"precision": 1.0, "recall": 0.817, "f1": 0.899, "n_pred": 78, "n_ref": 104}}))
    (validation / "metrics.csv").write_text("group,f1\nall,0.899\n")
    compare = demo / "thresholds" / "compare"
    png(compare / "compare.png")
    (compare / "report.md").write_text("# Compare\n\n![compare](compare.png)\n")
    products = demo / "products"
    products.mkdir()
    (products / "level1.parquet").write_bytes(b"PAR1")
    png(products / "figures" / "area by year.png")  # a space: the link must be quoted
    (products / "report.md").write_text("# Products\n\n![area](figures/area%20by%20year.png)\n"
                                        "![area](figures/area by year.png)\n")
    models = tmp_path / "models"
    png(models / "tcvis.training.png")
    return demo, models


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.scripts = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") and not attrs["href"].startswith("#"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in ("script", "link") and (attrs.get("src") or attrs.get("href")):
            self.scripts.append(attrs.get("src") or attrs.get("href"))


def build(demo, models=None, *extra):
    args = [sys.executable, str(SCRIPT), str(demo)] + (["--models", str(models)] if models else []) + list(extra)
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def parse(index: Path) -> Links:
    parser = Links()
    parser.feed(index.read_text())
    return parser


def test_the_page_links_reports_and_shows_the_held_apart_quicklooks(demo):
    demo, models = demo
    index = build(demo, models)
    assert index == demo / "index.html"
    page = parse(index)
    text = index.read_text()
    assert "http://" not in text and "https://" not in text and not page.scripts  # nothing from the network
    for target in page.links + page.images:
        assert not target.startswith("/") and "://" not in target, target
        assert (index.parent / unquote(target)).is_file(), target  # every link and image is there
    images = {unquote(src) for src in page.images}
    for scene_id in TEST_SCENES:
        assert f"level1/{scene_id}.quicklook.png" in images
        assert f"world/scenes/{scene_id}/{scene_id}_quicklook.png" in images
    assert not any(TRAIN_SCENE in src for src in images)  # training scenes are not shown
    assert text.index(TEST_SCENES[0]) < text.index(TEST_SCENES[1])  # in the table's order
    links = {unquote(href) for href in page.links}
    assert {"validation/report.md", "validation/metrics.json", "thresholds/compare/report.md",
            "products/report.md", "products/level1.parquet"} <= links
    assert {"validation/scores.png", "validation/map.png", "thresholds/compare/compare.png",
            "products/figures/area by year.png", "../models/tcvis.training.png"} <= images
    assert "products/figures/area%20by%20year.png" in page.images  # quoted in the page
    assert "0.90" in text and "0.82" in text  # F1 and recall of metrics.json
    assert "Not made in this run (thresholds/pixels/ is missing)" in text


def test_a_missing_quicklook_is_said_not_linked(demo):
    demo, _ = demo
    (demo / "level1" / f"{TEST_SCENES[1]}.quicklook.png").unlink()
    index = build(demo, None, "-o", demo / "site" / "gallery.html")
    page = parse(index)
    assert all((index.parent / unquote(t)).is_file() for t in page.links + page.images)
    assert all(t.startswith("../") for t in page.images)
    assert "No quicklook: run rts-ensemble with --quicklook." in index.read_text()


def headless(browser: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", "--disable-extensions", "--disable-background-networking",
                           f"--user-data-dir={cwd / 'chromium-profile'}", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def broken_images(browser: str, index: Path, tmp_path: Path) -> tuple[int, int]:
    """(images, broken images) as the page's own script counts them after loading."""
    done = headless(browser, "--dump-dom", index.as_uri(), cwd=tmp_path)
    assert "<body" in done.stdout, done.stderr[-2000:]
    body = parse_body(done.stdout)
    assert "data-broken-images" in body, "the page's image check did not run"
    return int(body["data-images"]), int(body["data-broken-images"])


def parse_body(dom: str) -> dict:
    class Body(HTMLParser):
        attrs: dict = {}

        def handle_starttag(self, tag, attrs):
            if tag == "body":
                Body.attrs = dict(attrs)

    Body().feed(dom)
    return Body.attrs


@pytest.mark.skipif(chromium_path() is None, reason="no chromium binary (apt-get install chromium) to render the page")
def test_the_page_renders_in_headless_chromium_with_every_image(demo, tmp_path):
    demo, models = demo
    browser = chromium_path()
    index = build(demo, models)
    shot = tmp_path / "gallery.png"
    done = headless(browser, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars",
                    index.as_uri(), cwd=tmp_path)
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # not blank
    assert (np.abs(pixels - (255, 255, 0)).max(axis=-1) < 30).sum() > 100  # a quicklook drawn (its yellow square)
    images, broken = broken_images(browser, index, tmp_path)
    assert images == len(parse(index).images) > 0 and broken == 0
    # the check sees a broken image when there is one
    (demo / "validation" / "map.png").write_bytes(b"not a png")
    assert broken_images(browser, index, tmp_path) == (images, 1)


def test_the_page_links_the_web_map_where_the_demo_published_one(demo):
    demo, models = demo
    assert "site/index.html" not in parse(build(demo, models)).links
    assert 'href="#map"' not in (demo / "index.html").read_text()
    (demo / "site").mkdir()
    (demo / "site" / "index.html").write_text("<!doctype html><title>map</title>")
    index = build(demo, models)
    assert "site/index.html" in parse(index).links
    assert 'href="#map"' in index.read_text() and f"rts-publish serve {demo.name}" in index.read_text()
