"""Command line of rts-prep: options -> one stack per scene."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from rts_core import cli
from rts_core.runner import run_items
from rts_core.tuning import tune_allocator_for_blocks

from .resample import ignore_threaded_warp_warnings
from .sentinel2 import INVALID_SCL, expand_collections
from .stack import PrepOptions, opened_sources, plan_stack, prep_scene

TOOL = "rts-prep"


def parse_bounds(_ctx, _param, value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected XMIN,YMIN,XMAX,YMAX, got {value!r}") from None
    if not (xmin < xmax and ymin < ymax):
        raise click.BadParameter(f"empty box {value!r}")
    return xmin, ymin, xmax, ymax


@cli.command(TOOL, TOOL, epilog="""Example:

\b
  rts-prep scenes/*/ --dem arcticdem.vrt --tcvis tcvis.tif --landcover esri_lc.tif -o stacks
  rts-synth -o demo | rts-prep - --dem demo/aux/dem.tif --tcvis demo/aux/tcvis.tif -o stacks
  rts-prep S2A_MSIL2A_20230715T201851_N0509_R071_T08WMC_*.SAFE item.json --dem dem.vrt --tcvis tcvis.tif -o stacks

The stack is int16 with a GDAL scale/offset per band: read it as stored x scale + offset
(rasterio: dataset.scales, dataset.offsets; QGIS and GDAL apply them on request).""")
@cli.paths_argument(metavar="SCENE...")
@click.option("--dem", required=True, type=cli.DATA_PATH,
              help="ArcticDEM (any CRS; a mosaic or VRT is read only where scenes need it).")
@click.option("--tcvis", required=True, type=cli.DATA_PATH,
              help="Landsat Tasseled-Cap trend raster, 3 bands (brightness, greenness, wetness), 0-255.")
@click.option("--landcover", type=cli.DATA_PATH,
              help="Land-cover raster turned into a 'water' band (no-data counts as water).")
@click.option("--water-classes", default="1", callback=cli.class_codes,
              help="Land-cover class codes that are water (ESRI 10 m: 1).")
@click.option("--tpi-radius", default=100.0, type=click.FloatRange(min=1.0),
              help="Radius (m) of the circle whose mean DEM relative elevation is taken against "
                   "(the DARTS v1 models' DEM layers and darts-nextgen: 100 m).")
@click.option("--slope-method", type=click.Choice(["horn", "four_neighbour"]), default="horn",
              help="Slope operator on the DEM grid: Horn's 3x3 (gdaldem, darts-nextgen) or 4-neighbour "
                   "central differences (Earth Engine's ee.Terrain.slope, behind the DARTS v1 models).")
@click.option("--keep-light-haze", is_flag=True,
              help="Keep pixels whose only udm2 flag is light haze (DARTS v1 drops them).")
@click.option("--scl-invalid", default=",".join(map(str, INVALID_SCL)), show_default=True, callback=cli.class_codes,
              help="Sentinel-2: scene-classification (SCL) classes that make a pixel invalid (0 no data, "
                   "1 saturated or defective, 2 cast shadows, 3 cloud shadows, 8/9 medium/high cloud, "
                   "10 thin cirrus, 11 snow; 4-7 are vegetation, bare, water, unclassified).")
@click.option("--bounds", callback=parse_bounds, metavar="XMIN,YMIN,XMAX,YMAX",
              help="Sentinel-2: only this window of the tile's 10 m grid (in the tile's CRS), snapped outward.")
@click.option("--asset-root", "asset_roots", multiple=True, type=click.Path(file_okay=False, exists=True,
                                                                          path_type=Path),
              help="STAC items: a folder besides the item's own that its local assets may lie in (repeatable); "
                   "an asset elsewhere is an error of that item. URLs are read as they are.")
@click.option("--block", "block_px", default=1024, type=click.IntRange(64),
              help="Block size (px) processed at a time; bounds memory.")
@click.option("--threads", default=2, type=click.IntRange(1), help="Worker threads computing blocks (one per core).")
@cli.out_dir_option()
@cli.http_options
@cli.run_options(TOOL)
def main(paths, dem, tcvis, landcover, water_classes, tpi_radius, slope_method, keep_light_haze, scl_invalid, bounds,
         asset_roots, block_px, threads, out, run):
    """Turn PlanetScope or Sentinel-2 scenes plus ArcticDEM and TCVIS into aligned, masked input stacks.

    Each SCENE becomes OUT/<scene_id>.stack.tif on the scene's own grid, with the bands
    blue green red nir ndvi relative_elevation slope tc_brightness tc_greenness tc_wetness
    (and water), invalid wherever the scene's flags, the DEM or TCVIS say so. A SCENE is
    a PlanetScope SR GeoTIFF or its folder (udm2 and metadata JSON beside it), or a
    Sentinel-2 L2A product: a .SAFE folder, a STAC item JSON, or a folder of per-band
    COGs named like the product (10 m bands B02 B03 B04 B08, validity from SCL;
    reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE, the offset -1000 from
    processing baseline 04.00 on, unless a STAC item says it was applied already).
    """
    options = PrepOptions(tpi_radius_m=tpi_radius, slope_method=slope_method, keep_light_haze=keep_light_haze,
                          water_classes=water_classes, block_px=block_px, threads=threads, scl_invalid=scl_invalid,
                          bounds=bounds, asset_roots=asset_roots)
    ignore_threaded_warp_warnings()
    # the first path first: upstream writes the rasters before any scene; an ItemCollection is one input per Item
    inputs = expand_collections(cli.stream_paths(paths))
    with opened_sources(dem, tcvis, landcover) as sources:
        shared = dict(sources=sources, options=options, version=cli.version_string(TOOL))
        result = run_items(inputs, partial(plan_stack, out=out, **shared), partial(prep_scene, **shared),
                           run, label="prep", out_dirs=[out])
    cli.exit_with(result)


def entry() -> None:
    """The rts-prep console script: the allocator tuned for block work, then the command."""
    tune_allocator_for_blocks()
    main()
