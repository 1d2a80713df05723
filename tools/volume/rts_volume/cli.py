"""Command line of rts-volume: dated DEMs + features -> elevation and volume change."""

from __future__ import annotations

from pathlib import Path

import click

from rts_core import cli
from rts_core.errors import InputError, RunError
from rts_core.runner import emit

from .coregistration import MAX_FIT_PX, StableTerrainRules
from .pair import WINDOW_PX, PairOptions
from .volume import TOOL, measure_volumes


@cli.command(TOOL, TOOL, epilog="""Examples:

\b
  rts-volume strips/ --features products/tracks.parquet -o volume
  rts-volume SETSM_*_2019*_dem.tif SETSM_*_2022*_dem.tif --features products/level2.parquet -o volume
  ls strips/*_dem.tif | rts-volume - --features tracks.parquet --water lakes.gpkg -o volume

A DEM's date is its RTS_ACQUIRED tag, else the first YYYYMMDD in its name (ArcticDEM
strips: SETSM_s2s041_WV01_20200801_..._dem.tif); a folder gives its *_dem.tif files.
Every pair of dates (--pairs) whose DEMs share ground with a feature is measured: the
later DEM is co-registered onto the earlier one on stable terrain (off every feature by
--stable-buffer-m, off --water, valid in both, under --max-slope) with xdem's Nuth &
Kaab fit and a ramp, then differenced.

Writes volume.parquet (one row per feature and pair: dh, volume change and loss with
their 1-sigma error, area of loss, coverage, the shifts applied; EPSG:4326) and prints
its path; pairs.parquet (one row per pair: shifts, stable terrain, error model) and
dh_<before>_<after>.tif (COG, metres, later minus earlier) beside it.

Uncertainty follows Hugonnet et al. (2022): sigma_dh by slope from stable terrain, and
its spatial correlation (a variogram) for the error of each feature's mean. A pair that
cannot be co-registered (too little or too rough stable terrain) is an error line for
that pair and exit status 1; the other pairs still complete. Voids are filled with the
feature's own mean and reported as coverage; under --min-coverage a feature gets none.""")
@cli.paths_argument(metavar="DEM...")
@click.option("--features", "features_path", required=True, type=cli.DATA_PATH,
              help="Polygons to measure, with an id (track_id, else id, else the row number) and optional year: "
                   "rts-aggregate's tracks.parquet (one outline per slump over all years, the usual choice) or "
                   "level2.parquet (one per year; then also the headwall retreat between the pair's years).")
@cli.out_dir_option()
@click.option("--water", "water_path", type=cli.DATA_PATH,
              help="Water polygons kept out of stable terrain (lakes, rivers, sea).")
@click.option("--pairs", type=click.Choice(["all", "consecutive"]), default="all",
              help="Measure every pair of dates, or each date with the next only.")
@click.option("--no-coregistration", "no_coregistration", is_flag=True,
              help="Difference the DEMs as they are (to see what co-registration changes).")
@click.option("--no-deramp", "no_deramp", is_flag=True,
              help="Fit no ramp after the shift (by default a first-order ramp, a tilt, is fitted and removed).")
@click.option("--stable-buffer-m", type=click.FloatRange(0), default=StableTerrainRules.feature_buffer_m,
              help="Buffer around every feature kept out of stable terrain (metres).")
@click.option("--max-slope", "max_slope_deg", type=click.FloatRange(1, 90), default=StableTerrainRules.max_slope_deg,
              help="Steepest stable terrain (degrees).")
@click.option("--min-stable-km2", type=click.FloatRange(0), default=StableTerrainRules.min_area_m2 / 1e6,
              help="Least stable terrain a pair needs to be co-registered (km2).")
@click.option("--max-stable-nmad", "max_stable_nmad_m", type=click.FloatRange(0, min_open=True),
              default=StableTerrainRules.max_nmad_m,
              help="Largest spread (NMAD, metres) of stable-terrain differences after co-registration; "
                   "rougher pairs are errors.")
@click.option("--buffer-m", type=click.FloatRange(0), default=PairOptions.buffer_m,
              help="Measure each feature within its outline grown by this much (metres): an outline mapped at "
                   "3 m misses the rim, and a DEM smooths a headwall over a few pixels. Must stay under "
                   "--stable-buffer-m.")
@click.option("--min-coverage", type=click.FloatRange(0, 1), default=0.5,
              help="Least share of a feature with valid differences for it to get figures.")
@click.option("--max-fit-px", type=click.IntRange(10_000), default=MAX_FIT_PX,
              help="Most pixels of the grid the co-registration and error model are fitted on (the overlap is "
                   "sampled every 3rd, 5th... pixel beyond); bounds memory.")
@click.option("--variogram-samples", type=click.IntRange(100), default=2000,
              help="Stable pixels sampled for the variogram of errors.")
@click.option("--seed", type=int, default=0, help="Seed of the random samples (results repeat exactly).")
@cli.run_options(TOOL)
def main(paths, features_path, out, water_path, pairs, no_coregistration, no_deramp, stable_buffer_m, max_slope_deg,
         min_stable_km2, max_stable_nmad_m, buffer_m, min_coverage, max_fit_px, variogram_samples, seed, run):
    """Elevation and volume change of each feature between dated DEMs, with 1-sigma uncertainty."""
    if buffer_m >= stable_buffer_m:
        raise click.BadParameter(f"{buffer_m:g} m: the measured outline would reach stable terrain "
                                 f"(--stable-buffer-m {stable_buffer_m:g})", param_hint="--buffer-m")
    rules = StableTerrainRules(feature_buffer_m=stable_buffer_m, max_slope_deg=max_slope_deg,
                               min_area_m2=min_stable_km2 * 1e6, max_nmad_m=max_stable_nmad_m)
    options = PairOptions(rules=rules, coregister=not no_coregistration, deramp=not no_deramp, max_fit_px=max_fit_px,
                          min_coverage=min_coverage, buffer_m=buffer_m, variogram_samples=variogram_samples,
                          window_px=WINDOW_PX, seed=seed)
    try:
        result = measure_volumes(cli.expand_paths(paths), features_path, out, options, water_path=water_path,
                                 pairs=pairs, run=run)
    except InputError as exc:  # the features or water file: a run-level input
        raise RunError(getattr(exc, "source", None) or features_path, str(exc)) from None
    if "volume" in result.products:
        emit([Path(result.products["volume"])])
    cli.exit_with(failed=result.failed)
