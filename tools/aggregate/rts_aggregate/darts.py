"""Level 1 and Level 2 in the published DARTS v1 data records' attributes
(``--schema darts``; DARTS preprint, Supplementary Tables S2 and S3), so that rtsmap's
products concatenate with the DARTS dataset's files.

Frames come in and go out in the work CRS (EPSG:6931); identifiers and geohashes are
computed from the features themselves, so reruns give identical records.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas
import shapely
from pyproj import Transformer

from .geometry import WORK_CRS, pairs

L1_FEATURE_INFORMATION = "RTS/ALD footprint - individual image - Level 1"
L2_FEATURE_INFORMATION = "RTS/ALD footprint - annually aggregated - Level 2"
#: column -> dtype, in the published order; geometry last
LEVEL1_DTYPES = {"id": "object", "id_geohash": "object", "date": "object", "year": "int64", "area_m2": "float64",
                 "area_ha": "float64", "DARTS_dataset_version": "object", "DARTS_AI_model_version": "object",
                 "DARTS_AI_model_threshold": "float64", "feature_information": "object", "image_source": "object",
                 "image_id": "object"}
LEVEL2_DTYPES = {"id": "object", "id_geohash": "object", "year": "int64", "area_m2": "float64", "area_ha": "float64",
                 "num_observations": "int64", "earliest_date": "object", "latest_date": "object",
                 "DARTS_dataset_version": "object", "DARTS_AI_model_version": "object",
                 "DARTS_AI_model_threshold": "float64", "feature_information": "object", "image_source": "object"}
# ids: UUID 5 in rtsmap's namespace of the record's level, image or year, and geometry
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/rtsmap/rtsmap/darts-records")
# Level-1 columns rts-aggregate's reader adds from each file's schema metadata
MODEL_VERSION, THRESHOLD = "_model_version", "_threshold"


def geohash(longitude, latitude, precision: int = 12) -> np.ndarray:
    """Geohashes (``precision`` characters) of points in degrees, by pygeohash (its C
    encoder). It replaced a hand-written one: of 200,000 random Arctic points, one
    differed, in its last character, at an interval boundary."""
    import pygeohash

    longitude, latitude = np.asarray(longitude, float), np.asarray(latitude, float)
    return np.array([pygeohash.encode(float(y), float(x), precision) for x, y in zip(longitude, latitude, strict=True)],
                    dtype=f"<U{precision}")


def centroid_geohash(geometries) -> np.ndarray:
    """The geohash of each geometry's centroid, taken in the equal-area work CRS (true
    also for features that cross the antimeridian) and expressed in degrees."""
    centroids = shapely.centroid(np.asarray(geometries))
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    longitude, latitude = Transformer.from_crs(WORK_CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return geohash(longitude, latitude).astype(object)


def record_ids(level: str, keys, geometries) -> np.ndarray:
    """One UUID per record from its level, its image or year, and its geometry."""
    wkb = shapely.to_wkb(np.asarray(geometries), hex=True)
    return np.array([str(uuid.uuid5(NAMESPACE, f"{level}/{key}/{shape}")) for key, shape in zip(keys, wkb,
                                                                                               strict=True)],
                    dtype=object)


def model_version(level1) -> np.ndarray:
    """Each Level-1 row's model version: its file's ``name@sha12,...``, else the names."""
    names = level1["models"].astype(str).to_numpy(dtype=object)
    if MODEL_VERSION not in level1.columns:
        return names
    given = level1[MODEL_VERSION].to_numpy(dtype=object)
    return np.where(pandas.isna(given), names, given)


def thresholds(level1) -> np.ndarray:
    if THRESHOLD not in level1.columns:
        return np.full(len(level1), np.nan)
    return pandas.to_numeric(level1[THRESHOLD], errors="coerce").to_numpy(dtype=float)


def level1_records(level1, dataset_version: str):
    """The Level-1 features (work CRS) as DARTS Level-1 records."""
    import geopandas

    geometries = level1.geometry.values
    acquired = pandas.to_datetime(level1["acquired"], utc=True)
    frame = geopandas.GeoDataFrame({
        "id": record_ids("L1", level1["scene_id"].astype(str), geometries),
        "id_geohash": centroid_geohash(geometries),
        "date": acquired.dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "year": level1["year"].to_numpy(dtype=np.int64),
        "area_m2": level1["area_m2"].to_numpy(dtype=float),
        "area_ha": level1["area_ha"].to_numpy(dtype=float),
        "DARTS_dataset_version": np.full(len(level1), dataset_version, dtype=object),
        "DARTS_AI_model_version": model_version(level1),
        "DARTS_AI_model_threshold": thresholds(level1),
        "feature_information": np.full(len(level1), L1_FEATURE_INFORMATION, dtype=object),
        "image_source": level1["sensor"].astype(str).to_numpy(dtype=object),
        "image_id": level1["scene_id"].astype(str).to_numpy(dtype=object),
    }, geometry=np.asarray(geometries), crs=level1.crs)
    return frame.astype(LEVEL1_DTYPES)


def level2_records(level2, level1, dataset_version: str):
    """The Level-2 features (work CRS) as DARTS Level-2 records; the model versions,
    threshold and image sources are those of the year's Level-1 features merged into
    each (versions and sources joined with ";" where they differ; the threshold where
    all agree, else missing)."""
    import geopandas

    n = len(level2)
    versions = np.full(n, "", dtype=object)
    threshold = np.full(n, np.nan)
    sources = np.full(n, "", dtype=object)
    l1_version, l1_threshold = model_version(level1), thresholds(level1)
    l1_sensor = level1["sensor"].astype(str).to_numpy(dtype=object)
    for year in np.unique(level2["year"]) if n else []:
        rows = np.flatnonzero(level2["year"].to_numpy() == year)
        members = np.flatnonzero(level1["year"].to_numpy() == year)
        part, member = pairs(level2.geometry.values[rows], level1.geometry.values[members], "intersects")
        table = pandas.DataFrame({"part": rows[part], "version": l1_version[members[member]],
                                  "threshold": l1_threshold[members[member]], "sensor": l1_sensor[members[member]]})
        grouped = table.groupby("part")
        joined = grouped["version"].agg(lambda v: ";".join(sorted(set(v))))
        versions[joined.index.to_numpy()] = joined.to_numpy()
        sensors = grouped["sensor"].agg(lambda v: ";".join(sorted(set(v))))
        sources[sensors.index.to_numpy()] = sensors.to_numpy()
        agreed = grouped["threshold"].agg(lambda v: v.iloc[0] if v.nunique(dropna=False) == 1 else np.nan)
        threshold[agreed.index.to_numpy()] = agreed.to_numpy(dtype=float)
    geometries = level2.geometry.values
    frame = geopandas.GeoDataFrame({
        "id": record_ids("L2", level2["year"].astype(str), geometries),
        "id_geohash": centroid_geohash(geometries),
        "year": level2["year"].to_numpy(dtype=np.int64),
        "area_m2": level2["area_m2"].to_numpy(dtype=float),
        "area_ha": level2["area_ha"].to_numpy(dtype=float),
        "num_observations": level2["n_observations"].to_numpy(dtype=np.int64),
        "earliest_date": _dates(level2["first_observed"]),
        "latest_date": _dates(level2["last_observed"]),
        "DARTS_dataset_version": np.full(n, dataset_version, dtype=object),
        "DARTS_AI_model_version": versions,
        "DARTS_AI_model_threshold": threshold,
        "feature_information": np.full(n, L2_FEATURE_INFORMATION, dtype=object),
        "image_source": sources,
    }, geometry=np.asarray(geometries), crs=level2.crs)
    return frame.astype(LEVEL2_DTYPES)


def _dates(values) -> np.ndarray:
    return pandas.to_datetime(pandas.Series(values), utc=False).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)

