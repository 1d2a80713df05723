"""report.md and its figures, made from the products rts-aggregate has written.

:func:`write_report` reads only the columns it needs from ``h3.parquet``,
``level2.parquet``, ``coverage_level2.parquet``, ``coverage_union.parquet``,
``coverage_intersect.parquet``, ``tracks.parquet`` and ``level1.parquet`` (the last two
for their row counts alone) and writes ``report.md`` with PNG figures under
``report/``:

1. ``report/h3_density.png``: the affected area (%) per H3 cell, one polar map per year
   (as the DARTS density map; cells covered without RTS at 0 %, cells with RTS but no
   coverage in grey);
2. ``report/per_year.png``: the number of Level-2 features and their area per year;
3. ``report/size_distribution.png``: Level-2 areas on logarithmic bins, stacked by year;
4. ``report/detection_ratio.png``: Level-2 detection ratios, stacked by year;
5. ``report/coverage.png``: the area covered by scenes, one polar map per year;
6. with rts-volume's rows (``volume.parquet``, ``--volume``): ``report/volume_pairs.png``,
   the volume change summed per pair of DEM dates with its 1-sigma error, and
   ``report/track_growth.png``, area per year and volume change since the first DEM of
   the largest tracks.

Each figure's numbers are in a CSV file beside it (``report/<name>.csv``, floats
written to round-trip exactly), and also as a table in report.md when short. Missing or
empty products give a figure that says "no data". Reruns give identical files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas

from rts_core import atomic
from rts_core.errors import InputError

FOLDER = "report"
REPORT = "report.md"
VOLUME = "volume.parquet"  # rts-volume's rows, kept by --volume
GROWTH_TRACKS = 6
POLAR_CRS = "EPSG:3413"  # NSIDC sea-ice polar stereographic north: the usual Arctic map
MAX_TABLE_ROWS = 40  # longer data go to the CSV file alone
DPI = 110
SIZE_BINS_PER_DECADE = 4
RATIO_BINS = 10
_PNG = {"dpi": DPI, "metadata": {"Software": None}}  # no version string: identical bytes on reruns


@dataclass
class Section:
    name: str  # file stem under report/
    title: str
    caption: str
    data: pandas.DataFrame
    note: str = ""


# ---------------------------------------------------------------------------- reading


def _read(path: Path, columns: list[str]) -> pandas.DataFrame | None:
    """The ``columns`` of a product present in the file (None when the file is absent)."""
    import pyarrow.parquet as parquet

    if not path.exists():
        return None
    present = set(parquet.read_schema(path).names)
    return parquet.read_table(path, columns=[c for c in columns if c in present]).to_pandas()


def _read_geo(path: Path, columns: list[str]):
    """A product's ``columns`` and geometry as a GeoDataFrame (None when absent)."""
    import geopandas
    import pyarrow.parquet as parquet

    if not path.exists():
        return None
    present = set(parquet.read_schema(path).names)
    return geopandas.read_parquet(path, columns=[c for c in columns if c in present] + ["geometry"])


def _rows(path: Path) -> int | None:
    import pyarrow.parquet as parquet

    return parquet.ParquetFile(path).metadata.num_rows if path.exists() else None


# ---------------------------------------------------------------------------- figures


def _figure(width: float, height: float, layout: str | None = None):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _save(path: Path, figure) -> Path:
    atomic.write_figure(path, figure, **_PNG)
    return path


def _no_data(path: Path, title: str, why: str) -> Path:
    figure = _figure(5, 2)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title, fontsize="medium")
    axes.text(0.5, 0.5, f"no data\n({why})", ha="center", va="center", fontsize="large", color="grey",
              transform=axes.transAxes)
    return _save(path, figure)


def _empty(name: str, title: str, path: Path, why: str, caption: str, columns, note: str = "") -> Section:
    """A section without data: its figure says why, its table has the columns alone."""
    _no_data(path, title, why)
    return Section(name, title, caption, pandas.DataFrame(columns), note)


def _panels(n: int, panel_size: float = 4.2, extra_width: float = 0.0):
    """A figure with ``n`` map panels, at most three a row."""
    columns = min(n, 3)
    rows = math.ceil(n / columns)
    figure = _figure(panel_size * columns + extra_width, panel_size * rows + 0.4, layout="constrained")
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(n)]
    return figure, axes


def _graticule(axes, bounds) -> None:
    """Parallels every 5° and meridians every 30° north of 45°N, in the polar CRS, under
    the data and within ``bounds`` (xmin, ymin, xmax, ymax) once the limits are set."""
    from pyproj import Transformer

    transform = Transformer.from_crs("EPSG:4326", POLAR_CRS, always_xy=True).transform
    longitudes = np.linspace(-180, 180, 721)
    for latitude in range(45, 90, 5):
        axes.plot(*transform(longitudes, np.full_like(longitudes, latitude)), color="0.85", linewidth=0.5, zorder=0)
    latitudes = np.linspace(45, 90, 91)
    for longitude in range(-180, 180, 30):
        axes.plot(*transform(np.full_like(latitudes, longitude), latitudes), color="0.85", linewidth=0.5, zorder=0)
    _limits(axes, bounds)


def polar(frame):
    """``frame`` (EPSG:4326) in the polar CRS, the parts of polygons split at 180° joined
    again (closed by 1 m) so that no seam is drawn through them."""
    import shapely

    projected = frame.to_crs(POLAR_CRS)
    geometries = np.asarray(projected.geometry.values).copy()
    split = shapely.get_type_id(geometries) == 6  # MultiPolygon
    if split.any():
        grown = shapely.buffer(geometries[split], 1.0, join_style="mitre")
        geometries[split] = shapely.buffer(grown, -1.0, join_style="mitre")
    return projected.set_geometry(geometries, crs=POLAR_CRS)


def _limits(axes, bounds) -> None:
    """A square view of ``bounds`` with a margin, at least 20 km across."""
    xmin, ymin, xmax, ymax = bounds
    centre_x, centre_y = (xmin + xmax) / 2, (ymin + ymax) / 2
    half = max(xmax - xmin, ymax - ymin, 20_000.0) * 0.55
    axes.set_xlim(centre_x - half, centre_x + half)
    axes.set_ylim(centre_y - half, centre_y + half)
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_xlabel("")
    axes.set_ylabel("")


def density_section(h3, path: Path) -> Section:
    """Figure 1: affected area (%) per H3 cell, one polar map per year."""
    columns = ["year", "h3_cell", "affected_pct", "rts_area_m2", "covered_area_m2"]
    title = "Affected area (%) per H3 cell"
    if h3 is None or not len(h3):
        _no_data(path, title, "h3.parquet is missing" if h3 is None else "no H3 cell")
        return Section("h3_density", title, "No H3 cell: no Level-2 feature and no coverage.",
                       pandas.DataFrame({c: [] for c in columns}))
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import PowerNorm

    data = pandas.DataFrame({c: h3[c].to_numpy() for c in columns})
    data["year"] = data["year"].astype(np.int64)
    projected = polar(h3)
    years = sorted(data["year"].unique().tolist())
    top = float(np.nanmax(data["affected_pct"])) if data["affected_pct"].notna().any() else 0.0
    norm = PowerNorm(0.5, vmin=0.0, vmax=top if top > 0 else 1.0)
    cmap = colormaps["YlOrRd"]
    figure, panels = _panels(len(years), extra_width=1.0)
    bounds = projected.total_bounds
    values = data["affected_pct"].to_numpy(float)
    for axes, year in zip(panels, years, strict=True):
        mine = (data["year"] == year).to_numpy()
        known = mine & ~np.isnan(values)
        if known.any():
            projected[known].plot(ax=axes, color=cmap(norm(values[known])), edgecolor="0.4", linewidth=0.2)
        if (mine & ~known).any():
            projected[mine & ~known].plot(ax=axes, color="0.8", edgecolor="0.4", linewidth=0.2, hatch="//")
        _graticule(axes, bounds)
        cells = int(mine.sum())
        axes.set_title(f"{year}: {cells} cell{'s' * (cells != 1)}, max {np.nanmax(values[mine], initial=0):.3g} %"
                       if known.any() else f"{year}: {cells} cells, no coverage", fontsize="medium")
    colourbar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=panels, shrink=0.8)
    colourbar.set_label("affected area (%)")
    resolution = int(h3["resolution"].iloc[0]) if "resolution" in h3 else None
    figure.suptitle(title + (f" (H3 resolution {resolution})" if resolution is not None else ""))
    _save(path, figure)
    return Section("h3_density", title,
                   "Per year and H3 cell, the Level-2 area inside the cell as a percentage of the area covered by "
                   "that year's scenes (100 × rts_area_m2 / covered_area_m2; 0 where scenes looked and found no RTS; "
                   "grey, hatched: RTS without coverage, empty affected_pct). Polar stereographic (EPSG:3413), "
                   "graticule every 5° of latitude and 30° of longitude.", data)


def per_year_section(level2, years: list[int], path: Path) -> Section:
    """Figure 2: number of Level-2 features and their area per year, every covered year
    shown (0 where scenes found nothing)."""
    title = "Level-2 features per year"
    if level2 is None:
        level2 = pandas.DataFrame({"year": np.empty(0, np.int64), "area_ha": np.empty(0)})
    grouped = level2.groupby(level2["year"].astype(np.int64))["area_ha"]
    everything = sorted(set(years) | set(grouped.groups))
    data = pandas.DataFrame({"year": np.asarray(everything, np.int64)})
    data["n_features"] = grouped.size().reindex(everything, fill_value=0).to_numpy().astype(np.int64)
    data["area_ha"] = grouped.sum().reindex(everything, fill_value=0.0).to_numpy(float)
    if not len(data):
        _no_data(path, title, "no year")
        return Section("per_year", title, "No year: no Level-2 feature and no coverage.", data)
    figure = _figure(max(6.0, 0.5 * len(data) + 3), 3.4)
    counts, areas = figure.subplots(1, 2)
    labels = data["year"].astype(str)
    counts.bar(labels, data["n_features"], color="#4575b4")
    counts.set_ylabel("Level-2 features")
    areas.bar(labels, data["area_ha"], color="#d73027")
    areas.set_ylabel("area (ha)")
    for axes in (counts, areas):
        axes.set_xlabel("year")
        if len(data) > 8:
            axes.tick_params(axis="x", labelrotation=45)
    figure.suptitle(title)
    figure.tight_layout()
    _save(path, figure)
    return Section("per_year", title, "Number of Level-2 features (left) and their total area in hectares (right) "
                   "per year; years that scenes covered without any feature count 0.", data)


def _stacked_histogram(values, years, edges):
    """Counts per bin (np.histogram's bins: half-open, the last closed) of every value
    and per year, vectorised; values outside the edges or NaN are not counted."""
    values = np.asarray(values, float)
    bins = np.searchsorted(edges, values, side="right") - 1
    bins[values == edges[-1]] = len(edges) - 2
    inside = (bins >= 0) & (bins < len(edges) - 1) & ~np.isnan(values)
    year_list, year_index = np.unique(np.asarray(years, np.int64), return_inverse=True)
    nbins = len(edges) - 1
    flat = np.bincount(year_index[inside] * nbins + bins[inside], minlength=len(year_list) * nbins)
    return year_list, flat.reshape(len(year_list), nbins)


def _histogram_section(name, title, caption, values, years, edges, path, xlabel, log_x, unit="") -> Section:
    year_list, per_year = _stacked_histogram(values, years, edges)
    low, high = f"bin_low{unit}", f"bin_high{unit}"
    data = pandas.DataFrame({low: edges[:-1], high: edges[1:], "n_features": per_year.sum(axis=0)})
    for year, counts in zip(year_list, per_year, strict=True):
        data[f"n_{year}"] = counts
    figure = _figure(6.5, 3.6)
    axes = figure.add_subplot()
    bottom = np.zeros(len(edges) - 1, np.int64)
    colours = _year_colours(len(year_list))
    for year, counts, colour in zip(year_list, per_year, colours, strict=True):
        axes.bar(edges[:-1], counts, np.diff(edges), bottom=bottom, align="edge", color=colour, edgecolor="white",
                 linewidth=0.5, label=str(year))
        bottom = bottom + counts
    if log_x:
        axes.set_xscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("Level-2 features")
    axes.set_title(f"{title} ({int(data['n_features'].sum())} features)", fontsize="medium")
    if len(year_list):
        axes.legend(title="year", fontsize="small", ncols=1 + len(year_list) // 8, frameon=False)
    figure.tight_layout()
    _save(path, figure)
    return Section(name, title, caption, data)


def _year_colours(n: int):
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](x) for x in np.linspace(0, 1, n)]


def size_section(level2, path: Path) -> Section:
    """Figure 3: Level-2 areas on logarithmic bins (four a decade), stacked by year."""
    title = "Size distribution of Level-2 features"
    columns = {"bin_low_m2": [], "bin_high_m2": [], "n_features": []}
    if level2 is None or not len(level2):
        return _empty("size_distribution", title, path, "no Level-2 feature", "No Level-2 feature.", columns)
    area = level2["area_m2"].to_numpy(float)
    positive = area[area > 0]
    note = "" if positive.size == area.size else f"{area.size - positive.size} feature(s) without a positive area " \
                                                 "are not counted."
    if not positive.size:
        return _empty("size_distribution", title, path, "no positive area",
                      "No Level-2 feature with a positive area.", columns, note)
    per = SIZE_BINS_PER_DECADE
    first = math.floor(per * math.log10(positive.min()))
    last = math.ceil(per * math.log10(positive.max()))
    first -= 10 ** (first / per) > positive.min()  # rounding of log10
    last += 10 ** (last / per) < positive.max()
    last = max(last, first + 1)
    edges = 10.0 ** (np.arange(first, last + 1) / per)
    section = _histogram_section(
        "size_distribution", title,
        f"Number of Level-2 features by area (area_m2, {per} logarithmic bins a decade; each bin holds areas from "
        "its low edge up to, not including, its high edge, the last one including it), stacked by year.",
        area, level2["year"], edges, path, "area (m²)", log_x=True, unit="_m2")
    section.note = note
    return section


def detection_section(level2, path: Path) -> Section:
    """Figure 4: Level-2 detection ratios in ten bins from 0 to 1, stacked by year."""
    title = "Detection ratio of Level-2 features"
    columns = {"bin_low": [], "bin_high": [], "n_features": []}
    if level2 is None or not len(level2):
        return _empty("detection_ratio", title, path, "no Level-2 feature", "No Level-2 feature.", columns)
    if "detection_ratio" not in level2:
        return _empty("detection_ratio", title, path, "level2 has no detection_ratio column",
                      "Level 2 has no detection_ratio column (DARTS schema).", columns)
    ratio = level2["detection_ratio"].to_numpy(float)
    top = max(1.0, float(np.nanmax(ratio, initial=1.0)))
    edges = np.linspace(0.0, top, RATIO_BINS + 1)
    missing = int(np.isnan(ratio).sum())
    section = _histogram_section(
        "detection_ratio", title,
        "Number of Level-2 features by detection ratio (n_scenes / n_acquisitions: the share of the year's scenes "
        "covering a feature that detected it; bins half-open, the last closed), stacked by year.",
        ratio, level2["year"], edges, path, "detection ratio", log_x=False)
    section.note = f"{missing} feature(s) without a detection ratio are not counted." if missing else ""
    return section


def coverage_section(coverage, path: Path) -> Section:
    """Figure 5: the area scenes covered, one polar map per year."""
    title = "Coverage per year"
    if coverage is None or not len(coverage):
        _no_data(path, title, "coverage_level2.parquet is missing" if coverage is None else "no covered year")
        return Section("coverage", title, "No covered year.", pandas.DataFrame({"year": [], "area_km2": []}))
    coverage = coverage.sort_values("year", kind="stable")
    data = pandas.DataFrame({"year": coverage["year"].to_numpy(np.int64), "area_km2": coverage["area_km2"].to_numpy()})
    projected = polar(coverage)
    present = projected[~projected.geometry.is_empty]
    bounds = present.total_bounds if len(present) else (-1e5, -1e5, 1e5, 1e5)
    figure, panels = _panels(len(data))
    for axes, (index, row) in zip(panels, data.iterrows(), strict=True):  # one row a year
        shape = projected.iloc[[index]]
        if not shape.geometry.iloc[0].is_empty:
            # a thick edge keeps footprints far smaller than the map visible
            shape.plot(ax=axes, facecolor="#4575b4", edgecolor="#4575b4", linewidth=1.2)
        _graticule(axes, bounds)
        axes.set_title(f"{int(row['year'])}: {row['area_km2']:,.1f} km²", fontsize="medium")
    figure.suptitle(title)
    _save(path, figure)
    return Section("coverage", title, "Union of each year's valid scene footprints (coverage_level2) and its area "
                   "in km² (computed in the equal-area EPSG:6931). Polar stereographic (EPSG:3413).", data)


# ---------------------------------------------------------------------------- report.md


def _pair_labels(frame) -> list[str]:
    return [f"{b:%Y-%m-%d} to {a:%Y-%m-%d}" for b, a in zip(frame["date_before"], frame["date_after"], strict=True)]


def volume_pairs_section(volume, path: Path) -> Section:
    """Figure 6: the volume change of all measured features summed per pair of DEM dates,
    with the 1-sigma error of the sum (errors of different features taken as independent)."""
    title = "Volume change per pair of DEM dates"
    caption = ("Volume change (m³, negative: ground lost) of every feature rts-volume measured, summed per pair "
               "of DEM dates; bars show the 1-sigma error of the sum, features' errors taken as independent.")
    frame = volume.dropna(subset=["volume_change_m3"])
    if not len(frame):
        return _empty("volume_pairs", title, path, "no measured volume", caption,
                      ["date_before", "date_after", "n_features", "volume_change_m3", "volume_change_sigma_m3"])
    grouped = frame.groupby(["date_before", "date_after"])
    data = pandas.DataFrame({"n_features": grouped.size(), "volume_change_m3": grouped["volume_change_m3"].sum(),
                             "volume_change_sigma_m3": grouped["volume_change_sigma_m3"].apply(
                                 lambda s: float(np.sqrt(np.nansum(np.square(s))))),
                             "volume_loss_m3": grouped["volume_loss_m3"].sum()}).reset_index()
    figure = _figure(max(6.0, 1.1 * len(data) + 3), 3.6)
    axes = figure.add_subplot()
    labels = _pair_labels(data)
    axes.bar(labels, data["volume_change_m3"], yerr=data["volume_change_sigma_m3"], color="#8c510a", capsize=4)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylabel("volume change (m³)")
    axes.tick_params(axis="x", labelrotation=30)
    axes.set_title(title, fontsize="medium")
    figure.tight_layout()
    _save(path, figure)
    return Section("volume_pairs", title, caption, data)


def track_growth_section(volume, areas, path: Path) -> Section:
    """Figure 7: the largest tracks (by volume lost over the longest pair) over time:
    Level-2 area per year, and volume change since the first DEM date."""
    title = "Growth of the largest tracks"
    caption = (f"The {GROWTH_TRACKS} tracks that lost most volume: their Level-2 area per year (left) and their "
               "volume change since the first DEM date, with its 1-sigma error (right).")
    columns = ["track_id", "year", "date", "area_ha", "volume_change_m3", "volume_change_sigma_m3"]
    frame = volume.dropna(subset=["volume_change_m3"])
    if not len(frame):
        return _empty("track_growth", title, path, "no measured volume", caption, columns)
    first = frame["date_before"].min()
    since = frame[frame["date_before"] == first]
    span = since.groupby("feature_id")["volume_change_m3"].min().sort_values()
    largest = list(span.index[:GROWTH_TRACKS])
    figure = _figure(10, 3.8)
    area_axes, volume_axes = figure.subplots(1, 2)
    rows = []
    for track in largest:
        own = since[since["feature_id"] == track].sort_values("date_after")
        dates = [first, *own["date_after"]]
        change = [0.0, *own["volume_change_m3"]]
        sigma = [0.0, *own["volume_change_sigma_m3"]]
        line = volume_axes.errorbar(dates, change, yerr=sigma, marker="o", capsize=3, label=track)
        rows += [{"track_id": track, "year": np.nan, "date": d, "area_ha": np.nan, "volume_change_m3": c,
                  "volume_change_sigma_m3": e} for d, c, e in zip(dates, change, sigma, strict=True)]
        if areas is not None and "track_id" in areas.columns:
            yearly = areas[areas["track_id"].astype(str) == track].sort_values("year")
            area_axes.plot(yearly["year"], yearly["area_ha"], marker="o", color=line[0].get_color(), label=track)
            rows += [{"track_id": track, "year": int(y), "date": None, "area_ha": a, "volume_change_m3": np.nan,
                      "volume_change_sigma_m3": np.nan} for y, a in zip(yearly["year"], yearly["area_ha"], strict=True)]
    area_axes.set_xlabel("year")
    area_axes.set_ylabel("Level-2 area (ha)")
    volume_axes.set_xlabel("DEM date")
    volume_axes.set_ylabel(f"volume change since {first:%Y-%m-%d} (m³)")
    volume_axes.legend(fontsize="small")
    figure.suptitle(title)
    figure.autofmt_xdate()
    figure.tight_layout()
    _save(path, figure)
    return Section("track_growth", title, caption, pandas.DataFrame(rows, columns=columns))


def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:,.6g}"
    return str(value)


def markdown_table(frame: pandas.DataFrame) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def summary(level2, coverage, out: Path) -> str:
    """The one-paragraph summary of report.md."""
    n_level2 = 0 if level2 is None else len(level2)
    years = sorted(set(() if level2 is None else level2["year"].astype(int))
                   | set(() if coverage is None else coverage["year"].astype(int)))
    if not n_level2 and not years:
        return "Nothing to report: the products hold no Level-2 feature and no covered year."
    area_ha = 0.0 if level2 is None else float(level2["area_ha"].sum())
    n_level1, n_tracks = _rows(out / "level1.parquet"), _rows(out / "tracks.parquet")
    union = _read(out / "coverage_union.parquet", ["area_km2"])
    intersect = _read(out / "coverage_intersect.parquet", ["area_km2"])
    text = f"{n_level2:,} Level-2 feature{'s' * (n_level2 != 1)}"
    if n_level1 is not None:
        text += f" (from {n_level1:,} Level-1 feature{'s' * (n_level1 != 1)})"
    text += f" covering {area_ha:,.2f} ha ({area_ha / 100:,.4g} km²)"
    if n_tracks is not None:
        text += f" in {n_tracks:,} track{'s' * (n_tracks != 1)}"
    text += f", over {len(years)} year{'s' * (len(years) != 1)} ({', '.join(map(str, years))})."
    if coverage is not None and len(coverage):
        per_year = ", ".join(f"{int(y)}: {a:,.1f} km²" for y, a in
                             zip(coverage["year"], coverage["area_km2"], strict=True))
        text += f" Scenes covered {per_year}"
        if union is not None and len(union):
            text += f"; {float(union['area_km2'].sum()):,.1f} km² in any year"
        if intersect is not None and len(intersect):
            text += f" and {float(intersect['area_km2'].sum()):,.1f} km² in every year"
        text += "."
    return text


def check_folder(out: Path) -> Path:
    """``out``/report/, refused where it leads out of ``out`` (a link elsewhere): the
    report's files would replace files there."""
    out = Path(out)
    folder = out / FOLDER
    if (folder.exists() or folder.is_symlink()) and not folder.resolve().is_relative_to(out.resolve()):
        raise InputError(f"{folder} leads out of the output folder (to {folder.resolve()}): the report is not "
                         "written through it", source=folder)
    return folder


def write_report(out: Path, repeated: Sequence[tuple[str, str]] = ()) -> list[Path]:
    """Write ``out``/report.md and its figures and data under ``out``/report/ from the
    products in ``out``, and the inputs left out as repeats of an acquisition another
    input brings (``repeated``: file, scene kept); returns the written paths (figures,
    CSV files, report.md last)."""
    out = Path(out)
    folder = check_folder(out)
    h3 = _read_geo(out / "h3.parquet", ["h3_cell", "resolution", "year", "rts_area_m2", "covered_area_m2",
                                          "affected_pct"])
    level2 = _read(out / "level2.parquet", ["year", "area_m2", "area_ha", "detection_ratio"])
    coverage = _read_geo(out / "coverage_level2.parquet", ["year", "area_km2"])
    years = [] if coverage is None else coverage["year"].astype(int).tolist()
    sections = [
        density_section(h3, folder / "h3_density.png"),
        per_year_section(level2, years, folder / "per_year.png"),
        size_section(level2, folder / "size_distribution.png"),
        detection_section(level2, folder / "detection_ratio.png"),
        coverage_section(coverage, folder / "coverage.png"),
    ]
    if (out / VOLUME).exists():
        volume = _read(out / VOLUME, ["feature_id", "date_before", "date_after", "volume_change_m3",
                                      "volume_change_sigma_m3", "volume_loss_m3"])
        areas = _read(out / "level2.parquet", ["track_id", "year", "area_ha"])
        sections += [volume_pairs_section(volume, folder / "volume_pairs.png"),
                     track_growth_section(volume, areas, folder / "track_growth.png")]
    written = [folder / f"{s.name}.png" for s in sections]
    lines = ["# RTS products report", "", summary(level2, coverage, out), ""]
    missing = [name for name, frame in (("h3", h3), ("level2", level2), ("coverage_level2", coverage))
               if frame is None]
    if missing:
        lines += [f"Missing product(s): {', '.join(f'{m}.parquet' for m in missing)}.", ""]
    if repeated:
        lines += [f"**One acquisition, counted once.** {len(repeated)} Level-1 input(s) named an acquisition another "
                  "input brings (the same scene id, or one satellite's ids minutes apart, as a product's datatake "
                  "start and its tile's sensing time) and were left out:", "",
                  markdown_table(pandas.DataFrame({"left out": [Path(p).name for p, _ in repeated],
                                                   "scene counted": [s for _, s in repeated]})), ""]
    for number, section in enumerate(sections, 1):
        csv = folder / f"{section.name}.csv"
        atomic.write_text(csv, section.data.to_csv(index=False, lineterminator="\n"))
        written.append(csv)
        link = f"{FOLDER}/{section.name}"
        lines += [f"## {number}. {section.title}", "", f"![{section.title}]({link}.png)", "",
                  f"*Figure {number}. {section.caption}*" + (f" {section.note}" if section.note else ""), ""]
        rows = len(section.data)
        if rows and rows <= MAX_TABLE_ROWS:
            lines += [markdown_table(section.data), ""]
        lines += [f"Data: [{link}.csv]({link}.csv) ({rows} row{'s' * (rows != 1)}).", ""]
    atomic.write_text(out / REPORT, "\n".join(lines))
    written.append(out / REPORT)
    return written
