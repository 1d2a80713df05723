"""Outputs that appear whole or not at all.

Every file a tool writes goes first to a hidden temporary name in the target folder
(same file system, so the final :func:`os.replace` is atomic) and is renamed when
complete. A killed process leaves only a temporary file; the name encodes host and
process id, so the next run in that folder removes the ones whose writer is dead and
never touches those of a concurrent run on another host or in another process.

Temporary names look like ``.<final name>.<host>-<pid>-<random>.tmp<suffix>``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname()) or "host"
_TEMP = re.compile(r"^\.(?P<final>.+)\.(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]+\.tmp")


def temporary_path(final: Path) -> Path:
    """A fresh hidden temporary name beside ``final`` keeping its suffix (drivers
    such as GPKG choose by extension)."""
    final = Path(final)
    token = secrets.token_hex(4)
    return final.with_name(f".{final.name}.{_HOST}-{os.getpid()}-{token}.tmp{final.suffix}")


def is_temporary(path: Path) -> bool:
    return bool(_TEMP.match(Path(path).name))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def cleanup_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporary files (and GDAL side-cars of them) left in ``folder`` by
    writers on this host that are no longer running. Returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMP.match(entry.name)
        if not match or match["host"] != _HOST:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():  # our writers make files only: not ours to remove
            log.warning("%s is named like a temporary file of an interrupted run but is a folder: left alone",
                        entry)
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted run in %s", len(removed), folder)
    return removed


def remove_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            Path(path).unlink()
        # GDAL may leave an auxiliary file beside a dataset
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}.aux.xml").unlink()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IncompleteWrite(OSError):
    """A file that was not written whole (a full disk, where GDAL may only log the error)."""


def read_whole(path: Path, every_band: bool = True) -> dict[str, str]:
    """Read what makes one of our raster or Parquet files whole and return what it
    records (a raster's tags, a Parquet file's schema metadata; empty for other files):
    the last block of every band and overview of a GeoTIFF (``every_band``; else the
    last band's last block, enough for a skip check), a Parquet file's footer. GDAL and
    Arrow raise their own errors for a broken file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(path) as dataset:
            tags = dataset.tags()
            levels = len(dataset.overviews(1)) if dataset.count and every_band else 0
        for level in [None, *range(levels)]:
            with rasterio.open(path, **({} if level is None else {"overview_level": level})) as dataset:
                corner = Window(dataset.width - 1, dataset.height - 1, 1, 1)
                for band in range(1 if every_band else dataset.count, dataset.count + 1):
                    dataset.read(band, window=corner)
        return tags
    if suffix == ".parquet":
        import pyarrow.parquet

        raw = pyarrow.parquet.read_metadata(path).metadata or {}
        return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in raw.items()}
    return {}


def verify_whole(path: Path, final: Path | None = None) -> None:
    """Check a file is whole (:func:`read_whole`, every band) before it takes its final
    name: a write that failed on the way never passes as a finished output; the error
    says so with the OS's words where the disk is full."""
    path = Path(path)
    try:
        read_whole(path)
    except Exception as exc:  # noqa: BLE001 - GDAL and Arrow raise many kinds for broken files
        raise write_failure(final or path, exc, path.parent) from None


FULL_DISK_BYTES = 1 << 20  # a write that failed with less free space than this failed for want of it


def write_failure(final: Path | str, exc: BaseException, folder: Path | str | None = None) -> IncompleteWrite:
    """The error for a write of ``final`` that failed or came out broken, in the OS's
    words where the disk (of ``folder``, by default ``final``'s) is full: GDAL's own
    said "Write failed. See previous exception for details.", the previous one having
    gone to the log. Call it before the temporary files are removed."""
    name = Path(final).name
    folder = Path(folder) if folder is not None else Path(final).parent
    free = _free_bytes(folder)
    if free is not None and free < FULL_DISK_BYTES:
        return IncompleteWrite(f"No space left on device: {name} could not be written whole "
                               f"({free} bytes free in {folder})")
    return IncompleteWrite(f"{name} was not written whole: {' '.join(str(exc).split())[:200]}")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def commit(temporary: Path, final: Path, verified: bool = False) -> None:
    """Check ``temporary`` is whole (:func:`verify_whole`; not again when the writer has
    ``verified`` it), flush it to disk and rename it to ``final`` in one step."""
    if not verified:
        verify_whole(temporary, final)
    fsync_file(temporary)
    os.replace(temporary, final)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(Path(final).parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(final: Path | str, verified: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``final`` to; rename it on success, remove it
    on any error (the exception propagates). The parent folder is created. ``verified``:
    the writer checks the file whole itself (see :func:`commit`)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(final)
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"writer produced no file at {temporary}")
        commit(temporary, final, verified)
    except BaseException:
        remove_quietly(temporary)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(f"{temporary}.aux.xml").unlink()


def write_text(path: Path | str, text: str) -> None:
    """Write a small text file (a manifest, a report) through :func:`atomic_path`."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_figure(path: Path | str, figure, **savefig: object) -> None:
    """Save a matplotlib figure as PNG through :func:`atomic_path`, then close it."""
    import matplotlib.pyplot as pyplot

    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", **savefig)
    finally:
        pyplot.close(figure)
