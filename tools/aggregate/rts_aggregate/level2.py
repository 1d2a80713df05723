"""Level 2: each year's Level-1 polygons dissolved into 8-connected features, with how
often and by how many scenes each was seen (CONTRACT.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas
import shapely

from rts_core.sceneid import SENSORS, sensor_of

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
    frames = []
    member_row = np.full(len(level1), -1, np.int64)
    offset = 0
    years = level1["year"].to_numpy()
    for year in np.unique(years):
        rows = np.flatnonzero(years == year)
        group = level1.iloc[rows]
        parts, member_part = dissolve(group.geometry.values)
        if parts.size == 0:
            continue
        member = np.flatnonzero(member_part >= 0)
        part_index = member_part[member]
        member_row[rows[member]] = offset + part_index
        offset += parts.size
        members = group.iloc[member]
        year_extents = extents[extents["year"] == year]
        cover_part, cover_extent = pairs(parts, year_extents.geometry.values, "covered_by")
        # scenes as codes shared by detections and extents; counts by bincount
        scene_code, scene_ids = pandas.factorize(np.concatenate([
            members["scene_id"].to_numpy(dtype=object), year_extents["scene_id"].to_numpy(dtype=object)]))
        detecting = scene_code[: len(members)]
        covering = scene_code[len(members):][cover_extent]
        n_scenes_all = max(len(scene_ids), 1)
        n_observations = np.bincount(part_index, minlength=parts.size)
        n_scenes = np.bincount(np.unique(part_index * n_scenes_all + detecting) // n_scenes_all,
                               minlength=parts.size)
        acquisitions = np.unique(np.concatenate([part_index * n_scenes_all + detecting,
                                                 cover_part * n_scenes_all + covering]))
        acquisition_part, acquisition_scene = acquisitions // n_scenes_all, acquisitions % n_scenes_all
        n_acquisitions = np.bincount(acquisition_part, minlength=parts.size)
        scene_sensor = np.array([sensor_of(s) for s in scene_ids], dtype=object)
        by_sensor = {name: np.bincount(acquisition_part[scene_sensor[acquisition_scene] == name],
                                       minlength=parts.size).astype(np.int64) for name in SENSORS}
        acquired = pandas.DatetimeIndex(pandas.to_datetime(members["acquired"], utc=True)).as_unit("ns").asi8
        first = np.full(parts.size, np.iinfo(np.int64).max)
        last = np.full(parts.size, np.iinfo(np.int64).min)
        np.minimum.at(first, part_index, acquired)
        np.maximum.at(last, part_index, acquired)
        area = shapely.area(parts)
        frames.append(geopandas.GeoDataFrame({
            "year": np.full(parts.size, int(year), np.int32), "area_m2": area, "area_ha": area / 1e4,
            "n_observations": n_observations.astype(np.int64), "n_scenes": n_scenes.astype(np.int64),
            "n_acquisitions": n_acquisitions.astype(np.int64),
            "n_acquisitions_planetscope": by_sensor["PlanetScope"],
            "n_acquisitions_sentinel2": by_sensor["Sentinel-2"],
            "detection_ratio": n_scenes / np.maximum(n_acquisitions, 1),
            "first_observed": pandas.to_datetime(first, utc=True).date,
            "last_observed": pandas.to_datetime(last, utc=True).date,
        }, geometry=parts, crs=level1.crs))
    if not frames:
        return empty_level2(level1.crs), member_row
    return pandas.concat(frames, ignore_index=True), member_row


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
