"""What an output was made from, and whether an earlier output can stand: fingerprints
of inputs and settings, the fingerprint an output records (read far enough to know the
file is whole), and run manifests."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import atomic, contract
from .errors import one_line

log = logging.getLogger(__name__)

TAG_FINGERPRINT = contract.TAG_FINGERPRINT  # rasters: GDAL dataset tag
PARQUET_FINGERPRINT = b"rts:fingerprint"  # GeoParquet: schema metadata key


class DamagedOutput(Exception):
    """An output file that cannot be read whole."""


def recorded_fingerprint(path: Path) -> str | None:
    """The fingerprint an output of ours records (None when it records none), reading
    enough of the file to know it is whole: a raster's last block, a Parquet file's
    footer. Other files are whole by the atomic rename; they record nothing."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise DamagedOutput("an empty file")
    try:
        recorded = atomic.read_whole(path, every_band=False)
    except Exception as exc:  # noqa: BLE001 - GDAL and Arrow raise many kinds for broken files
        raise DamagedOutput(one_line(exc)[:200]) from None
    suffix = path.suffix.lower()
    return recorded.get(TAG_FINGERPRINT if suffix in (".tif", ".tiff") else PARQUET_FINGERPRINT.decode())


def fingerprint(inputs: Iterable[Path | str], *settings: object) -> str:
    """What an output was made from: each input's resolved path, size and change time,
    plus the settings (options that change the result, the tool's version). Outputs
    record it; a rerun skips them only when it matches."""
    digest = hashlib.sha256()
    for path in sorted({Path(p).resolve() for p in inputs}):
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:  # missing: reading it will say so, with the reason
            digest.update(f"{path}\0absent\n".encode())
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def up_to_date(manifest: Path, stamp: str, outputs: Sequence[Path] | None = None) -> list[Path] | None:
    """The outputs of an earlier run, if its ``manifest`` (JSON) holds the fingerprint
    ``stamp`` and they all still exist; else None. ``outputs`` defaults to the list the
    manifest records, for tools whose outputs depend on what was found."""
    try:
        earlier = json.loads(Path(manifest).read_text())
    except (OSError, ValueError):
        return None
    if earlier.get("fingerprint") != stamp:
        return None
    outputs = [Path(p) for p in (earlier.get("outputs", []) if outputs is None else outputs)]
    if not outputs or not all(p.exists() for p in outputs):
        return None
    for path in outputs:  # whole, not only there
        try:
            recorded_fingerprint(path)
        except (DamagedOutput, OSError) as exc:
            log.warning("%s is damaged (%s); computing the products again", path, one_line(exc))
            return None
    return outputs
