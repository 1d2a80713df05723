"""H3 density: exact areas of polygons inside H3 cells, per year.

Cells are built as polygons in the work CRS (EPSG:6931) from their H3 vertices, each
edge densified along its great circle, so neighbouring cells share identical edges and
tile the plane without gaps or overlaps. Polygons are then cut exactly at cell edges
with vectorised shapely intersections. Candidate cells are H3's own polygon-to-cells
(every cell overlapping the polygon) plus the cell of a point inside it, grown by grid
rings until the pieces of every polygon add up to its whole area (H3's edges are great
circles, ours straight lines in EPSG:6931), so no part is ever lost.
"""

from __future__ import annotations

import logging

import h3
import numpy as np
import pandas
import shapely
from pyproj import Transformer

log = logging.getLogger(__name__)
_EDGE_POINTS = 4  # points inserted on each cell edge (great-circle densification)
_MAX_RINGS = 6


def _unit_vectors(lat_deg, lon_deg):
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def cell_polygons(cells: list[str], crs) -> np.ndarray:
    """Polygons of H3 cells in ``crs``, edges densified along great circles."""
    if not cells:
        return np.empty(0, dtype=object)
    boundaries = [np.asarray(h3.cell_to_boundary(cell)) for cell in cells]
    sizes = np.array([len(b) for b in boundaries])
    start = np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    latlng = np.concatenate(boundaries)
    # each vertex to the next one of its own cell, wrapping round
    following = start + (np.arange(len(latlng)) - start + 1) % np.repeat(sizes, sizes)
    # a shared edge is walked one way by one cell and the other way by its neighbour:
    # interpolate it in one canonical direction so both get bit-identical points
    swap = (latlng[:, 0] > latlng[following, 0]) | (
        (latlng[:, 0] == latlng[following, 0]) & (latlng[:, 1] > latlng[following, 1]))
    low = _unit_vectors(*np.where(swap[:, None], latlng[following], latlng).T)
    high = _unit_vectors(*np.where(swap[:, None], latlng, latlng[following]).T)
    fractions = np.arange(1, _EDGE_POINTS + 1) / (_EDGE_POINTS + 1)
    angle = np.arccos(np.clip(np.einsum("ij,ij->i", low, high), -1, 1))[:, None]
    safe = np.where(angle > 1e-12, np.sin(angle), 1.0)
    weight_low = np.where(angle > 1e-12, np.sin((1 - fractions) * angle) / safe, 1 - fractions)
    weight_high = np.where(angle > 1e-12, np.sin(fractions * angle) / safe, fractions)
    inner = weight_low[..., None] * low[:, None, :] + weight_high[..., None] * high[:, None, :]
    inner = np.where(swap[:, None, None], inner[:, ::-1, :], inner)
    inner_lat = np.degrees(np.arcsin(np.clip(inner[..., 2] / np.linalg.norm(inner, axis=-1), -1, 1)))
    inner_lon = np.degrees(np.arctan2(inner[..., 1], inner[..., 0]))
    # per edge: its first vertex as H3 gives it, then the interpolated points
    lat = np.concatenate([latlng[:, :1], inner_lat], axis=1).ravel()
    lon = np.concatenate([latlng[:, 1:], inner_lon], axis=1).ravel()
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    rings = shapely.linearrings(np.column_stack([x, y]),
                                indices=np.repeat(np.arange(len(cells)), sizes * (_EDGE_POINTS + 1)))
    return shapely.polygons(rings)


def candidate_cells(geometries, resolution: int, crs) -> pandas.DataFrame:
    """(owner, cell): the H3 cells overlapping each polygon's outline by H3's
    polygon-to-cells, and the cell of a point on each polygon's surface (a seed even
    where H3's spherical test finds none)."""
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    owners, cells = [], []
    # a polygon smaller than a cell's edge reaches only its point's cell and the ring
    # around it, which the ring growth finds: H3's own search is for the large ones
    bounds = shapely.bounds(geometries)
    small = np.hypot(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) < h3.average_hexagon_edge_length(
        resolution, unit="m")
    for owner in np.flatnonzero(~small):
        geometry = geometries[owner]
        for part in shapely.get_parts(geometry):
            lon, lat = to_lonlat.transform(*np.asarray(part.exterior.coords).T)
            found = h3.h3shape_to_cells_experimental(h3.LatLngPoly(list(zip(lat, lon, strict=True))), resolution,
                                                     contain="overlap")
            cells += found
            owners += [int(owner)] * len(found)
    points = shapely.point_on_surface(geometries)
    lon, lat = to_lonlat.transform(shapely.get_x(points), shapely.get_y(points))
    cells += [h3.latlng_to_cell(a, b, resolution) for a, b in zip(lat, lon, strict=True)]
    owners += list(range(len(geometries)))
    return pandas.DataFrame({"owner": owners, "cell": cells}).drop_duplicates()


class CellCache:
    """H3 cells and their polygons in ``crs``, computed once each (cell ids carry their
    resolution, so the cache needs no resolution of its own)."""

    def __init__(self, crs):
        self.crs = crs
        self.polygons: dict[str, object] = {}

    def add(self, cells) -> None:
        new = sorted(set(cells) - self.polygons.keys())
        for cell, polygon in zip(new, cell_polygons(new, self.crs), strict=True):
            self.polygons[cell] = polygon


def overlay(geometries, resolution: int, crs, cache: CellCache | None = None) -> pandas.DataFrame:
    """Every non-empty piece of each geometry cut by H3 cells: a frame with ``index``
    (into ``geometries``), ``h3_cell`` and ``area_m2`` (area in ``crs``, which should be
    equal-area). The pieces of each geometry add up to its area."""
    geometries = np.asarray(geometries, dtype=object)
    cache = cache or CellCache(crs)
    empty = pandas.DataFrame({"index": np.empty(0, int), "h3_cell": np.empty(0, object), "area_m2": np.empty(0)})
    keep = ~shapely.is_empty(geometries) & (shapely.area(geometries) > 0)
    if not keep.any():
        return empty
    indices = np.flatnonzero(keep)
    sampled = candidate_cells(geometries[indices], resolution, crs)
    sampled["owner"] = indices[sampled["owner"].to_numpy()]
    pending, rings = indices, 0
    pieces = []
    shapely.prepare(geometries[indices])
    while pending.size:
        seeds = sampled[sampled["owner"].isin(pending)]
        disks = {cell: h3.grid_disk(cell, rings) for cell in seeds["cell"].unique()}
        candidates = seeds.assign(cell=seeds["cell"].map(disks)).explode("cell").drop_duplicates()
        cache.add(candidates["cell"].unique())
        cell_geometry = np.array([cache.polygons[c] for c in candidates["cell"]], dtype=object)
        subject = geometries[candidates["owner"].to_numpy()]
        hit = shapely.intersects(subject, cell_geometry)
        subject, cell_geometry, candidates = subject[hit], cell_geometry[hit], candidates[hit]
        inside = shapely.contains_properly(subject, cell_geometry)
        area = shapely.area(cell_geometry)
        partial = ~inside
        area[partial] = shapely.area(shapely.intersection(subject[partial], cell_geometry[partial]))
        found = pandas.DataFrame({"index": candidates["owner"].to_numpy(), "h3_cell": candidates["cell"].to_numpy(),
                                  "area_m2": area})
        found = found[found["area_m2"] > 0]
        totals = found.groupby("index")["area_m2"].sum().reindex(pending, fill_value=0).to_numpy()
        whole = shapely.area(geometries[pending])
        complete = np.abs(totals - whole) <= 1e-6 * whole + 1e-6
        pieces.append(found[found["index"].isin(pending[complete])])
        pending = pending[~complete]
        rings += 1
        if pending.size and rings > _MAX_RINGS:
            raise RuntimeError(f"{pending.size} polygon(s) could not be matched to H3 cells at resolution "
                               f"{resolution}; are they in the northern-hemisphere polar CRS?")
    shapely.destroy_prepared(geometries[indices])
    return pandas.concat(pieces, ignore_index=True) if pieces else empty


def rts_per_cell(geometries, years, resolution: int, crs) -> pandas.DataFrame:
    """Per year and H3 cell: the area of the Level-2 features inside the cell
    (``rts_area_m2``) and how many of them reach into it (``n_features``). Sums over
    disjoint sets of features add up: a partitioned run adds its regions' tables."""
    rts = overlay(geometries, resolution, crs)
    year = np.asarray(years, np.int64)[rts["index"].to_numpy()]
    cell_code, cells = pandas.factorize(rts["h3_cell"].to_numpy(dtype=object))
    groups, group = np.unique(year * max(len(cells), 1) + cell_code, return_inverse=True)
    # overlay gives one piece per feature and cell, so counting pieces counts features
    return pandas.DataFrame({
        "year": groups // max(len(cells), 1), "h3_cell": np.asarray(cells, dtype=object)[groups % max(len(cells), 1)],
        "rts_area_m2": np.bincount(group, weights=rts["area_m2"].to_numpy(), minlength=groups.size),
        "n_features": np.bincount(group, minlength=groups.size).astype(np.int64)})


def density(level2, annual_coverage, resolution: int):
    """The H3 product (see :func:`density_table`) of the Level-2 features."""
    crs = level2.crs if len(level2) else annual_coverage.crs
    return density_table([rts_per_cell(level2.geometry.values, level2["year"].to_numpy(), resolution, crs)],
                         annual_coverage, resolution, crs)


def density_table(per_cell: list[pandas.DataFrame], annual_coverage, resolution: int, crs):
    """The H3 product (CONTRACT.md section 5) in the work CRS from tables of
    :func:`rts_per_cell`: per year and cell the Level-2 area inside the cell, the number
    of Level-2 features in it, the area covered by that year's scenes and
    ``affected_pct``. Cells covered but without RTS are kept (0 %): absence where
    imagery was clear is a result too."""
    import geopandas

    cache = CellCache(crs)
    rts = pandas.concat(per_cell, ignore_index=True)
    rts["year"] = rts["year"].astype(np.int64)
    per_year_cell = rts.groupby(["year", "h3_cell"]).agg(rts_area_m2=("rts_area_m2", "sum"),
                                                          n_features=("n_features", "sum"))
    # coverage: explode each year's union so that bounding boxes stay tight
    parts = annual_coverage[["year", annual_coverage.geometry.name]].explode(index_parts=False)
    parts = parts[~parts.geometry.is_empty]
    covered = overlay(parts.geometry.values, resolution, crs, cache)
    covered["year"] = parts["year"].to_numpy()[covered["index"].to_numpy()].astype(np.int64) if len(covered) else []
    covered = covered.groupby(["year", "h3_cell"]).agg(covered_area_m2=("area_m2", "sum"))
    table = per_year_cell.join(covered, how="outer").reset_index()
    table["rts_area_m2"] = table["rts_area_m2"].fillna(0.0)
    table["n_features"] = table["n_features"].fillna(0).astype(np.int64)
    table["covered_area_m2"] = table["covered_area_m2"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["affected_pct"] = np.where(table["covered_area_m2"] > 0,
                                         100 * table["rts_area_m2"] / table["covered_area_m2"], np.nan)
    table["resolution"] = np.int32(resolution)
    table["year"] = table["year"].astype(np.int32)
    table["h3_cell"] = table["h3_cell"].astype(str)  # the same column type when no cell is covered
    cache.add(table["h3_cell"].unique())
    geometry = np.array([cache.polygons[c] for c in table["h3_cell"]], dtype=object)
    table = table.sort_values(["year", "h3_cell"], kind="stable")
    columns = ["h3_cell", "resolution", "year", "rts_area_m2", "n_features", "covered_area_m2", "affected_pct"]
    return geopandas.GeoDataFrame(table[columns].reset_index(drop=True),
                                  geometry=geometry[table.index.to_numpy()], crs=crs)
