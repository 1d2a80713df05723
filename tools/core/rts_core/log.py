"""Logging and progress on standard error (standard output carries only paths).

A live bar on a terminal; on anything else (a log file, a cluster job) sparse lines
at about every 10 % or 30 s, so logs stay readable over thousands of scenes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

import click

T = TypeVar("T")

_state = {"quiet": False, "tool": "rts"}


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname.lower()}: {message}"
        text = f"{_state['tool']}: {message}"
        if record.exc_info and logging.getLogger().isEnabledFor(logging.DEBUG):
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(tool: str, *, quiet: bool = False, debug: bool = False) -> None:
    """Send log records to stderr as ``<tool>: message``; ``--quiet`` keeps warnings,
    ``--debug`` shows debug records and tracebacks."""
    _state.update(quiet=quiet, tool=tool)
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rts", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._rts = True  # type: ignore[attr-defined]
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("rasterio", "fiona", "pyogrio", "matplotlib", "PIL", "numexpr"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def progress(items: Iterable[T], *, total: int | None = None, label: str = "",
             every_seconds: float = 30.0) -> Iterator[T]:
    """Iterate ``items`` while reporting progress on stderr (silent with --quiet)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if _state["quiet"]:
        yield from items
        return
    if sys.stderr.isatty():
        with click.progressbar(items, length=total, label=label, file=sys.stderr) as bar:
            yield from bar
        return
    logger = logging.getLogger(_state["tool"])
    start = last = time.monotonic()
    next_fraction = 0.1
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        fraction = done / total if total else 0.0
        if (total and fraction >= next_fraction) or now - last >= every_seconds:
            shown = f"{done}/{total}" if total else f"{done}"
            logger.info("%s %s (%.0f s)", label, shown, now - start)
            last = now
            while total and next_fraction <= fraction:
                next_fraction += 0.1
