"""PlanetScope scene ids and acquisition times from file names (and which sensor an id
belongs to: rts-prep names Sentinel-2 scenes ``S2A_T08WMC_20230715T201851``).

Two naming schemes occur in Planet deliveries and in the DARTS label data:

- PSScene: ``YYYYMMDD_HHMMSS[_ms]_SSSS`` (``20180703_192559_1006``,
  ``20230715_201234_12_24a3``), where SSSS is the satellite id in hex; the
  acquisition date and time (UTC) are part of the id.
- PSOrthoTile: ``<strip>_<tile>_YYYY-MM-DD_SSSS`` (``4764314_1760817_2021-07-20_2416``);
  only the date is in the id.

Product suffixes (``_3B_AnalyticMS_SR.tif``, ``_BGRN_SR.tif``, ``_udm2.tif``,
``_metadata.json``) and our own suffixes (``.stack.tif``, ...) follow the id.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePath

_PSSCENE = re.compile(r"(?P<date>\d{8})_(?P<time>\d{6})(?:_(?P<frac>\d{1,2}))?_(?P<sat>[0-9a-f]{4})")
_ORTHOTILE = re.compile(r"(?P<strip>\d{5,8})_(?P<tile>\d{7})_(?P<date>\d{4}-\d{2}-\d{2})_(?P<sat>[0-9a-f]{4})")
_END = r"(?=$|[_.])"
_PSSCENE_NAME = re.compile(r"^" + _PSSCENE.pattern + _END)
_ORTHOTILE_NAME = re.compile(r"^" + _ORTHOTILE.pattern + _END)


# Sentinel-2 scenes as rts-prep names them: satellite, MGRS tile, sensing start (UTC)
_SENTINEL2_ID = re.compile(r"^S2[A-D]_T\d{2}[A-Z]{3}_\d{8}T\d{6}$")
# an L2A product's name: satellite, sensing start, processing baseline, orbit, tile
SENTINEL2_PRODUCT = re.compile(r"(S2[A-D])_MSIL2A_(\d{8}T\d{6})_N(\d{2})(\d{2})_R\d{3}_T(\d{2}[A-Z]{3})")
SENSORS = ("PlanetScope", "Sentinel-2")


def sentinel2_scene_id(satellite: str, tile: str, when: datetime) -> str:
    """``S2A_T08WMC_20230715T201851``: satellite, MGRS tile, sensing start (UTC)."""
    return f"{satellite.upper()}_T{tile.upper().removeprefix('T')}_{when.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}"


PLATFORMS = {"sentinel-2a": "S2A", "sentinel-2b": "S2B", "sentinel-2c": "S2C", "sentinel-2d": "S2D"}


def sentinel2_product_of(item: dict) -> re.Match | None:
    """The L2A product name a STAC item (a parsed JSON object) carries, as a match of
    SENTINEL2_PRODUCT: in ``s2:product_uri``, Earth Search v0's ``sentinel:product_id``,
    or the item id (the Planetary Computer's and Copernicus'); None without one."""
    properties = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(properties, dict):
        return None
    return next((match for match in (SENTINEL2_PRODUCT.search(str(properties.get(key) or item.get(key) or ""))
                                     for key in ("s2:product_uri", "sentinel:product_id", "id")) if match), None)


def sentinel2_id_from_item(item: dict) -> str | None:
    """The scene id of a Sentinel-2 STAC item (a parsed JSON object): its platform (or
    product name), MGRS tile and datetime; None when it names no Sentinel-2 scene."""
    properties = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(properties, dict):
        return None
    product = sentinel2_product_of(item)
    tile = str(properties.get("s2:mgrs_tile") or str(properties.get("grid:code", "")).removeprefix("MGRS-") or
               (product.group(5) if product else "") or "".join(
                   str(properties.get(k, "")) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square"))
               or "".join(str(properties.get(k, "")) for k in ("sentinel:utm_zone", "sentinel:latitude_band",
                                                               "sentinel:grid_square")))  # Earth Search v0
    satellite = PLATFORMS.get(str(properties.get("platform", "")).lower(), product.group(1) if product else None)
    if len(tile) == 4:
        tile = "0" + tile  # Earth Search writes 8WMC for 08WMC in some items
    if not satellite or not re.fullmatch(r"\d{2}[A-Z]{3}", tile) or not properties.get("datetime"):
        return None
    try:
        when = parse_acquired(str(properties["datetime"]))
    except ValueError:
        return None
    return sentinel2_scene_id(satellite, tile, when)


def sentinel2_id_from_name(name: str) -> str | None:
    """The scene id in a product's (SAFE or COG folder) name, or None."""
    match = SENTINEL2_PRODUCT.search(PurePath(name).name)
    if match is None:
        return None
    when = datetime.strptime(match.group(2), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return sentinel2_scene_id(match.group(1), match.group(5), when)


def sensor_of(scene_id: str) -> str:
    """The sensor a scene id belongs to: Sentinel-2 for rts-prep's ``S2A_T08WMC_20230715T201851``
    form, else PlanetScope (the default of every product)."""
    return "Sentinel-2" if _SENTINEL2_ID.match(str(scene_id)) else "PlanetScope"


class SceneIdError(ValueError):
    """A file name that carries no PlanetScope scene id."""


def parse_scene_id(name: str | PurePath) -> str:
    """The scene id at the start of a file name (or path), e.g. for
    ``20230715_201234_12_24a3_3B_AnalyticMS_SR.tif`` -> ``20230715_201234_12_24a3``."""
    base = PurePath(name).name
    for pattern in (_ORTHOTILE_NAME, _PSSCENE_NAME):
        match = pattern.match(base)
        if match:
            return match.group(0)
    raise SceneIdError(f"no PlanetScope scene id (PSScene or PSOrthoTile) in file name {base!r}")


def is_surface_reflectance(name: str | PurePath) -> bool:
    """Whether a file name is a PlanetScope surface-reflectance GeoTIFF (``*_SR*.tif``,
    not its udm2), as rts-prep and the Snakefile find a scene's SR file in its folder."""
    base = PurePath(name).name.upper()
    return base.endswith((".TIF", ".TIFF")) and "_SR" in base and "UDM" not in base


def is_scene_id(text: str) -> bool:
    return bool(_ORTHOTILE.fullmatch(text) or _PSSCENE.fullmatch(text))


def acquired_from_scene_id(scene_id: str) -> datetime:
    """Acquisition time in UTC from an id: date and time for PSScene, the date at
    00:00 for PSOrthoTile (whose id holds no time; prefer the metadata JSON)."""
    match = _PSSCENE.fullmatch(scene_id)
    if match:
        stamp = datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S")
        return stamp.replace(tzinfo=UTC)
    match = _ORTHOTILE.fullmatch(scene_id)
    if match:
        return datetime.strptime(match["date"], "%Y-%m-%d").replace(tzinfo=UTC)
    raise SceneIdError(f"not a PlanetScope scene id: {scene_id!r}")


FIRST_YEAR, LAST_YEAR = 1990, 2100  # an acquisition outside is no acquisition (CONTRACT.md: checked at each boundary)
MAX_ID_DISAGREEMENT_S = 86400  # an acquisition time may differ from its id's by up to a day
_SENTINEL2_ID = re.compile(r"S2[A-D]_T\d{2}[A-Z]{3}_(?P<when>\d{8}T\d{6})")


class ImplausibleDate(ValueError):
    pass


def date_of_scene_id(scene_id: str) -> datetime | None:
    """The acquisition time a PlanetScope or Sentinel-2 scene id holds, or None for an
    id of another form (Level-1 files from other sources)."""
    try:
        return acquired_from_scene_id(scene_id)
    except (SceneIdError, ValueError):
        pass
    match = _SENTINEL2_ID.fullmatch(str(scene_id))
    if match is None:
        return None
    try:
        return datetime.strptime(match["when"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def check_acquired(acquired: datetime, scene_id: str | None = None, what: str = "the acquisition time") -> datetime:
    """``acquired`` if it is a plausible acquisition of the scene: in 1990-2100, and
    within a day of the time its id holds (when it holds one); else ImplausibleDate. A
    date in 1800 gave Level 2 the year 1800, and 3000 broke pandas' timestamps."""
    if not FIRST_YEAR <= acquired.year <= LAST_YEAR:
        raise ImplausibleDate(f"{what} {acquired:%Y-%m-%d} is outside {FIRST_YEAR}-{LAST_YEAR}")
    from_id = date_of_scene_id(scene_id) if scene_id else None
    if from_id is not None and abs((acquired - from_id).total_seconds()) > MAX_ID_DISAGREEMENT_S:
        raise ImplausibleDate(f"{what} {acquired:%Y-%m-%d %H:%M} is more than a day from the scene id's "
                              f"{from_id:%Y-%m-%d %H:%M}")
    return acquired


SAME_ACQUISITION_S = {"Sentinel-2": 600.0, "PlanetScope": 2.0}  # ids of one satellite this close are one acquisition


def acquisition_of(scene_id: str) -> tuple[str, tuple, datetime] | None:
    """(sensor, what took it, when) of a scene id: Sentinel-2's satellite and tile,
    PlanetScope's satellite (a PSScene id; an ortho tile's holds no time); None for ids
    of another form."""
    match = _SENTINEL2_ID.fullmatch(str(scene_id))
    if match:
        return "Sentinel-2", (str(scene_id)[:3], str(scene_id)[5:10]), date_of_scene_id(scene_id)
    match = _PSSCENE.fullmatch(str(scene_id))
    if match:
        return "PlanetScope", (match["sat"],), date_of_scene_id(scene_id)
    return None


def same_acquisitions(scene_ids) -> dict[str, str]:
    """Ids that name an acquisition already named by an earlier id (sorted order), each
    mapped to that id: the same id twice, or ids of one satellite (and tile) whose times
    are within SAME_ACQUISITION_S. A Sentinel-2 product's datatake start and its tile's
    sensing time are up to 6 min 41 s apart, and a satellite sees a tile again one orbit,
    about 100 min, later; older rtsmap named a product by either, depending on the
    catalogue it came from."""
    kept: dict[tuple, list[tuple[datetime, str]]] = {}
    repeated: dict[str, str] = {}
    for scene_id in sorted(scene_ids):
        acquisition = acquisition_of(scene_id)
        if acquisition is None or acquisition[2] is None:
            continue
        sensor, source, when = acquisition
        earlier = kept.setdefault((sensor, source), [])
        match = next((first for moment, first in earlier
                      if abs((when - moment).total_seconds()) <= SAME_ACQUISITION_S[sensor]), None)
        if match is not None:
            repeated[scene_id] = match
        else:
            earlier.append((when, scene_id))
    return repeated


def format_acquired(moment: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, as the RTS_ACQUIRED tag holds it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_acquired(text: str) -> datetime:
    """Inverse of :func:`format_acquired`; also accepts Planet's metadata form
    (``2023-07-15T20:12:34.123456Z``). Naive times are taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
