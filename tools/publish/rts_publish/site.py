"""A static site of the products (CONTRACT.md section 8): the map page with its vendored
scripts, PMTiles archives, the products and per-scene files, and their STAC catalogue.

The site is built in a hidden temporary folder beside ``SITE`` and renamed into place
when whole, so a killed run leaves the previous site (or none), never half of one. A
rerun with the same inputs and options finds the recorded fingerprint and skips.

Layout::

    SITE/index.html, app.js, style.css, vendor/   the page and its scripts (offline)
    SITE/config.json                              layers, years, bounds, scenes for the page
    SITE/catalog.json                             STAC root; collections under SITE/<id>/
    SITE/tiles/<layer>.pmtiles, track_index.json  vector tiles (GDAL) and the track search
    SITE/data/<product>.parquet                   the products as rts-aggregate wrote them
    SITE/files/level1/<scene>.*                   per-scene files (--level1)
    SITE/files/validation/, files/volume/         reports (--validation), volumes (--volume)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
import rasterio.warp
import shapely
from rasterio.warp import transform_geom

from rts_core import atomic, cli, sceneid
from rts_core.errors import InputError, report_error
from rts_core.fingerprints import fingerprint
from rts_core.log import scene_items

from . import layers as layer_tools
from . import stac

log = logging.getLogger(__name__)

TOOL = "rts-publish"
CONFIG_NAME = "config.json"
LEVEL1_SUFFIXES = tuple(stac.LEVEL1_ASSETS)
VALIDATION_FILES = ("report.md", "metrics.json", "metrics.csv", "scores.png", "map.png")
VOLUME_FILES = ("volume.parquet", "pairs.parquet")


@dataclass
class PublishResult:
    site: Path
    skipped: bool = False
    failed: list[str] = field(default_factory=list)  # inputs that failed (reported), the rest published


def publish_site(products: str | Path, site: str | Path, *, level1: str | Path | None = None,
                 validation: str | Path | None = None, volume: str | Path | None = None,
                 models: Sequence[str | Path] = (), license: str = "other", overwrite: bool = False,
                 debug: bool = False) -> PublishResult:
    """Publish the products folder of rts-aggregate (and optionally Level 1, validation
    reports, volumes and models) as a static site at ``site``; see the module docstring."""
    products, site = Path(products), Path(site)
    if not products.is_dir():
        raise InputError(f"{products}: not a folder (rts-aggregate's output folder)")
    inputs = [products / layer.file for layer in layer_tools.LAYERS if (products / layer.file).is_file()]
    level1_files = _level1_files(Path(level1)) if level1 is not None else []
    extra = [*level1_files, *_listed(validation, VALIDATION_FILES), *_listed(volume, VOLUME_FILES), *map(Path, models)]
    stamp = fingerprint([*inputs, *extra], license, cli.version_string(TOOL), _static_digest())
    if not overwrite and _recorded_stamp(site) == stamp:
        log.info("%s is up to date; skipped (--overwrite to rebuild)", site)
        return PublishResult(site, skipped=True)
    sources = {layer.name: source for layer in layer_tools.LAYERS
               if (source := layer_tools.open_layer(products, layer)) is not None}
    failed: list[str] = []
    histories = layer_tools.track_histories(sources["level2"])
    extras = {"level2": layer_tools.with_history(histories), "tracks": layer_tools.with_history(histories)}
    volumes = _volume_table(Path(volume), failed, debug) if volume is not None else None
    if volumes is not None:
        with_history = extras["tracks"]
        extras["tracks"] = lambda frame: _join_volume(with_history(frame), volumes)
    bounds = layer_tools.bounds_of(sources)
    years = layer_tools.years_of(sources)

    site.parent.mkdir(parents=True, exist_ok=True)
    building = _building_folder(site)
    try:
        _copy_static(building)
        tiles = {}
        for name, source in scene_items(list(sources.items()), "tiles", unit="layer"):
            if not source.rows:  # GDAL makes no archive of nothing; the page leaves the layer out
                log.info("%s: no features, no tiles", name)
                continue
            tiles[name] = layer_tools.write_pmtiles(layer_tools.batches(source, extras.get(name)), source,
                                                    building / "tiles" / f"{name}.pmtiles")
        _write_json(building / "tiles" / "track_index.json", layer_tools.track_bounds(sources["tracks"]))
        data = {name: _place(source.path, building / "data" / source.path.name) for name, source in sources.items()}
        scenes = _place_scenes(level1_files, building / "files" / "level1", failed, debug)
        reports = [_place(path, building / "files" / "validation" / path.name)
                   for path in _listed(validation, VALIDATION_FILES)]
        if volume is not None:
            for path in _listed(volume, VOLUME_FILES):
                _place(path, building / "files" / "volume" / path.name)
        model_items = _model_items(models, building / "files" / "models", bounds, failed, debug)
        version = cli.tool_version("rts-publish")
        catalogue_products = {name: ([data[name], *([tiles[name]] if name in tiles else [])], bounds, years)
                              for name in data}
        stac.catalogue(building, scenes, catalogue_products, version=version, license=license, models=model_items)
        with_volume = {name for name, source in sources.items() if source.has_volume}
        if volumes is not None:
            with_volume.add("tracks")
        config = _config(sources, with_volume, tiles, scenes, reports, bounds, years, stamp, version, failed,
                         building)
        _write_json(building / CONFIG_NAME, config)
        _replace(building, site)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return PublishResult(site, failed=failed)


def _listed(folder: str | Path | None, names: Sequence[str]) -> list[Path]:
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    return [folder / name for name in names if (folder / name).is_file()]


def _level1_name(path: Path) -> tuple[str, str] | None:
    """(scene id, suffix) of a Level-1 file's name, or None for any other name."""
    suffix = next((s for s in LEVEL1_SUFFIXES if path.name.endswith(s)), None)
    if suffix is None or not sceneid.is_scene_id(path.name[:-len(suffix)]):
        return None
    return path.name[:-len(suffix)], suffix


def _level1_files(folder: Path) -> list[Path]:
    """The Level-1 files of rts-ensemble's folder whose names are a scene id and a known
    suffix (nothing else is copied or linked)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (rts-ensemble's output folder)")
    return [path for path in sorted(folder.iterdir())
            if path.is_file() and not path.is_symlink() and _level1_name(path) is not None]


def _place(source: Path, target: Path) -> Path:
    """``source`` at ``target``: a hard link where the file system allows (no copy of a
    large COG), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def _place_scenes(files: list[Path], folder: Path, failed: list[str], debug: bool) -> list[stac.SceneFiles]:
    """Each scene's files in the site, with what its STAC item and the page need; a
    scene that cannot be read is one error line and is left out."""
    by_scene: dict[str, dict[str, Path]] = {}
    for path in files:
        scene_id, suffix = _level1_name(path)
        by_scene.setdefault(scene_id, {})[suffix] = path
    scenes = []
    for scene_id, named in scene_items(sorted(by_scene.items()), "scenes", unit="scene"):
        source = named.get(".prob.tif") or named.get(".extent.parquet") or next(iter(named.values()))
        try:
            footprint, acquired, tags = _scene_footprint(scene_id, named)
            placed = {stac.LEVEL1_ASSETS[suffix][0]: _place(path, folder / path.name) for suffix, path in named.items()}
            bbox = [float(v) for v in shapely.bounds(shapely.geometry.shape(footprint))]
            scenes.append(stac.SceneFiles(scene_id, placed, acquired, bbox, footprint, tags))
        except Exception as exc:  # noqa: BLE001 - one scene's failure, the others go on
            report_error(source, exc, debug=debug)
            failed.append(str(source))
    return scenes


def _scene_footprint(scene_id: str, named: dict[str, Path]) -> tuple[dict, datetime, dict[str, str]]:
    """The scene's footprint (GeoJSON, lon/lat), acquisition time and tags: from its
    probability COG, else from its extent (rts-ensemble's valid-data polygon)."""
    if ".prob.tif" in named:
        with rasterio.open(named[".prob.tif"]) as src:
            if src.crs is None:
                raise InputError("has no CRS")
            tags = src.tags()
            footprint = transform_geom(src.crs, "EPSG:4326", shapely.geometry.mapping(shapely.box(*src.bounds)),
                                       antimeridian_cutting=True)
        return footprint, _acquired(tags.get("RTS_ACQUIRED"), scene_id), tags
    if ".extent.parquet" in named:
        extent = gpd.read_parquet(named[".extent.parquet"])
        if extent.crs is None or extent.empty:
            raise InputError("extent has no CRS or no polygon")
        outline = shapely.box(*extent.to_crs(4326).total_bounds)
        when = extent["acquired"].iloc[0] if "acquired" in extent else None
        acquired = _acquired(pd.Timestamp(when).isoformat() if when is not None else None, scene_id)
        return shapely.geometry.mapping(outline), acquired, {}
    raise InputError("neither a .prob.tif nor an .extent.parquet for the scene: its footprint is unknown")


def _acquired(text: str | None, scene_id: str) -> datetime:
    """The scene's RTS_ACQUIRED time, else the one its id encodes."""
    if text:
        with contextlib.suppress(ValueError):
            return sceneid.parse_acquired(text)
    return sceneid.acquired_from_scene_id(scene_id)


def _volume_table(folder: Path, failed: list[str], debug: bool) -> pd.DataFrame | None:
    """rts-volume's figures of each feature's longest pair (its ``feature_id`` a track id
    as text), or None (one error line) when the folder has none that can be read."""
    path = folder / "volume.parquet"
    try:
        if not path.is_file():
            raise InputError("no volume.parquet in the folder (rts-volume's output)")
        volume = pd.read_parquet(path, columns=["feature_id", "date_before", "date_after",
                                               *layer_tools.VOLUME_COLUMNS])
    except Exception as exc:  # noqa: BLE001 - volumes are optional: the site goes on without them
        report_error(path, exc, debug=debug)
        failed.append(str(path))
        return None
    volume["span"] = pd.to_datetime(volume["date_after"]) - pd.to_datetime(volume["date_before"])
    volume = volume.sort_values("span", kind="stable").drop_duplicates("feature_id", keep="last")
    volume["_key"] = volume["feature_id"].astype(str)
    return volume[["_key", *layer_tools.VOLUME_COLUMNS]]


def _join_volume(tracks: pd.DataFrame, volumes: pd.DataFrame) -> pd.DataFrame:
    """A batch of tracks with the volume columns of their track id (NaN where none)."""
    tracks = tracks.drop(columns=[c for c in layer_tools.VOLUME_COLUMNS if c in tracks])
    joined = tracks.assign(_key=tracks["track_id"].astype(str)).merge(volumes, on="_key", how="left")
    return joined.drop(columns="_key").astype({c: float for c in layer_tools.VOLUME_COLUMNS})


def _model_items(models: Sequence[str | Path], folder: Path, bbox: list[float], failed: list[str],
                 debug: bool) -> list:
    items = []
    for model in models:
        path = Path(model)
        try:
            metadata = _model_metadata(path)
            placed = _place(path, folder / f"{stac._safe_id(metadata.get('name', path.stem))}.onnx")
            items.append(stac.model_item(placed, metadata, bbox,
                                         datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)))
        except Exception as exc:  # noqa: BLE001 - one model's failure
            report_error(path, exc, debug=debug)
            failed.append(str(path))
    return items


def _model_metadata(path: Path) -> dict:
    """The model's ``rts`` metadata record (CONTRACT.md section 4), checked to be a JSON
    object with a name."""
    import onnxruntime

    if not path.is_file():
        raise InputError("no such model file")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"not a readable ONNX model ({' '.join(str(exc).split())[:120]})") from None
    raw = session.get_modelmeta().custom_metadata_map.get("rts")
    try:
        metadata = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        metadata = None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"].strip():
        raise InputError("has no rts metadata record with a name (CONTRACT.md section 4)")
    bands = metadata.get("bands")
    if not isinstance(bands, list) or not bands or not all(isinstance(b, str) and b for b in bands):
        raise InputError("its rts record's bands is not a list of band names (CONTRACT.md section 4)")
    inputs, outputs = session.get_inputs(), session.get_outputs()
    metadata["_input_shape"] = [d if isinstance(d, int) else -1 for d in inputs[0].shape]
    metadata["_output_shape"] = [d if isinstance(d, int) else -1 for d in outputs[0].shape]
    return metadata


def _config(sources, with_volume, tiles, scenes, reports, bounds, years, stamp, version, failed,
            root: Path) -> dict:
    return {
        "title": "rtsmap: retrogressive thaw slumps",
        "generator": f"rts-publish {version}",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "fingerprint": stamp,
        "bounds": bounds,
        "years": years,
        "layers": {name: {"url": path.relative_to(root).as_posix(), "features": sources[name].rows,
                          "volume": name in with_volume} for name, path in tiles.items()},
        "track_index": "tiles/track_index.json",
        "catalog": "catalog.json",
        "scenes": [{"id": s.scene_id, "year": s.acquired.year, "acquired": s.acquired.isoformat(), "bbox": s.bbox,
                    "quicklook": s.files["quicklook"].relative_to(root).as_posix() if "quicklook" in s.files else None,
                    "corners": _corners(s.files.get("probability")),
                    "item": f"level1/{s.scene_id}/{s.scene_id}.json"} for s in scenes],
        "reports": [path.relative_to(root).as_posix() for path in reports],
        "failed": [Path(path).name for path in failed],  # a rerun tries them again rather than skip
        "basemap": {"name": "OpenStreetMap", "tiles": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "© OpenStreetMap contributors"},
    }


def _corners(path: Path | None) -> list | None:
    """The raster's four corners in lon/lat (top left, top right, bottom right, bottom
    left), where MapLibre places its quicklook image."""
    if path is None:
        return None
    with rasterio.open(path) as src:
        left, bottom, right, top = src.bounds
        xs, ys = rasterio.warp.transform(src.crs, "EPSG:4326", [left, right, right, left], [top, top, bottom, bottom])
    return [[round(x, 6), round(y, 6)] for x, y in zip(xs, ys, strict=True)]


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(value, separators=(",", ":")))


def _static_folder():
    return resources.files("rts_publish") / "static"


def _copy_static(target: Path) -> None:
    shutil.copytree(str(_static_folder()), target, dirs_exist_ok=False)


def _static_digest() -> str:
    """The page's files, so that a new page version rebuilds sites."""
    folder = Path(str(_static_folder()))
    return fingerprint(sorted(p for p in folder.rglob("*") if p.is_file()))


def _recorded_stamp(site: Path) -> str | None:
    """The fingerprint of a complete site: none where an input had failed."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        config = json.loads((site / CONFIG_NAME).read_text())
        return None if config.get("failed") else config.get("fingerprint")
    return None


def _building_folder(site: Path) -> Path:
    """A hidden folder beside ``site`` to build in. Its name has no dot-suffix: pystac
    takes a root href ending in one for a file and would write the catalogue beside it."""
    return site.parent / f".{site.name}-building-{os.getpid()}-{secrets.token_hex(4)}"


def _replace(building: Path, site: Path) -> None:
    """Put the finished ``building`` folder at ``site``, the old site (if any) out of
    the way first and removed after."""
    old = None
    if site.exists():
        if not (site / CONFIG_NAME).is_file() and any(site.iterdir()):
            raise InputError(f"{site}: exists and is not a site of rts-publish (no {CONFIG_NAME}); not replaced")
        old = _building_folder(site.with_name(site.name + "-old"))
        os.replace(site, old)
    os.replace(building, site)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
