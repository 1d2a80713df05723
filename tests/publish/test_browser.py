"""The map page in a real browser: Debian's Chromium, headless, WebGL in software,
driven over the DevTools protocol. On the published test products: no console errors,
Level 2 renders (pixels change where a footprint lies when its layer is switched),
clicking a footprint shows its track id and area, the year selector hides another
year's footprint, and the search finds a track id and coordinates. Screenshots and the
page-load-to-first-features time are kept under ``build/test-artifacts/``
(``RTS_TEST_ARTIFACTS``)."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import geopandas
import numpy as np
import pytest
from PIL import Image

from tests.browser import Browser, chromium_path
from tests.publish.test_publish import inputs, server, site  # noqa: F401 - the fixtures

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no Chromium (Debian: apt install chromium)")
ARTEFACTS = Path(os.environ.get("RTS_TEST_ARTIFACTS", Path(__file__).parents[2] / "build" / "test-artifacts"))


def pixel(png: bytes, x: float, y: float) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    return image[int(round(y)), int(round(x))]


def settle(browser: Browser, action: str) -> None:
    """Run ``action`` (JavaScript) and wait until the map has rendered what follows."""
    browser.evaluate("new Promise((done) => { window.rts.map.once('idle', () => done(true)); " + action
                     + "; window.rts.map.triggerRepaint(); })")


def test_map_page_renders_clicks_and_filters_by_year(inputs, site, server):  # noqa: F811
    root, _ = inputs
    level2 = geopandas.read_parquet(root / "products" / "level2.parquet")
    once = level2.groupby("track_id")["year"].transform("count") == 1
    feature = level2[once & (level2["year"] == 2021)].iloc[0]  # a slump seen in 2021 only
    west, south, east, north = feature.geometry.bounds
    inside = feature.geometry.representative_point()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser = Browser()
    try:
        browser.navigate(f"{server}/index.html")
        browser.wait_for("window.rts && window.rts.ready", 90)
        first_features_ms = browser.evaluate("window.rts.firstFeaturesMs")
        assert first_features_ms is not None  # Level 2 was drawn
        settle(browser, f"window.rts.map.fitBounds([[{west}, {south}], [{east}, {north}]], "
                        "{padding: 250, duration: 0})")
        x, y = browser.evaluate(f"(() => {{ const p = window.rts.map.project([{inside.x}, {inside.y}]); "
                                "return [p.x, p.y]; })()")
        shown = browser.screenshot()
        (ARTEFACTS / "map.png").write_bytes(shown)
        assert browser.evaluate(f"window.rts.map.queryRenderedFeatures([{x}, {y}], "
                                "{layers: ['level2-fill']}).length") == 1

        settle(browser, "document.getElementById('layer-level2').click()")
        hidden = browser.screenshot()
        assert np.abs(pixel(shown, x, y) - pixel(hidden, x, y)).sum() > 60  # the footprint's colour went
        settle(browser, "document.getElementById('layer-level2').click()")

        browser.click(x, y)
        browser.wait_for("!document.getElementById('panel').hidden", 10)
        panel = browser.evaluate("document.getElementById('panel-body').innerText")
        assert f"Track {feature.track_id}" in panel
        assert f"{round(feature.area_m2):,} m²" in panel

        settle(browser, "const s = document.getElementById('year'); s.value = '2022'; "
                        "s.dispatchEvent(new Event('change'))")
        other_year = browser.screenshot()
        (ARTEFACTS / "map-2022.png").write_bytes(other_year)
        assert browser.evaluate(f"window.rts.map.queryRenderedFeatures([{x}, {y}], "
                                "{layers: ['level2-fill']}).length") == 0
        assert np.abs(pixel(other_year, x, y) - pixel(shown, x, y)).sum() > 60  # (coverage is 2022's shade now)
        settle(browser, "const s = document.getElementById('year'); s.value = 'all'; "
                        "s.dispatchEvent(new Event('change')); window.rts.map.jumpTo({center: [0, 0], zoom: 3})")
        browser.evaluate(f"document.getElementById('search-text').value = '{feature.track_id}'; "
                         "document.getElementById('search').requestSubmit()")
        browser.wait_for("window.rts.map.getZoom() > 12 && !window.rts.map.isMoving()", 20)
        centre = browser.evaluate("(() => { const c = window.rts.map.getCenter(); return [c.lng, c.lat]; })()")
        assert abs(centre[0] - (west + east) / 2) < 1e-3 and abs(centre[1] - (south + north) / 2) < 1e-3
        browser.evaluate("document.getElementById('search-text').value = '70.5, -130.25'; "
                         "document.getElementById('search').requestSubmit()")
        browser.wait_for("Math.abs(window.rts.map.getCenter().lat - 70.5) < 1e-6 && !window.rts.map.isMoving()", 20)
        assert browser.evaluate("document.querySelectorAll('.maplibregl-ctrl-scale').length") == 1
        assert browser.evaluate("[...document.querySelectorAll('#year-legend .entry')].map((e) => e.textContent)") \
            == ["2021", "2022", "2023"]
        errors = browser.console_errors + browser.evaluate("window.rts.errors")
        assert errors == []
        (ARTEFACTS / "browser.json").write_text(json.dumps({"first_features_ms": first_features_ms}))
        print(f"page load to first features: {first_features_ms:.0f} ms")
    finally:
        browser.close()


def test_a_page_without_features_opens_without_errors(inputs, tmp_path):  # noqa: F811
    from rts_publish import publish_site
    from rts_publish.serve import make_server

    from tests.publish.test_publish import empty_products

    empty_site = publish_site(empty_products(inputs, tmp_path / "products"), tmp_path / "site").site
    empty_server = make_server(empty_site, 0)
    threading.Thread(target=empty_server.serve_forever, daemon=True).start()
    browser = Browser()
    try:
        browser.navigate(f"http://127.0.0.1:{empty_server.server_address[1]}/index.html")
        browser.wait_for("window.rts && window.rts.ready", 90)
        assert browser.evaluate("window.rts.firstFeaturesMs") is None
        assert browser.console_errors + browser.evaluate("window.rts.errors") == []
    finally:
        browser.close()
        empty_server.shutdown()
        empty_server.server_close()
