"""A PlanetScope scene on disk: its SR GeoTIFF, the udm2 and metadata JSON beside it,
its id and acquisition time, and which SR bands are blue, green, red and nir."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import rasterio

from rts_core import contract
from rts_core.errors import InputError
from rts_core.sceneid import (
    ImplausibleDate,
    SceneIdError,
    acquired_from_scene_id,
    check_acquired,
    is_surface_reflectance,
    parse_acquired,
    parse_scene_id,
)

from .sentinel2 import Sentinel2Scene, is_sentinel2, open_sentinel2

log = logging.getLogger(__name__)

# Band order of Planet's SR products when the file carries no band descriptions
# (8 bands: coastal_blue, blue, green_i, green, yellow, red, rededge, nir).
DEFAULT_ORDER = {4: (1, 2, 3, 4), 8: (2, 4, 6, 8)}


@dataclass(frozen=True)
class SceneFiles:
    scene_id: str
    sr: Path
    udm2: Path | None
    acquired: datetime
    bands: tuple[int, int, int, int]  # 1-based SR band indexes of blue, green, red, nir
    metadata: Path | None = None
    sensor: str = contract.DEFAULT_SENSOR
    udm: Path | None = None  # the legacy udm of scenes before udm2, used only without one

    @property
    def files(self) -> list[Path]:
        """Every file the stack is made from."""
        return [p for p in (self.sr, self.udm2, self.udm, self.metadata) if p is not None]


def find_sr(path: Path) -> Path:
    """The SR GeoTIFF itself, or the one inside a scene folder."""
    if path.is_dir():
        found = sorted(p for p in path.glob("*.tif") if is_surface_reflectance(p.name))
        if not found:
            raise InputError("no surface-reflectance GeoTIFF (*_SR*.tif) in this folder")
        if len(found) > 1:
            raise InputError(f"several SR GeoTIFFs in this folder ({', '.join(p.name for p in found)}); give one")
        return found[0]
    if not path.exists():
        raise InputError("no such file or folder")
    return path


def _beside(sr: Path, scene_id: str, pattern: str) -> Path | None:
    found = sorted(sr.parent.glob(f"{scene_id}*{pattern}"))
    return found[0] if found else None


def band_indexes(descriptions: tuple, count: int) -> tuple[int, int, int, int]:
    """Blue, green, red and nir by band description, else by Planet's band order."""
    names = [str(d or "").strip().lower() for d in descriptions]
    if all(name in names for name in contract.SPECTRAL_BANDS):
        return tuple(names.index(name) + 1 for name in contract.SPECTRAL_BANDS)
    if count not in DEFAULT_ORDER:
        raise InputError(f"wrong band count: {count} (a PlanetScope SR scene has 4 or 8 bands)")
    return DEFAULT_ORDER[count]


def open_scene(path: str | Path, asset_roots: Sequence[Path] = ()) -> SceneFiles | Sentinel2Scene:
    """Locate and check everything prep needs to know about a scene (no pixel is read):
    a PlanetScope scene, or a Sentinel-2 L2A product (rts_prep.sentinel2; a STAC item's
    local assets lie in its folder or under ``asset_roots``)."""
    if is_sentinel2(Path(path)):
        scene = open_sentinel2(Path(path), asset_roots)
        check_date(scene.acquired, scene.scene_id, "its acquisition time")
        return scene
    sr = find_sr(Path(path))
    try:
        scene_id = parse_scene_id(sr.name)
    except SceneIdError as exc:
        raise InputError(str(exc)) from None
    try:
        with rasterio.open(sr) as dataset:
            if dataset.crs is None:
                raise InputError("the SR GeoTIFF has no CRS")
            if dataset.transform.is_identity:
                raise InputError("the SR GeoTIFF has no geotransform")
            bands = band_indexes(dataset.descriptions, dataset.count)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read the SR GeoTIFF: {exc}") from None
    udm2 = _beside(sr, scene_id, "udm2*.tif")
    udm = None if udm2 is not None else _beside(sr, scene_id, "_udm.tif")  # PSScene4Band's ..._DN_udm.tif
    metadata = _beside(sr, scene_id, "metadata*.json")
    from_id = acquired = acquired_from_scene_id(scene_id)
    check_date(from_id, None, f"the date in the scene id {scene_id}")
    if metadata is not None:
        size = metadata.stat().st_size
        if size > MAX_METADATA_BYTES:  # a PlanetScope metadata file is a few kB
            raise InputError(f"metadata file {metadata.name} is implausibly large ({size:,} bytes)")
        try:
            acquired = parse_acquired(json.loads(metadata.read_text())["properties"]["acquired"])
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("%s: no usable properties.acquired (%s); using the time in the id", metadata, exc)
        else:
            check_date(acquired, scene_id, f"{metadata.name}'s properties.acquired")
    return SceneFiles(scene_id, sr, udm2, acquired, bands, metadata, udm=udm)


MAX_METADATA_BYTES = 1_000_000


def check_date(acquired: datetime, scene_id: str | None, what: str) -> None:
    """rts_core.sceneid.check_acquired, as an error of this scene."""
    try:
        check_acquired(acquired, scene_id, what)
    except ImplausibleDate as exc:
        raise InputError(str(exc)) from None
