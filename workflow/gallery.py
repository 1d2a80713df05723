"""The demo's gallery: one static page, ``<demo>/index.html``, that links the reports of a
demo run and shows the quicklooks of its held-apart (test) scenes.

    python workflow/gallery.py demo [-o demo/index.html] [--models models/demo]

Reads only what the run left under the demo folder:

- ``world/scenes.csv``: the held-apart scenes are those with ``split == test``, as the
  Makefile's ``demo-stacks`` picks them for validation;
- ``level1/<scene_id>.quicklook.png`` (``rts-ensemble --quicklook``) and the truth
  quicklook of ``rts-synth --quicklook`` (``world/scenes/.../<scene_id>_quicklook.png``);
- ``validation/`` (``rts-validate objects``: metrics.json, report.md and its charts),
  ``report/`` (``make demo-report``: per region, false positives by class, ablations),
  ``thresholds/compare`` and ``thresholds/pixels`` (the threshold sweeps), ``products/``
  (``rts-aggregate``: the products, and report.md with its figures when it writes one);
- with ``--models``, the models' training curves (``<name>.training.png``).

Whatever is missing is left out (said so on the page), never linked. Links and images
are relative to the page, the CSS is inline and nothing is fetched from the network, so
the folder can be copied or served as it is. A small inline script counts images that
did not load and writes the count to ``data-broken-images`` on ``<body>`` and to the
title (headless browsers in the tests read it). Standard library only: it runs with any
Python 3.11, the demo's containers need no extra image for it.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import quote, unquote

TITLE = "rtsmap demo"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)>]+?)>?(?:\s+\"[^\"]*\")?\s*\)")

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f4f5f7; color: #1d2127; }
header { background: #1d2b3a; color: #fff; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.6rem; }
header p { margin: 0; color: #c9d3de; }
main { padding: 1rem 2rem 3rem 2rem; max-width: 1500px; }
section { background: #fff; border-radius: 6px; padding: .6rem 1.2rem 1.2rem 1.2rem; margin: 1rem 0;
  box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h2 { font-size: 1.25rem; border-bottom: 1px solid #dde2e8; padding-bottom: .3rem; }
a { color: #0b5cad; }
.metrics { display: flex; flex-wrap: wrap; gap: .8rem; margin: .6rem 0; }
.metric { background: #eef3f8; border-radius: 5px; padding: .5rem .9rem; min-width: 7rem; }
.metric b { display: block; font-size: 1.4rem; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 640px; width: 100%; border: 1px solid #dde2e8; background: #fff; }
figcaption { font-size: .85rem; color: #4a5563; margin-top: .2rem; }
.scenes { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1.2rem; }
.scene { border: 1px solid #dde2e8; border-radius: 6px; padding: .6rem; }
.scene h3 { margin: 0 0 .4rem 0; font-size: 1rem; font-family: ui-monospace, monospace; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; }
.pair img, .single img { width: 100%; border: 1px solid #ccd2da; }
.single { display: grid; grid-template-columns: 1fr; }
.missing { color: #8a4b00; background: #fff4e0; padding: .4rem .6rem; border-radius: 4px; font-size: .9rem; }
.legend { font-size: .9rem; color: #39424e; }
.swatch { display: inline-block; width: 1.6em; height: .35em; vertical-align: middle; margin: 0 .3em 0 .8em; }
ul.files { columns: 3; font-size: .9rem; }
"""

# After every image has loaded or failed: how many are broken, for people and for tests.
CHECK_IMAGES = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; });
  broken.forEach(function (img) { img.classList.add("broken"); img.alt = "missing: " + img.getAttribute("src"); });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-broken-images", String(broken.length));
  document.title = document.title + " [" + images.length + " images, " + broken.length + " broken]";
});
"""


def link_to(target: Path, page_dir: Path) -> str:
    """``target`` relative to the page's folder, as a URL path (each part quoted)."""
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))
    return "/".join(quote(part) for part in Path(relative).parts)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def held_apart_scenes(world: Path) -> list[dict[str, str]]:
    """The rows of ``world/scenes.csv`` whose split is ``test`` (the demo's held-apart
    region), in the file's order."""
    table = world / "scenes.csv"
    if not table.is_file():
        return []
    with table.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("split", "").strip() == "test"]


def truth_quicklooks(world: Path) -> dict[str, Path]:
    """rts-synth's quicklooks (``<scene_id>_quicklook.png``) by scene id."""
    scenes = world / "scenes"
    if not scenes.is_dir():
        return {}
    return {p.name.removesuffix("_quicklook.png"): p for p in sorted(scenes.rglob("*_quicklook.png"))}


def report_figures(report: Path) -> list[Path]:
    """The images a Markdown report shows (its ``![..](file)`` links that exist beside
    it), else the images in its folder."""
    folder = report.parent
    figures: list[Path] = []
    if report.is_file():
        for target in MARKDOWN_IMAGE.findall(report.read_text(errors="replace")):
            path = (folder / unquote(target)).resolve()
            if "://" not in target and path.is_file() and path.is_relative_to(folder.resolve()) \
                    and path not in figures:
                figures.append(path)
    if not figures and folder.is_dir():
        figures = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return figures


class Page:
    def __init__(self, page_dir: Path):
        self.page_dir = page_dir
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def href(self, path: Path) -> str:
        return esc(link_to(path, self.page_dir))

    def image(self, path: Path, caption: str, alt: str = "") -> str:
        link = self.href(path)
        return (f'<figure><a href="{link}"><img src="{link}" alt="{esc(alt or caption)}"></a>'
                f"<figcaption>{esc(caption)}</figcaption></figure>")

    def files(self, paths: list[Path]) -> str:
        items = "".join(f'<li><a href="{self.href(p)}">{esc(p.name)}</a></li>' for p in paths)
        return f'<ul class="files">{items}</ul>'


def metric_boxes(metrics_json: Path) -> str:
    """Precision, recall and F1 (and counts) of an rts-validate metrics.json."""
    try:
        metrics = json.loads(metrics_json.read_text())
        overall = metrics["overall"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    boxes = []
    for key, label in (("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("iou", "IoU"),
                       ("n_pred", "predictions"), ("n_ref", "true slumps")):
        value = overall.get(key)
        if isinstance(value, int | float):
            shown = f"{value:.2f}" if isinstance(value, float) else f"{value}"
            boxes.append(f'<div class="metric"><b>{esc(shown)}</b>{esc(label)}</div>')
    mode = metrics.get("mode")
    note = f"<p>Object level, mode <code>{esc(mode)}</code>.</p>" if mode else ""
    return note + f'<div class="metrics">{"".join(boxes)}</div>' if boxes else ""


def report_section(page: Page, title: str, folder: Path, intro: str, demo: Path, metrics: bool = False) -> None:
    """A section for one report folder: headline metrics, the report and data files,
    and its figures; or a line saying it is not there."""
    page.add(f"<section><h2>{esc(title)}</h2>")
    report = folder / "report.md"
    if not folder.is_dir():
        shown = Path(os.path.relpath(folder, demo)).as_posix()
        page.add(f'<p class="missing">Not made in this run ({esc(shown)}/ is missing).</p></section>')
        return
    page.add(f"<p>{intro}</p>")
    if metrics and (folder / "metrics.json").is_file():
        page.add(metric_boxes(folder / "metrics.json"))
    listed = [p for p in (folder / "metrics.json", folder / "metrics.csv") if p.is_file()]
    listed += sorted(p for p in folder.iterdir() if p.is_file() and p not in listed
                     and p.suffix.lower() in (".parquet", ".gpkg", ".json", ".csv"))  # report.md: above
    if report.is_file():
        page.add(f'<p><a href="{page.href(report)}">{esc(folder.name)}/report.md</a> (Markdown)</p>')
    if listed:
        page.add(page.files(listed))
    figures = report_figures(report)
    if figures:
        page.add('<div class="figures">' + "".join(page.image(f, f.name) for f in figures) + "</div>")
    page.add("</section>")


def scenes_section(page: Page, demo: Path) -> int:
    """The held-apart scenes: the quicklook of rts-ensemble beside the truth of rts-synth."""
    world, level1 = demo / "world", demo / "level1"
    scenes = held_apart_scenes(world)
    truths = truth_quicklooks(world)
    page.add('<section id="held-apart"><h2>Held-apart test scenes</h2>')
    page.add("<p>The scenes with <code>split = test</code> in <code>world/scenes.csv</code>: never seen in "
             "training, the ones validation scores. Left: <code>rts-ensemble --quicklook</code>"
             '<span class="legend"><span class="swatch" style="background:#ffff00"></span>Level 1'
             '<span class="swatch" style="background:#ff33ff"></span>dropped by the clean-up (labelled '
             'edge, size or water)<span class="swatch" style="background:#808080"></span>no data</span>; '
             "right: the true slumps as <code>rts-synth --quicklook</code> drew them.</p>")
    if not scenes:
        page.add('<p class="missing">No held-apart scenes found (world/scenes.csv is missing or has no '
                 "test split).</p></section>")
        return 0
    page.add('<div class="scenes">')
    for row in scenes:
        scene_id = row.get("scene_id", "")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", scene_id):
            continue  # not a scene id of ours: never part of a path
        details = ", ".join(f"{k} {row[k]}" for k in ("region", "year", "acquired") if row.get(k))
        quicklook = level1 / f"{scene_id}.quicklook.png"
        truth = truths.get(scene_id)
        images = []
        if quicklook.is_file():
            images.append(page.image(quicklook, "Level 1 and clean-up (rts-ensemble)", f"quicklook {scene_id}"))
        else:
            images.append('<p class="missing">No quicklook: run rts-ensemble with --quicklook.</p>')
        if truth is not None:
            images.append(page.image(truth, "truth (rts-synth)", f"truth {scene_id}"))
        layout = "pair" if len(images) == 2 else "single"
        page.add(f'<div class="scene"><h3>{esc(scene_id)}</h3><p class="legend">{esc(details)}</p>'
                 f'<div class="{layout}">{"".join(images)}</div></div>')
    page.add("</div></section>")
    return len(scenes)


def map_section(page: Page, demo: Path) -> None:
    """The web map of rts-publish, where the demo published one (``demo/site``)."""
    site = demo / "site" / "index.html"
    if not site.is_file():
        return
    page.add('<section id="map"><h2>Web map</h2><p><a href="' + page.href(site) + '">The products on a map</a>: '
             "Level 2 by year, tracks, coverage, H3 density and the scenes' quicklooks, with a year selector "
             "and each slump's history (<code>rts-publish</code>), and its STAC catalogue. The map reads its "
             "tiles by HTTP range requests, so it needs a server: <code>rts-publish serve "
             f"{esc(demo.name)}</code>, then open <code>http://127.0.0.1:8000/site/</code>.</p></section>")


def models_section(page: Page, models: Path | None) -> None:
    if models is None or not models.is_dir():
        return
    curves = sorted(models.glob("*.training.png")) + sorted(models.glob("*/training.png"))
    if not curves:
        return
    page.add("<section><h2>Models</h2><p>Training curves of the models the demo ran "
             f"(<code>{esc(models.name)}/</code>).</p><div class=\"figures\">")
    page.add("".join(page.image(c, c.name if c.parent == models else f"{c.parent.name}/{c.name}") for c in curves))
    page.add("</div></section>")


def build(demo: Path, out: Path | None = None, models: Path | None = None) -> Path:
    """Write the gallery of the demo run in ``demo`` to ``out`` (default
    ``demo/index.html``) and return its path."""
    demo = Path(demo)
    out = Path(out) if out is not None else demo / "index.html"
    page = Page(out.parent)
    page.add(f"<header><h1>{esc(TITLE)}</h1><p>The chain on the synthetic demo world "
             f"(<code>{esc(demo.name)}/</code>): rts-synth, rts-prep, rts-infer, rts-ensemble, rts-aggregate, "
             "rts-validate.</p></header><main>")
    map_link = ' · <a href="#map">Web map</a>' if (demo / "site" / "index.html").is_file() else ""
    page.add('<nav><p><a href="#held-apart">Held-apart scenes</a> · <a href="#validation">Validation</a> · '
             '<a href="#figures">Per region and ablations</a> · <a href="#thresholds">Thresholds</a> · '
             f'<a href="#products">Products</a>{map_link}</p></nav>')
    map_section(page, demo)
    count = scenes_section(page, demo)
    page.add('<div id="validation"></div>')
    report_section(page, "Validation of the held-apart scenes", demo / "validation",
                   "<code>rts-validate objects</code>: Level 1 of the held-apart scenes against the true slumps, "
                   "within each scene's valid extent.", demo, metrics=True)
    page.add('<div id="figures"></div>')
    report_section(page, "Per region, false positives by class, ablations", demo / "report",
                   "What the DARTS recipe gets right and wrong on the held-apart regions, its false positives "
                   "beside DARTS' Table 5, and two ablations (<code>make demo-report</code>).", demo)
    page.add('<div id="thresholds"></div>')
    report_section(page, "Threshold sweep: objects", demo / "thresholds" / "compare",
                   "The clean-up at each threshold, objects matched by IoU (<code>rts-validate compare</code>).",
                   demo)
    report_section(page, "Threshold sweep: pixels", demo / "thresholds" / "pixels",
                   "Pixel-level scores of the mean probability at each threshold "
                   "(<code>rts-validate threshold</code>).", demo, metrics=True)
    page.add('<div id="products"></div>')
    report_section(page, "Products", demo / "products",
                   "<code>rts-aggregate</code>: Level 1 and Level 2, tracks, coverage and H3 (EPSG:4326).", demo)
    models_section(page, models)
    page.add(f"<footer><p class=\"legend\">{count} held-apart scenes. Made by workflow/gallery.py; "
             "every link is relative to this page.</p></footer></main>")
    document = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{esc(TITLE)}</title><style>{CSS}</style></head>\n<body>\n"
                + "\n".join(page.parts)
                + f"\n<script>{CHECK_IMAGES}</script>\n</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # appears whole or not at all
    try:
        temporary.write_text(document, encoding="utf-8")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Example: python workflow/gallery.py demo --models models/demo")
    parser.add_argument("demo", type=Path, help="the demo folder (make demo's DEMO_DIR)")
    parser.add_argument("-o", "--out", type=Path, help="the page (default: DEMO/index.html)")
    parser.add_argument("--models", type=Path, help="folder of the models' training curves (<name>.training.png)")
    args = parser.parse_args(argv)
    if not args.demo.is_dir():
        parser.error(f"{args.demo}: no such folder")
    print(build(args.demo, args.out, args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
