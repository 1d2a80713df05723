"""Joining rts-volume's products to Level 2 and tracks (``rts-aggregate --volume``).

rts-volume writes one row per feature and pair of DEM dates (CONTRACT.md section 7),
its ``feature_id`` the track id when it measured ``tracks.parquet`` or ``level2.parquet``.
The join adds to each product the pair that describes it:

- a **track**: the pair spanning the longest time (the whole change the DEMs saw);
- a **Level-2 feature** of year Y: the pair ending in year Y with the latest start
  (the change since the previous DEM), measured on the track (or on that year's outline
  when rts-volume was given Level 2).

Columns added (NaN or NaT where no pair applies): ``volume_change_m3``,
``volume_change_sigma_m3``, ``volume_loss_m3``, ``dh_mean_m``, ``volume_date_before``,
``volume_date_after``. The volume rows themselves are kept as ``volume.parquet`` beside
the products, for the report's figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas

from rts_core import geoparquet
from rts_core.errors import InputError
from rts_core.vector import read_vector

VOLUME_NAME = "volume.parquet"
NEEDED = ("feature_id", "date_before", "date_after", "volume_change_m3", "volume_change_sigma_m3",
          "volume_loss_m3", "dh_mean_m")
JOINED = ("volume_change_m3", "volume_change_sigma_m3", "volume_loss_m3", "dh_mean_m")


def read_volume(path: Path):
    """rts-volume's ``volume.parquet``, checked (InputError naming what is missing)."""
    frame = read_vector(path)
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise InputError(f"not an rts-volume product: no column {', '.join(missing)}", source=path)
    frame = frame.copy()
    frame["feature_id"] = frame["feature_id"].astype(str)
    for column in ("date_before", "date_after"):
        frame[column] = pandas.to_datetime(frame[column]).dt.date
    return frame


def _chosen(volume, key_year: bool) -> pandas.DataFrame:
    """One row per track (and year when ``key_year``) as the module docstring says."""
    table = pandas.DataFrame(volume.drop(columns=volume.geometry.name))
    table["span_days"] = [(a - b).days for a, b in zip(table["date_after"], table["date_before"], strict=True)]
    if key_year:
        table["year"] = [d.year for d in table["date_after"]]
        if "year" in volume.columns:  # measured on Level 2: each year's own outline
            table = table[table["year"] == volume["year"].astype(int)]
        table = table.sort_values(["feature_id", "year", "date_before"]).groupby(["feature_id", "year"]).tail(1)
        return table.set_index(["feature_id", "year"])
    order = ["feature_id", "span_days", "date_after"] + (["year"] if "year" in table.columns else [])
    return table.sort_values(order).groupby("feature_id").tail(1).set_index("feature_id")


def _add(product, chosen: pandas.DataFrame, keys) -> object:
    product = product.copy()
    found = chosen.reindex(keys)
    for column in JOINED:
        product[column] = found[column].to_numpy(dtype=float)
    product["volume_date_before"] = pandas.to_datetime(found["date_before"].to_numpy()).date
    product["volume_date_after"] = pandas.to_datetime(found["date_after"].to_numpy()).date
    return product


def join_volume(out: Path, volume_path: Path) -> list[Path]:
    """Add the volume columns to ``out``/level2.parquet and ``out``/tracks.parquet and
    keep the volume rows as ``out``/volume.parquet; returns the files rewritten."""
    volume = read_volume(volume_path)
    written = []
    level2 = geoparquet.read(out / "level2.parquet")
    if "track_id" in level2.columns:
        keys = pandas.MultiIndex.from_arrays([level2["track_id"].astype(str), level2["year"].astype(np.int64)])
        written.append(geoparquet.write(_add(level2, _chosen(volume, True), keys), out / "level2.parquet"))
    tracks = geoparquet.read(out / "tracks.parquet")
    written.append(geoparquet.write(_add(tracks, _chosen(volume, False), tracks["track_id"].astype(str)),
                                    out / "tracks.parquet"))
    written.append(geoparquet.write(volume.to_crs("EPSG:4326"), out / VOLUME_NAME))
    return written
