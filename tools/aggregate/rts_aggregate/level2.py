"""Level 2: each year's Level-1 polygons dissolved into 8-connected features, with how
often and by how many scenes each was seen (CONTRACT.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas
import shapely

from rts_core.sceneid import SENSORS, sensor_of

from .geometry import dissolve, pairs, repaired


def level2(level1, extents, *, repair: bool = True):
    """One row per 8-connected part of each year's dissolved Level-1 polygons, with
    ``n_observations`` (Level-1 features merged into it), ``n_scenes`` (distinct scenes
    that detected it), ``n_acquisitions`` (distinct scenes of that year whose valid
    extent covers it, the detecting ones included; also per sensor, by scene id:
    ``n_acquisitions_planetscope``, ``n_acquisitions_sentinel2``), ``detection_ratio``,
    ``first_observed`` and ``last_observed`` (dates). ``repair=False`` skips the
    validity pass for callers that have already run :func:`repaired`."""
    import geopandas

    if repair:
        level1, extents = repaired(level1, "Level-1"), repaired(extents, "extent")
    frames = []
    for year, group in level1.groupby("year", sort=True):
        parts = dissolve(group.geometry.values)
        if parts.size == 0:
            continue
        # parts are 8-connected components, so each Level-1 feature meets exactly one
        part_index, member = pairs(parts, group.geometry.values, "intersects")
        members = group.iloc[member]
        table = pandas.DataFrame({"part": part_index, "scene_id": members["scene_id"].to_numpy(),
                                  "acquired": members["acquired"].to_numpy()})
        grouped = table.groupby("part")
        every = range(parts.size)
        n_observations = grouped.size().reindex(every, fill_value=0).to_numpy()
        n_scenes = grouped["scene_id"].nunique().reindex(every, fill_value=0).to_numpy()
        first = grouped["acquired"].min().reindex(every)
        last = grouped["acquired"].max().reindex(every)
        year_extents = extents[extents["year"] == year]
        cover_part, cover_extent = pairs(parts, year_extents.geometry.values, "covered_by")
        covering = pandas.DataFrame({"part": cover_part,
                                     "scene_id": year_extents["scene_id"].to_numpy()[cover_extent]})
        acquisitions = pandas.concat([covering, table[["part", "scene_id"]]]).drop_duplicates()
        n_acquisitions = acquisitions.groupby("part").size().reindex(every, fill_value=0).to_numpy()
        sensor = acquisitions["scene_id"].map(sensor_of)
        by_sensor = {name: acquisitions[sensor == name].groupby("part").size().reindex(every, fill_value=0)
                     .to_numpy().astype(np.int64) for name in SENSORS}
        area = shapely.area(parts)
        frames.append(geopandas.GeoDataFrame({
            "year": np.full(parts.size, int(year), np.int32), "area_m2": area, "area_ha": area / 1e4,
            "n_observations": n_observations.astype(np.int64), "n_scenes": n_scenes.astype(np.int64),
            "n_acquisitions": n_acquisitions.astype(np.int64),
            "n_acquisitions_planetscope": by_sensor["PlanetScope"],
            "n_acquisitions_sentinel2": by_sensor["Sentinel-2"],
            "detection_ratio": n_scenes / np.maximum(n_acquisitions, 1),
            "first_observed": pandas.to_datetime(first.to_numpy(), utc=True).date,
            "last_observed": pandas.to_datetime(last.to_numpy(), utc=True).date,
        }, geometry=parts, crs=level1.crs))
    if not frames:
        return geopandas.GeoDataFrame({"year": np.empty(0, np.int32), "area_m2": [], "area_ha": [],
                                       "n_observations": np.empty(0, np.int64), "n_scenes": np.empty(0, np.int64),
                                       "n_acquisitions": np.empty(0, np.int64),
                                       "n_acquisitions_planetscope": np.empty(0, np.int64),
                                       "n_acquisitions_sentinel2": np.empty(0, np.int64), "detection_ratio": [],
                                       "first_observed": np.empty(0, object), "last_observed": np.empty(0, object)},
                                      geometry=[], crs=level1.crs)
    return pandas.concat(frames, ignore_index=True)
