"""Command line of rts-publish: products -> a static site (map, STAC, PMTiles), and
``serve`` to look at it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rts_core import cli
from rts_core.errors import InputError, RunError
from rts_core.runner import emit

from .serve import make_server
from .site import TOOL, publish_site


class PublishGroup(cli.Group):
    """``rts-publish PRODUCTS_DIR ...`` publishes (CONTRACT.md section 8); ``rts-publish
    serve SITE`` serves. A first argument that is not a subcommand is the products folder."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help", "--version"):
            args = ["publish", *args]
        return super().parse_args(ctx, args)


@cli.group(TOOL, TOOL, cls=PublishGroup, epilog="""Examples:

\b
  rts-publish products -o site
  rts-publish products --level1 level1 --validation validation --volume volume -o site
  rts-publish serve site            # then open http://127.0.0.1:8000/

The site works offline: every script and style is inside it. Copy the folder to any
static web host or object store that answers HTTP range requests (most do: nginx,
Apache, GitHub Pages, S3, GCS, Azure Blob); see the README.""")
def main():
    """Publish rtsmap's products as a static web map with a STAC catalogue."""


@main.command("publish", epilog="""Examples:

\b
  rts-publish products -o site
  rts-publish products --level1 level1 --validation validation --model models/tcvis.onnx -o site

Writes SITE/index.html (the map: Level 2 coloured by year, tracks, coverage, H3 density,
scene quicklooks, a year selector, click for a slump's attributes and its track's
history), SITE/catalog.json (STAC 1.1, relative links), SITE/tiles/*.pmtiles (vector
tiles made by GDAL, zoom 1-15) and prints the path of index.html. A rerun with the
same inputs skips; a failed run leaves the previous site as it was.""")
@click.argument("products", type=click.Path(file_okay=False, path_type=Path))
@click.option("--level1", type=click.Path(file_okay=False, path_type=Path),
              help="rts-ensemble's output folder: per-scene probability COGs, masks, polygons, quicklooks "
                   "(an item each in the catalogue, quicklooks on the map).")
@click.option("--validation", type=click.Path(file_okay=False, path_type=Path),
              help="rts-validate's output folder: its report and figures, linked from the page.")
@click.option("--volume", type=click.Path(file_okay=False, path_type=Path),
              help="rts-volume's output folder: volume change per track (the longest pair) on the map.")
@click.option("--model", "models", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="ONNX model(s) that made the probabilities: an item each (Machine Learning Model extension). "
                   "Repeat for several.")
@click.option("--license", "license_", default="other",
              help="Licence of the published data (SPDX id, or 'other').")
@cli.out_dir_option(help="Site folder (created; replaced as a whole when rebuilt).")
@cli.run_options(TOOL)
def publish(products, level1, validation, volume, models, license_, out, run):
    """Publish products as a static site: map page, STAC catalogue, PMTiles."""
    try:
        result = publish_site(products, out, level1=level1, validation=validation, volume=volume, models=models,
                              license=license_, overwrite=run.overwrite, debug=run.debug)
    except InputError as exc:
        raise RunError(getattr(exc, "source", None) or products, str(exc)) from None
    emit([result.site / "index.html"])
    if not run.quiet:
        print(f"Open it: rts-publish serve {result.site}", file=sys.stderr)
    cli.exit_with(failed=bool(result.failed))


@main.command("serve", epilog="""Example:

\b
  rts-publish serve site --port 8080   # then open http://127.0.0.1:8080/

Serves on the loopback address only, with HTTP range requests (PMTiles needs them).
Stop with Ctrl-C.""")
@click.argument("site", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help="Port (0: any free one).")
def serve(site, port):
    """Serve a published site on http://127.0.0.1:PORT/."""
    if not (site / "index.html").is_file():
        raise click.BadParameter(f"{site}: no index.html (not a site of rts-publish)", param_hint="SITE")
    server = make_server(site, port)
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    click.echo(f"Serving {site} (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
