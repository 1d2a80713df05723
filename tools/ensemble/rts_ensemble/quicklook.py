"""A scene's quicklook PNG (``<scene_id>.quicklook.png``): what the clean-up kept and
dropped, and why, at about 1024 px on the long side.

- Background: a false-colour image of the scene's stack (``nir red green`` as RGB, bands
  found by name, each stretched between its 2nd and 98th percentile), read decimated
  (``out_shape``: a COG's overviews serve it), or, without a stack, the ensemble
  probability in a colour map (Blues_r: 0 dark blue, 1 white).
- No-data (invalid in the ensemble, what the clean-up's edge rule grows from): a flat
  grey overlay, hatched.
- Level-1 polygons: yellow outlines.
- Dropped objects: magenta outlines, each labelled with the rules it failed (``edge``,
  ``size``, ``water``, joined by ``+``), exactly as :func:`rts_ensemble.cleanup.clean_objects`
  returned them.

Every outline and label has a thin black halo, so each reads on any background. The
figure is drawn on its own :class:`matplotlib.figure.Figure` with the Agg canvas (no
pyplot state) and saved atomically.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import array_bounds

from rts_core import atomic, contract

log = logging.getLogger(__name__)

LONG_SIDE_PX = 1024
FALSE_COLOUR = ("nir", "red", "green")
LEVEL1_COLOUR = "#ffff00"
DROPPED_COLOUR = "#ff33ff"
INVALID_COLOUR = (0.5, 0.5, 0.5, 0.75)
PROBABILITY_CMAP = "Blues_r"
MAX_LABELS = 400  # labels on the largest dropped objects beyond this many (outlines on all)
SUFFIX = ".quicklook.png"


def quicklook_name(scene_id: str) -> str:
    return f"{contract.safe_name(scene_id, 'scene id')}{SUFFIX}"


@dataclass
class SceneLayers:
    """What one quicklook shows, in the scene's CRS: the ensemble probability and
    validity (full resolution; only a strided view of them is drawn), the Level-1
    geometries, the dropped geometries with their reasons, and the stack, if any."""

    scene_id: str
    probability: np.ndarray
    valid: np.ndarray
    transform: object
    crs: object
    level1: Sequence = ()
    dropped: Sequence[tuple[object, tuple[str, ...]]] = ()
    stack: Path | None = None
    notes: list[str] = field(default_factory=list)


def decimation(shape: tuple[int, int], long_side: int = LONG_SIDE_PX) -> int:
    """The whole-pixel step that brings the longer side to at most ``long_side``."""
    return max(1, math.ceil(max(shape) / long_side))


def bounds_of(transform, shape) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of a north-up grid: matplotlib's ``extent``."""
    west, south, east, north = array_bounds(shape[0], shape[1], transform)
    return west, east, south, north


def stretch(band: np.ndarray, valid: np.ndarray, low: float = 2, high: float = 98) -> np.ndarray:
    """``band`` scaled to 0-1 between its ``low`` and ``high`` percentiles over valid pixels."""
    values = band[valid]
    if values.size == 0:
        return np.zeros(band.shape, np.float32)
    lo, hi = np.percentile(values, (low, high))
    return np.clip((band - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def read_false_colour(path: Path, long_side: int = LONG_SIDE_PX):
    """The stack's nir, red and green (by band name) as an RGB image (rows, cols, 3) of
    at most ``long_side`` px, read decimated, black where invalid; with its extent and
    CRS. The full-resolution stack is never read."""
    with rasterio.open(path) as dataset:
        names = list(dataset.descriptions)
        missing = [b for b in FALSE_COLOUR if b not in names]
        if missing:
            raise ValueError(f"stack lacks band(s) {', '.join(missing)}")
        indexes = [names.index(b) + 1 for b in FALSE_COLOUR]
        step = max(dataset.height, dataset.width) / long_side
        shape = (dataset.height, dataset.width) if step <= 1 else (
            max(1, round(dataset.height / step)), max(1, round(dataset.width / step)))
        stored = dataset.read(indexes, out_shape=(3, *shape), resampling=Resampling.average, out_dtype=np.float32)
        valid = dataset.dataset_mask(out_shape=shape) > 0
        for i, index in enumerate(indexes):
            stored[i] = stored[i] * dataset.scales[index - 1] + dataset.offsets[index - 1]
        extent = bounds_of(dataset.transform, (dataset.height, dataset.width))
        crs = dataset.crs
    valid &= np.isfinite(stored).all(axis=0)
    image = np.stack([stretch(band, valid) for band in stored], axis=-1)
    image[~valid] = 0
    return image, extent, crs


def rings(geometries) -> list[np.ndarray]:
    """Every exterior and interior ring of (multi)polygons, as (n, 2) coordinate arrays."""
    lines = []
    for geometry in geometries:
        if geometry is None or geometry.is_empty:
            continue
        for polygon in getattr(geometry, "geoms", [geometry]):
            if polygon.geom_type != "Polygon":
                continue
            lines.append(np.asarray(polygon.exterior.coords))
            lines.extend(np.asarray(ring.coords) for ring in polygon.interiors)
    return lines


def reason_label(reasons: Sequence[str]) -> str:
    return "+".join(reasons) if reasons else "dropped"


def figure_size(shape: tuple[int, int], long_side: int = LONG_SIDE_PX, dpi: int = 128) -> tuple[float, float]:
    """Figure size in inches: ``long_side`` px on the scene's longer side, the shorter in
    proportion (at least a quarter of it; the map keeps its aspect inside)."""
    rows, cols = shape
    ratio = min(rows, cols) / max(rows, cols)
    short = max(round(long_side * ratio), long_side // 4)
    width, height = (long_side, short) if cols >= rows else (short, long_side)
    return width / dpi, height / dpi


def draw(layers: SceneLayers, long_side: int = LONG_SIDE_PX, dpi: int = 128):
    """The quicklook as a matplotlib Figure (Agg canvas): the background, no-data, the
    Level-1 outlines, the dropped objects with why, a legend and a title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shape = layers.probability.shape
    step = decimation(shape, long_side)
    extent = bounds_of(layers.transform, shape)
    figure = Figure(figsize=figure_size(shape, long_side, dpi), dpi=dpi, facecolor="black")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_facecolor("black")
    background = _draw_background(figure, axes, layers, step, extent, long_side)
    _draw_no_data(axes, ~layers.valid[::step, ::step], extent)
    dropped = [(g, r) for g, r in layers.dropped if g is not None and not g.is_empty]
    _draw_outlines(axes, layers.level1, dropped)
    axes.set_xlim(extent[0], extent[1])
    axes.set_ylim(extent[2], extent[3])
    axes.set_aspect("equal")
    _draw_legend(axes, len(layers.level1), dropped)
    title = f"{layers.scene_id}  ·  {background}"
    if len(dropped) > MAX_LABELS:
        title += f"  ·  labels on the {MAX_LABELS} largest dropped"
    if layers.notes:
        title += "  ·  " + ", ".join(layers.notes)
    axes.text(0.01, 0.99, title, transform=axes.transAxes, ha="left", va="top", fontsize=8, color="white",
              zorder=7, bbox={"facecolor": "black", "alpha": 0.7, "edgecolor": "none", "pad": 3})
    return figure


def _draw_background(figure, axes, layers: SceneLayers, step: int, extent, long_side: int) -> str:
    """The stack in false colour where it can be used, else the probability with its
    colour bar; returns which."""
    if layers.stack is not None:
        try:
            rgb, stack_extent, stack_crs = read_false_colour(layers.stack, long_side)
            if stack_crs is not None and layers.crs is not None and stack_crs != layers.crs:
                raise ValueError(f"stack CRS {stack_crs} is not the probability's {layers.crs}")
            axes.imshow(rgb, extent=stack_extent, interpolation="nearest")
            return "false colour nir/red/green"
        except (OSError, ValueError, rasterio.errors.RasterioError) as exc:
            log.warning("%s: quicklook on the probability, the stack %s cannot be used (%s)", layers.scene_id,
                        layers.stack, exc)
            layers.notes.append("stack unusable")
    shown = layers.probability[::step, ::step]
    mapped = axes.imshow(shown, extent=extent, cmap=PROBABILITY_CMAP, vmin=0, vmax=1, interpolation="nearest")
    bar = axes.inset_axes((0.02, 0.06, 0.22, 0.02))
    figure.colorbar(mapped, cax=bar, orientation="horizontal", ticks=[0, 0.5, 1])
    bar.tick_params(colors="white", labelsize=7)
    bar.set_title("probability", color="white", fontsize=7, pad=2)
    return "ensemble probability"


def _draw_no_data(axes, invalid: np.ndarray, extent) -> None:
    """No-data shaded and hatched."""
    if not invalid.any():
        return
    overlay = np.zeros((*invalid.shape, 4), np.float32)
    overlay[invalid] = INVALID_COLOUR
    axes.imshow(overlay, extent=extent, interpolation="nearest")
    rows, cols = invalid.shape
    xs = np.linspace(extent[0], extent[1], cols)
    ys = np.linspace(extent[3], extent[2], rows)
    hatch = axes.contourf(xs, ys, invalid.astype(np.float32), levels=[0.5, 1.5], colors="none", hatches=["////"])
    hatch.set_edgecolor((0.15, 0.15, 0.15, 1.0))
    hatch.set_linewidth(0)


def _draw_outlines(axes, level1, dropped) -> None:
    """Level-1 outlines, and the dropped objects' outlines labelled with why (the
    largest :data:`MAX_LABELS` of them)."""
    from matplotlib import patheffects
    from matplotlib.collections import LineCollection

    halo = [patheffects.Stroke(linewidth=3.2, foreground="black"), patheffects.Normal()]
    outlines = rings(level1)
    if outlines:
        axes.add_collection(LineCollection(outlines, colors=LEVEL1_COLOUR, linewidths=1.6, path_effects=halo,
                                           zorder=4))
    if not dropped:
        return
    axes.add_collection(LineCollection(rings(g for g, _ in dropped), colors=DROPPED_COLOUR, linewidths=1.4,
                                       path_effects=halo, zorder=5))
    text_halo = [patheffects.withStroke(linewidth=2.4, foreground="black")]
    for geometry, reasons in sorted(dropped, key=lambda item: item[0].area, reverse=True)[:MAX_LABELS]:
        point = geometry.representative_point()
        axes.annotate(reason_label(reasons), (point.x, geometry.bounds[3]), xytext=(0, 3),
                      textcoords="offset points", ha="center", va="bottom", fontsize=7, color=DROPPED_COLOUR,
                      path_effects=text_halo, zorder=6, annotation_clip=True)


def _draw_legend(axes, n_level1: int, dropped) -> None:
    """Level 1 and dropped counts (with the reasons) and no-data."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    counts: dict[str, int] = {}
    for _, reasons in dropped:
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    why = ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))
    handles = [Line2D([], [], color=LEVEL1_COLOUR, lw=2, label=f"Level 1 ({n_level1})"),
               Line2D([], [], color=DROPPED_COLOUR, lw=2, label=f"dropped ({len(dropped)}{': ' + why if why else ''})"),
               Patch(facecolor=INVALID_COLOUR, edgecolor=(0.15, 0.15, 0.15), hatch="////", label="no data")]
    legend = axes.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.75, facecolor="black",
                         edgecolor="white", labelcolor="white")
    legend.set_zorder(7)


def write_quicklook(path: Path, layers: SceneLayers, long_side: int = LONG_SIDE_PX) -> None:
    """Draw and save the quicklook atomically (a temporary name, then the rename)."""
    dpi = 128
    atomic.write_figure(path, draw(layers, long_side, dpi), dpi=dpi, facecolor="black")
