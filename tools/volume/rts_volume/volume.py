"""rts-volume over files: DEMs and features in, ``volume.parquet``, ``pairs.parquet`` and
one ``dh_<before>_<after>.tif`` per pair out (CONTRACT.md section 7).

Each pair is one item of the contract's runner: it writes its dh COG and its rows (a
part file under ``DIR/parts/``, the pair's record in its metadata), so a killed run
loses at most the pair at work and a rerun skips the pairs already measured. The
products are then assembled from the parts of every pair of the run.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from rts_core import atomic, cli, geoparquet, raster
from rts_core import crs as crs_tools
from rts_core.errors import InputError, blamed, report_error
from rts_core.fingerprints import fingerprint
from rts_core.runner import Plan, RunOptions, RunResult, run_items

from .dems import Dem, dem_pairs, expand_dem_paths, open_dem
from .features import WORK_CRS, Features, read_features
from .pair import PairOptions, PairResult, covered_features, headwall_retreat_m, measure_pair, pair_grid

log = logging.getLogger(__name__)

TOOL = "rts-volume"
VOLUME_NAME, PAIRS_NAME, PARTS_FOLDER = "volume.parquet", "pairs.parquet", "parts"
RECORD_KEY = "rts:pair"
VOLUME_COLUMNS = ["feature_id", "date_before", "date_after", "dh_mean_m", "dh_min_m", "volume_change_m3",
                  "volume_loss_m3", "volume_change_sigma_m3", "area_loss_m2", "coverage", "coreg_shift_x_m",
                  "coreg_shift_y_m", "coreg_shift_z_m"]


@dataclass
class VolumeResult:
    products: dict[str, Path]
    result: RunResult

    @property
    def failed(self) -> bool:
        return bool(self.result.failed)


def dh_name(before: Dem, after: Dem) -> str:
    return f"dh_{before.stamp}_{after.stamp}.tif"


def pair_rows(result: PairResult, features: Features, before: Dem, after: Dem) -> gpd.GeoDataFrame:
    """The pair's rows of ``volume.parquet`` (geometry in the work CRS)."""
    figures = result.figures
    index = figures["feature"].to_numpy()
    co = result.coregistration
    rows = pd.DataFrame({"feature_id": features.ids[index]})
    if features.year is not None:
        rows["year"] = features.year[index]
    rows["date_before"], rows["date_after"] = before.acquired, after.acquired
    for column in VOLUME_COLUMNS[3:10]:
        rows[column] = figures[column].to_numpy()
    rows["coreg_shift_x_m"], rows["coreg_shift_y_m"] = co.shift_x_m, co.shift_y_m
    rows["coreg_shift_z_m"] = result.vertical_shift_m
    rows["area_m2"] = features.area_m2[index]
    rows["measured_area_m2"] = figures["measured_area_m2"].to_numpy()
    rows["headwall_retreat_m"] = retreat_for(features, index, before.acquired.year, after.acquired.year)
    rows["dem_before"], rows["dem_after"] = Path(before.path).name, Path(after.path).name
    return gpd.GeoDataFrame(rows, geometry=features.geometries[index], crs=WORK_CRS)


def retreat_for(features: Features, index: np.ndarray, year_before: int, year_after: int) -> np.ndarray:
    """Headwall retreat between the years of a pair's dates, for features whose track has
    an outline in both years (Level 2); NaN otherwise."""
    retreat = np.full(len(index), math.nan)
    if features.year is None:
        return retreat
    outlines = {(i, y): g for i, y, g in zip(features.ids, features.year, features.geometries, strict=True)}
    for row, feature in enumerate(index):
        key = features.ids[feature]
        earlier, later = outlines.get((key, year_before)), outlines.get((key, year_after))
        if earlier is not None and later is not None:
            retreat[row] = headwall_retreat_m(earlier, later)
    return retreat


def pair_record(result: PairResult, before: Dem, after: Dem, n_rows: int) -> dict:
    co = result.coregistration
    return {"date_before": before.acquired.isoformat(), "date_after": after.acquired.isoformat(),
            "dem_before": Path(before.path).name, "dem_after": Path(after.path).name,
            "coreg_shift_x_m": co.shift_x_m, "coreg_shift_y_m": co.shift_y_m,
            "coreg_shift_z_m": result.vertical_shift_m, "ramp": list(co.ramp_params or []),
            "fit_step": co.step, "stable_area_m2": co.stable_area_m2, "stable_dh_nmad_before_m": co.nmad_before_m,
            "stable_dh_nmad_m": co.nmad_m, "stable_dh_median_m": co.median_m, **result.error_model.describe(),
            "n_features": n_rows, "overlap_wkb": shapely.to_wkb(result.overlap, hex=True),
            "crs": before.crs.to_string()}


def measure_volumes(dem_paths: Sequence[str], features_path: str | Path, out: str | Path,
                    options: PairOptions = PairOptions(), *, water_path: str | Path | None = None,
                    pairs: str = "all", run: RunOptions = RunOptions(TOOL)) -> VolumeResult:
    """Measure every feature in every DEM pair that covers it; see the module docstring.
    Returns the products' paths and the run's result (pairs done, skipped, failed)."""
    out = Path(out)
    features = _read_polygons(features_path)  # a bad feature file stops the run: nothing can be measured
    water = _read_polygons(water_path) if water_path is not None else None
    dems, failed = _open_dems(dem_paths, run)
    chosen = []
    for before, after in dem_pairs(dems, pairs):
        if len(covered_features(before, after, features)):
            chosen.append((before, after))
        else:
            log.info("%s and %s: no feature in their common extent; pair skipped", Path(before.path).name,
                     Path(after.path).name)
    settings = (asdict(options), pairs, cli.version_string(TOOL))
    inputs = [features_path, *([water_path] if water_path else [])]
    parts = out / PARTS_FOLDER

    def plan(pair: tuple[Dem, Dem]) -> Plan:
        before, after = pair
        name = dh_name(before, after)
        stamp = fingerprint([before.path, after.path, *inputs], *settings)
        return Plan([out / name, parts / name.replace(".tif", ".parquet")], printed=[], fingerprint=stamp,
                    data=pair, source=after.path)

    def work(item: Plan) -> None:
        before, after = item.data
        log.info("pair %s -> %s", before.acquired, after.acquired)
        _measure_one(before, after, features, options, water, item.outputs[0], item.outputs[1],
                     item.fingerprint_of(0))

    result = run_items(chosen, plan, work, run, label="pairs", source=lambda p: p[1].path,
                       out_dirs=[out, parts] if chosen else [])
    result.failed.extend(failed)
    measured = [p for p in chosen if p in result.done or p in result.skipped]
    if result.failed and not measured:
        return VolumeResult({}, result)  # nothing measured: no product that would look like an answer
    products = _assemble(out, [plan(p).outputs[1] for p in measured], settings, inputs)
    return VolumeResult(products, result)


def _read_polygons(path) -> Features:
    try:
        return read_features(path)
    except Exception as exc:  # noqa: BLE001 - named for the one error line
        raise blamed(path, exc) from None


def _open_dems(paths: Sequence[str], run: RunOptions) -> tuple[list[Dem], list[str]]:
    """The DEMs that open, are dated and have a date of their own; one error line for each other."""
    dems, failed, dates = [], [], {}
    for path in paths:
        try:
            for found in expand_dem_paths([path]):
                try:
                    dem = open_dem(found)
                    if dem.acquired in dates:
                        raise InputError(f"has the date {dem.acquired} of {dates[dem.acquired]}: give one DEM per "
                                         "date (mosaic strips of one date into a VRT)")
                    dates[dem.acquired] = found
                    dems.append(dem)
                except Exception as exc:  # noqa: BLE001 - isolate every failure to its input
                    report_error(found, exc, debug=run.debug)
                    failed.append(found)
        except InputError as exc:
            report_error(path, exc, debug=run.debug)
            failed.append(path)
    return dems, failed


def _measure_one(before: Dem, after: Dem, features: Features, options: PairOptions, water: Features | None,
                 dh_path: Path, part_path: Path, stamp: str) -> None:
    """Measure one pair, writing its dh COG and its part file (both atomically: the COG
    appears only if the whole pair was measured)."""
    grid, _, _ = pair_grid(before, after)
    tags = {"RTS_VERSION": cli.version_string(TOOL), "RTS_FINGERPRINT": stamp, "UNITS": "metre",
            "RTS_DATE_BEFORE": before.acquired.isoformat(), "RTS_DATE_AFTER": after.acquired.isoformat()}
    with raster.CogWriter(dh_path, width=grid.width, height=grid.height, count=1, dtype="float32", crs=grid.crs,
                          transform=grid.transform, nodata=float("nan"), tags=tags, band_descriptions=("dh",),
                          compress="deflate", compress_level=1) as writer:
        result = measure_pair(before, after, features, options,
                              water=water.in_crs(before.crs) if water is not None else (),
                              write_dh=lambda dh, window: writer.write(dh.astype(np.float32), window=window))
    rows = pair_rows(result, features, before, after)
    record = pair_record(result, before, after, len(rows))
    try:
        geoparquet.write(rows, part_path, fingerprint=stamp, metadata={RECORD_KEY: json.dumps(record)})
    except BaseException:
        atomic.remove_quietly(dh_path)
        raise


def _assemble(out: Path, part_paths: list[Path], settings, inputs) -> dict[str, Path]:
    """``volume.parquet`` and ``pairs.parquet`` from the pairs' part files (EPSG:4326)."""
    frames, records = [], []
    for path in part_paths:
        frames.append(geoparquet.read(path))
        records.append(json.loads(geoparquet.metadata_of(path)[RECORD_KEY]))
    if frames:
        volume = pd.concat(frames, ignore_index=True)
        volume = gpd.GeoDataFrame(volume, geometry="geometry", crs=frames[0].crs)
    else:
        volume = gpd.GeoDataFrame({c: pd.Series(dtype=float) for c in VOLUME_COLUMNS}, geometry=[], crs=WORK_CRS)
    for column in ("date_before", "date_after"):
        volume[column] = pd.to_datetime(volume[column]).dt.date if len(volume) else volume[column]
    volume = crs_tools.to_geographic(volume.to_crs(WORK_CRS) if volume.crs != WORK_CRS else volume)
    pair_table = pd.DataFrame(records)
    geometries = [crs_tools.project(shapely.from_wkb(r["overlap_wkb"]), r["crs"], WORK_CRS) for r in records]
    pair_frame = gpd.GeoDataFrame(pair_table.drop(columns=["overlap_wkb", "ramp"], errors="ignore"),
                                  geometry=geometries, crs=WORK_CRS)
    for column in ("variogram_ranges_m", "variogram_sills", "patch_areas_m2", "patch_standard_errors"):
        if column in pair_frame:
            pair_frame[column] = pair_frame[column].map(json.dumps)
    pair_frame = crs_tools.to_geographic(pair_frame)
    stamp = fingerprint([*inputs, *part_paths], *settings)
    volume_path = geoparquet.write(volume, out / VOLUME_NAME, fingerprint=stamp)
    pairs_path = geoparquet.write(pair_frame, out / PAIRS_NAME, fingerprint=stamp)
    return {"volume": volume_path, "pairs": pairs_path}
