"""rts-publish on the pan-Arctic product (issue #33): bench/aggregate.py's world of 834
sites, 1,000,800 Level-1 features, aggregated by rts-aggregate, then published. Prints
rts-publish's seconds and peak RSS, the site's size, the tiles per layer and the
largest (no tile may exceed 500 kB), and the page in headless Chromium opened on the
densest Level-2 tile: seconds to render it, then a pan and a zoom in, each rendered.

    python bench/publish.py                      # 834 sites (about 10 minutes before publishing)
    python bench/publish.py --sites 50           # smaller
    python bench/publish.py --products DIR       # publish products made already
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from _child import measured_tree

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("level2", "tracks", "coverage", "h3")
MAX_TILE_BYTES = 500_000


def make_products(folder: Path, sites: int) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from aggregate import write_world

    level1 = folder / "level1"
    level1.mkdir()
    features = write_world(level1, sites)
    listing = folder / "level1.txt"
    listing.write_text("\n".join(map(str, sorted(level1.glob("*.l1.parquet")))) + "\n")
    seconds, peak, _ = measured_tree(["sh", "-c", f"{BIN / 'rts-aggregate'} - -q -o {folder}/products < {listing}"])
    print(f"{features} Level-1 features; rts-aggregate {seconds:.0f} s, peak {peak:.0f} MB")
    return folder / "products"


def tile_sizes(archive: Path) -> list[tuple[int, tuple[int, int, int]]]:
    from pmtiles.reader import MmapSource, all_tiles

    with open(archive, "rb") as stream:
        return [(len(data), zxy) for zxy, data in all_tiles(MmapSource(stream))]


def tile_centre(z: int, x: int, y: int) -> tuple[float, float]:
    import math

    n = 2 ** z
    lon = (x + 0.5) / n * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lat, lon


def browse(site: Path, zxy: tuple[int, int, int]) -> dict:
    """Open the page on tile ``zxy``; seconds to first render and to idle, then a pan and
    a zoom in, each until idle, and the Level-2 features drawn."""
    sys.path.insert(0, str(ROOT))
    from rts_publish.serve import make_server

    from tests.browser import Browser

    server = make_server(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lat, lon = tile_centre(*zxy)
    browser = Browser()
    timings = {}
    try:
        start = time.perf_counter()
        browser.navigate(f"http://127.0.0.1:{server.server_address[1]}/index.html#{zxy[0] + 0.5}/{lat}/{lon}")
        browser.wait_for("window.rts && window.rts.ready", 300)
        timings["open_s"] = time.perf_counter() - start
        timings["first_features_ms"] = browser.evaluate("window.rts.firstFeaturesMs")
        count = "window.rts.map.queryRenderedFeatures({layers: ['level2-fill']}).length"
        timings["features_drawn"] = browser.evaluate(count)
        for name, action in (("pan_s", "window.rts.map.panBy([400, 200], {duration: 0})"),
                             ("zoom_s", "window.rts.map.zoomIn({duration: 0})")):
            start = time.perf_counter()
            browser.evaluate("new Promise((done) => { window.rts.map.once('idle', () => done(true)); "
                             f"{action}; }})")
            timings[name] = time.perf_counter() - start
            timings[name.replace("_s", "_features")] = browser.evaluate(count)
        timings["errors"] = browser.console_errors + browser.evaluate("window.rts.errors")
    finally:
        browser.close()
        server.shutdown()
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=834)
    parser.add_argument("--products", type=Path, help="publish these products instead of making them")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        products = args.products or make_products(Path(tmp), args.sites)
        site = Path(tmp) / "site"
        seconds, peak, _ = measured_tree([str(BIN / "rts-publish"), str(products), "-q", "-o", str(site)])
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and "data" not in p.parts)
        config = json.loads((site / "config.json").read_text())
        print(f"rts-publish: {seconds:.1f} s, peak RSS {peak:.0f} MB; site {size / 1e6:.0f} MB without data/")
        print(f"{'layer':<10} {'features':>10} {'tiles':>8} {'MB':>8} {'largest kB':>11}  largest tile")
        densest = None
        for layer in LAYERS:
            archive = site / "tiles" / f"{layer}.pmtiles"
            if not archive.is_file():
                continue
            sizes = tile_sizes(archive)
            largest = max(sizes)
            print(f"{layer:<10} {config['layers'][layer]['features']:>10} {len(sizes):>8} "
                  f"{archive.stat().st_size / 1e6:>8.1f} {largest[0] / 1e3:>11.1f}  z{largest[1][0]}/{largest[1][1]}/"
                  f"{largest[1][2]}")
            if largest[0] > MAX_TILE_BYTES:
                print(f"  {layer}: a tile is over {MAX_TILE_BYTES / 1e3:.0f} kB")
            if layer == "level2":
                densest = largest[1]
        if not args.no_browser and densest is not None:
            timings = browse(site, densest)
            z, x, y = densest
            print(f"page on the densest Level-2 tile z{z}/{x}/{y}: open {timings['open_s']:.1f} s "
                  f"(first features {timings['first_features_ms'] / 1e3:.1f} s), "
                  f"{timings['features_drawn']} drawn; pan {timings['pan_s']:.1f} s ({timings['pan_features']}), "
                  f"zoom in {timings['zoom_s']:.1f} s ({timings['zoom_features']}); "
                  f"console errors: {len(timings['errors'])}")


if __name__ == "__main__":
    main()
