"""Level 2: each year's Level-1 polygons dissolved into 8-connected features, with how
often and by how many scenes each was seen (CONTRACT.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas
import shapely

from rts_core.sceneid import sensor_of

from .geometry import dissolve, pairs, repaired


def level2(level1, extents, *, repair: bool = True):
    """Level 2 of the Level-1 features (see :func:`level2_with_members`)."""
    return level2_with_members(level1, extents, repair=repair)[0]


def level2_with_members(level1, extents, *, repair: bool = True):
    """One row per 8-connected part of each year's dissolved Level-1 polygons, with
    ``n_observations`` (Level-1 features merged into it), ``n_scenes`` (distinct scenes
    that detected it), ``n_acquisitions`` (distinct scenes of that year whose valid
    extent covers it, the detecting ones included; also per sensor, by scene id:
    ``n_acquisitions_planetscope``, ``n_acquisitions_sentinel2``), ``detection_ratio``,
    ``first_observed`` and ``last_observed`` (dates). ``repair=False`` skips the
    validity pass for callers that have already run :func:`repaired`. Also returns, per
    Level-1 row, the Level-2 row it was merged into (-1: none, a degenerate geometry)."""
    import geopandas

    if repair:
        level1, extents = repaired(level1, "Level-1"), repaired(extents, "extent")
    columns: dict[str, list] = {}
    parts_of_years = []
    member_row = np.full(len(level1), -1, np.int64)
    offset = 0
    # plain arrays: a GeoDataFrame per year costs more than the year's arithmetic
    years = level1["year"].to_numpy()
    geometries = np.asarray(level1.geometry.values)
    scene_ids = level1["scene_id"].to_numpy(dtype=object)
    acquired_ns = pandas.DatetimeIndex(pandas.to_datetime(level1["acquired"], utc=True)).as_unit("ns").asi8
    extent_years = extents["year"].to_numpy()
    extent_geometries = np.asarray(extents.geometry.values)
    extent_scenes = extents["scene_id"].to_numpy(dtype=object)
    for year in np.unique(years):
        rows = np.flatnonzero(years == year)
        parts, member_part = dissolve(geometries[rows])
        if parts.size == 0:
            continue
        member = np.flatnonzero(member_part >= 0)
        part_index = member_part[member]
        member_row[rows[member]] = offset + part_index
        offset += parts.size
        in_year = extent_years == year
        cover_part, cover_extent = pairs(parts, extent_geometries[in_year], "covered_by")
        # scenes as codes shared by detections and extents; counts by bincount
        scene_code, scene_list = pandas.factorize(np.concatenate([scene_ids[rows[member]], extent_scenes[in_year]]))
        detecting = scene_code[: member.size]
        covering = scene_code[member.size:][cover_extent]
        n_scenes_all = max(len(scene_list), 1)
        n_scenes = np.bincount(np.unique(part_index * n_scenes_all + detecting) // n_scenes_all,
                               minlength=parts.size)
        acquisitions = np.unique(np.concatenate([part_index * n_scenes_all + detecting,
                                                 cover_part * n_scenes_all + covering]))
        acquisition_part, acquisition_scene = acquisitions // n_scenes_all, acquisitions % n_scenes_all
        n_acquisitions = np.bincount(acquisition_part, minlength=parts.size)
        scene_sensor = np.array([sensor_of(s) for s in scene_list], dtype=object)
        acquired = acquired_ns[rows[member]]
        first = np.full(parts.size, np.iinfo(np.int64).max)
        last = np.full(parts.size, np.iinfo(np.int64).min)
        np.minimum.at(first, part_index, acquired)
        np.maximum.at(last, part_index, acquired)
        area = shapely.area(parts)
        year_columns = {
            "year": np.full(parts.size, int(year), np.int32), "area_m2": area, "area_ha": area / 1e4,
            "n_observations": np.bincount(part_index, minlength=parts.size).astype(np.int64),
            "n_scenes": n_scenes.astype(np.int64), "n_acquisitions": n_acquisitions.astype(np.int64),
            "n_acquisitions_planetscope": np.bincount(
                acquisition_part[scene_sensor[acquisition_scene] == "PlanetScope"], minlength=parts.size),
            "n_acquisitions_sentinel2": np.bincount(
                acquisition_part[scene_sensor[acquisition_scene] == "Sentinel-2"], minlength=parts.size),
            "detection_ratio": n_scenes / np.maximum(n_acquisitions, 1),
            "first_observed": first, "last_observed": last}
        for name, values in year_columns.items():
            columns.setdefault(name, []).append(values)
        parts_of_years.append(parts)
    if not parts_of_years:
        return empty_level2(level1.crs), member_row
    table = {name: np.concatenate(values) for name, values in columns.items()}
    for name in ("n_acquisitions_planetscope", "n_acquisitions_sentinel2"):
        table[name] = table[name].astype(np.int64)
    for name in ("first_observed", "last_observed"):
        table[name] = pandas.to_datetime(table[name], utc=True).date
    return geopandas.GeoDataFrame(table, geometry=np.concatenate(parts_of_years), crs=level1.crs), member_row


def empty_level2(crs):
    """A Level-2 frame without rows, with every column's type."""
    import geopandas

    return geopandas.GeoDataFrame({"year": np.empty(0, np.int32), "area_m2": [], "area_ha": [],
                                   "n_observations": np.empty(0, np.int64), "n_scenes": np.empty(0, np.int64),
                                   "n_acquisitions": np.empty(0, np.int64),
                                   "n_acquisitions_planetscope": np.empty(0, np.int64),
                                   "n_acquisitions_sentinel2": np.empty(0, np.int64), "detection_ratio": [],
                                   "first_observed": np.empty(0, object), "last_observed": np.empty(0, object)},
                                  geometry=[], crs=crs)
