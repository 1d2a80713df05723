"""Logging and progress on standard error (standard output carries only paths).

Two levels of progress, both silent with ``--quiet``:

- :func:`progress` wraps a tool's inputs (the runner does this for every tool): on a
  terminal a tqdm bar with the count, the time elapsed and the time left; on anything
  else (a log file, a cluster job) a plain line at about every 10 % or 30 s, with the
  estimated time left, so logs stay readable over thousands of scenes.
- :func:`scene_progress` (and :func:`scene_items`) follow the work within one input
  (tiles, blocks, strips, steps): on a terminal a second bar under the first, shown
  only once the work has lasted a couple of seconds and gone when it ends; elsewhere a
  line only every few minutes of one long scene.

Log records and error lines written while a bar is shown clear it first and draw it
again after (:func:`bars_cleared`), so the bar never garbles them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

_state = {"quiet": False, "tool": "rts"}
_bars: list[tqdm] = []  # the bars now open, outermost first

SCENE_BAR_DELAY = 2.0  # seconds of work within a scene before its bar appears
SCENE_LINE_SECONDS = 300.0  # off a terminal: seconds between the lines of one long scene


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname.lower()}: {message}"
        text = f"{_state['tool']}: {message}"
        if record.exc_info and logging.getLogger().isEnabledFor(logging.DEBUG):
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Handler(logging.StreamHandler):
    """A stream handler that clears the progress bars around each record."""

    def emit(self, record: logging.LogRecord) -> None:
        with bars_cleared(self.stream):
            super().emit(record)


def setup_logging(tool: str, *, quiet: bool = False, debug: bool = False) -> None:
    """Send log records to stderr as ``<tool>: message``; ``--quiet`` keeps warnings
    (and shows no progress), ``--debug`` shows debug records and tracebacks."""
    _state.update(quiet=quiet, tool=tool)
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rts", False):
            root.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler._rts = True  # type: ignore[attr-defined]
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("rasterio", "fiona", "pyogrio", "matplotlib", "PIL", "numexpr"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _shown(bar: tqdm) -> bool:
    """Whether the bar is on screen (a delayed one is not until its delay has passed)."""
    return bar.last_print_t >= bar.start_t + bar.delay


@contextlib.contextmanager
def bars_cleared(stream: TextIO | None = None) -> Iterator[None]:
    """Clear the progress bars drawn on ``stream`` (stderr) while the block writes other
    text there, then draw them again below it."""
    stream = sys.stderr if stream is None else stream
    if not _bars:
        yield
        return
    with tqdm.get_lock():
        cleared = [bar for bar in list(_bars) if bar.fp == stream and _shown(bar)]
        for bar in cleared:
            bar.clear(nolock=True)
        try:
            yield
        finally:
            stream.flush()
            for bar in cleared:
                bar.refresh(nolock=True)


def _terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


@contextlib.contextmanager
def _bar(**options) -> Iterator[tqdm]:
    bar = tqdm(file=sys.stderr, dynamic_ncols=True, **options)
    _bars.append(bar)
    try:
        yield bar
    finally:
        _bars.remove(bar)
        bar.close()


def duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3.5 h``: a time for a log line."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 100 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _line(label: str, done: int, total: int | None, elapsed: float, unit: str = "") -> str:
    """``prep 3/24, 12 s elapsed, about 84 s left`` (with a ``unit``: ``S2A_T08WMB: 40/100
    blocks, ...``)."""
    shown = f"{done}/{total}" if total else f"{done}"
    text = f"{label}: {shown} {unit}s" if unit and unit != "it" else f"{label} {shown}"
    text += f", {duration(elapsed)} elapsed"
    if total and 0 < done < total:
        text += f", about {duration(elapsed / done * (total - done))} left"
    return text


def progress(items: Iterable[T], *, total: int | None = None, label: str = "",
             every_seconds: float = 30.0) -> Iterator[T]:
    """Iterate ``items`` (the inputs of a run) while reporting progress on stderr: a
    bar on a terminal, sparse lines (about every 10 % or ``every_seconds``) with the
    time left otherwise, nothing with --quiet. ``total`` defaults to ``len(items)``;
    without one (paths streaming in through a pipe) no time left is shown."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if _state["quiet"]:
        yield from items
        return
    if _terminal():
        with _bar(total=total, desc=label) as bar:
            for item in items:
                yield item
                bar.update()
        return
    logger = logging.getLogger(_state["tool"])
    start = last = time.monotonic()
    tenths = 1  # the next line at this many tenths of the total
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if (total and done * 10 >= tenths * total) or now - last >= every_seconds:
            logger.info("%s", _line(label, done, total, now - start))
            last = now
            while total and done * 10 >= tenths * total:
                tenths += 1


class SceneProgress:
    """The progress of the work within one scene: call :meth:`update` with the units
    done (tiles, blocks, steps). This one reports nothing (--quiet, or a short scene)."""

    def update(self, n: int = 1) -> None:
        pass


class _SceneBar(SceneProgress):
    def __init__(self, bar: tqdm):
        self.bar = bar

    def update(self, n: int = 1) -> None:
        self.bar.update(n)


class _SceneLines(SceneProgress):
    """Off a terminal: a line every ``every_seconds`` of one scene (none for a short one)."""

    def __init__(self, total: int | None, label: str, unit: str, every_seconds: float):
        self.total, self.label, self.unit, self.every_seconds = total, label, unit, every_seconds
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every_seconds:
            self.last = now
            logging.getLogger(_state["tool"]).info(
                "%s", _line(self.label, self.done, self.total, now - self.start, self.unit))


@contextlib.contextmanager
def scene_progress(total: int | None, label: str = "", *, unit: str = "it", delay: float = SCENE_BAR_DELAY,
                   every_seconds: float = SCENE_LINE_SECONDS) -> Iterator[SceneProgress]:
    """Follow the work within one scene (``total`` units, e.g. tiles), nested under the
    inputs' bar: on a terminal a bar that appears only once the work has lasted
    ``delay`` seconds and is removed when it ends; elsewhere a line every
    ``every_seconds`` (none for scenes shorter than that); nothing with --quiet.

    Use::

        with scene_progress(len(tiles), scene_id, unit="tile") as bar:
            for batch in batches:
                ...
                bar.update(len(batch))
    """
    if _state["quiet"]:
        yield SceneProgress()
    elif _terminal():
        with _bar(total=total, desc=label, unit=unit, leave=False, delay=delay) as bar:
            yield _SceneBar(bar)
    else:
        yield _SceneLines(total, label, unit, every_seconds)


def scene_items(items: Iterable[T], label: str = "", *, total: int | None = None, unit: str = "it",
                **options) -> Iterator[T]:
    """Iterate ``items`` (the windows, strips or steps of one scene) under
    :func:`scene_progress`, one unit each; ``total`` defaults to ``len(items)``."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with scene_progress(total, label, unit=unit, **options) as shown:
        for item in items:
            yield item
            shown.update()
