"""The per-item runner every tool uses (CONTRACT.md section 1).

For each input it asks the tool which files the input will produce (:class:`Plan`),
skips it when they are all complete, otherwise processes it. Complete means verified:
each file reads whole and records the fingerprint of the inputs and options it was made
from (outputs only ever appear under their final names when written through
:mod:`rts_core.atomic`, but a file may be damaged later, or made by another run with
other options); a damaged file is recomputed with a warning, a stale one quietly. A failure is isolated to its input:
one ``error: <input>: <reason>`` line on stderr (traceback with ``--debug``), any
output of that input removed, and the others go on. Paths the next stage consumes
are printed on stdout as soon as each input is done, so pipelines stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from . import atomic, contract
from .log import bars_cleared, progress

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2  # Click's usage errors, and run-level options that cannot be used

TAG_FINGERPRINT = contract.TAG_FINGERPRINT  # rasters: GDAL dataset tag
PARQUET_FINGERPRINT = b"rts:fingerprint"  # GeoParquet: schema metadata key


class InputError(Exception):
    """A problem with one input that the user can fix; reported without traceback.
    ``source`` names the file at fault when it is not the input being processed."""

    def __init__(self, message: str = "", source: object = None):
        super().__init__(message)
        self.source = source


class RunError(click.ClickException):
    """A problem that stops the whole run before any input is touched: an unusable
    run-level option (model, device, DEM, output folder). One line naming ``source``,
    exit status ``code`` (2, a usage error, unless given). A Click exception, so that
    option callbacks may raise it while the command line is parsed."""

    def __init__(self, source: object, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.source, self.exit_code = source, code

    @property
    def code(self) -> int:
        return self.exit_code

    def show(self, file=None) -> None:
        print(error_line(self.source, self), file=file or sys.stderr, flush=True)


class DamagedOutput(Exception):
    """An output file that cannot be read whole."""


def recorded_fingerprint(path: Path) -> str | None:
    """The fingerprint an output of ours records (None when it records none), reading
    enough of the file to know it is whole: a raster's last block, a Parquet file's
    footer. Other files are whole by the atomic rename; they record nothing."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise DamagedOutput("an empty file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import rasterio
            from rasterio.windows import Window

            with rasterio.open(path) as dataset:
                tags = dataset.tags()
                dataset.read(dataset.count, window=Window(dataset.width - 1, dataset.height - 1, 1, 1))
            return tags.get(TAG_FINGERPRINT)
        if suffix == ".parquet":
            import pyarrow.parquet as parquet

            metadata = parquet.read_schema(path).metadata or {}
            value = metadata.get(PARQUET_FINGERPRINT)
            return value.decode() if value is not None else None
    except Exception as exc:  # noqa: BLE001 - GDAL and Arrow raise many kinds for broken files
        raise DamagedOutput(one_line(exc)[:200]) from None
    return None


@dataclass
class Plan:
    """What one input produces: every file written, those printed on stdout for the
    next stage (all of them unless given), and the fingerprint of what they are made
    from (:func:`fingerprint`; one for all outputs, or one per output), which the tool
    records in each raster and Parquet file it writes."""

    outputs: Sequence[Path]
    printed: Sequence[Path] | None = None
    fingerprint: str | Sequence[str] | None = None
    data: Any = None  # what the work function needs of this input (an opened scene, a record)
    source: object = None  # what an error line names (default: the input)

    def __post_init__(self):
        self.outputs = [Path(p) for p in self.outputs]
        self.printed = self.outputs if self.printed is None else [Path(p) for p in self.printed]

    def fingerprint_of(self, index: int) -> str | None:
        if self.fingerprint is None or isinstance(self.fingerprint, str):
            return self.fingerprint
        return self.fingerprint[index]

    def output_state(self, index: int) -> tuple[str, str]:
        """("complete" | "missing" | "stale" | "damaged", why) of one output."""
        path, expected = self.outputs[index], self.fingerprint_of(index)
        if not path.exists():
            return "missing", f"{path} is missing"
        try:
            recorded = recorded_fingerprint(path)
        except (DamagedOutput, OSError) as exc:
            return "damaged", f"{path} is damaged ({one_line(exc)})"
        if expected is not None and recorded != expected and path.suffix.lower() in (".tif", ".tiff", ".parquet"):
            return "stale", (f"{path} was made from other inputs or options" if recorded else
                             f"{path} records no fingerprint (made by another tool or version)")
        return "complete", ""

    def state(self) -> tuple[str, str]:
        """The state of the outputs together: complete only when each is; "damaged"
        when some are there and one is damaged or missing."""
        states = [self.output_state(i) for i in range(len(self.outputs))]
        if all(state == "missing" for state, _ in states):
            return "missing", "not made yet"
        for wanted in ("damaged", "missing", "stale"):
            for state, why in states:
                if state == wanted:
                    return ("damaged" if state == "missing" else state), why
        return "complete", ""


@dataclass
class RunResult:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def blamed(source: object, exc: BaseException) -> InputError:
    """``exc`` as an InputError naming the file at fault: its own source if it names one,
    else ``source``. Library code raises it; the command's one error line reports it
    (rts_core.cli.run_options), so no stage function ends the process itself."""
    if isinstance(exc, InputError) and exc.source is not None:
        return exc
    return InputError(one_line(exc), source=source)


def one_line(exc: BaseException) -> str:
    """An exception as a single line (its message, else its type)."""
    text = " ".join(str(exc).split()) if str(exc).strip() else type(exc).__name__
    return text


def report_error(source: object, exc: BaseException, *, debug: bool = False) -> None:
    """The contract's one line, ``error: <source>: <reason>`` (a traceback first with
    ``--debug``). An exception that names its own source wins."""
    with bars_cleared(sys.stderr):  # a progress bar on the terminal is drawn again below the line
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(error_line(getattr(exc, "source", None) or source, exc), file=sys.stderr, flush=True)


def error_line(source: object, exc: BaseException) -> str:
    return f"error: {source}: {one_line(exc)}"


def emit(paths: Iterable[Path]) -> None:
    for path in paths:
        print(path, flush=True)


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


@dataclass(frozen=True)
class RunOptions:
    """The run-wide switches every tool takes (``--overwrite``, ``--quiet``,
    ``--debug``), passed to a command as ``run``."""

    tool: str
    overwrite: bool = False
    quiet: bool = False
    debug: bool = False


def run_items(items: Iterable[T], plan: Callable[[T], Plan], work: Callable[[Plan], Future | None],
              run: RunOptions, *, label: str = "inputs", source: Callable[[T], object] = str,
              out_dirs: Sequence[Path] = (), in_flight: int = 1) -> RunResult:
    """Plan and work each item; see the module docstring for the rules.

    ``plan(item)`` names the outputs and carries what the work needs (it may raise for a
    bad input); ``work(plan)`` writes the outputs (each through :mod:`rts_core.atomic`),
    or returns a :class:`~concurrent.futures.Future` that completes when they are written
    (rts-infer's pipeline): up to ``in_flight`` items then run at once, each settled (its
    paths printed, or its error reported and its outputs removed) in input order.
    Error lines name ``plan.source``, else ``source(item)`` (the input path).
    """
    for folder in out_dirs:
        atomic.cleanup_stale_temporaries(Path(folder))
    roots = [Path(folder).resolve() for folder in out_dirs]
    result = RunResult()  # items may be a lazy stream (paths arriving through a pipe)
    claimed: dict[Path, object] = {}  # outputs made (or found complete) by an earlier input of this run
    pending: deque = deque()  # (item, plan, name, future) of items whose work goes on

    def fail(item, item_plan: Plan | None, named, error: BaseException) -> None:
        """One input failed: its outputs go (none of them counts as made), one error line."""
        if item_plan is not None:
            atomic.remove_quietly(*item_plan.outputs)
            for path in item_plan.outputs:
                claimed.pop(path.resolve(), None)
        report_error(named, error, debug=run.debug)
        result.failed.append(item)

    def settle(item, item_plan: Plan, named, error: BaseException | None) -> None:
        if error is None:
            missing = [str(p) for p in item_plan.outputs if not p.exists()]
            if missing:
                error = RuntimeError(f"expected output(s) not written: {', '.join(missing)}")
        if error is not None:
            fail(item, item_plan, named, error)
            return
        result.done.append(item)
        emit(item_plan.printed)

    def settle_pending(wait_for: int) -> None:
        """Settle finished items in order; wait until at most ``wait_for`` are pending."""
        while pending and (len(pending) > wait_for or pending[0][3].done()):
            item, item_plan, named, future = pending.popleft()
            error = None
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - isolate every failure to its input
                error = exc
            settle(item, item_plan, named, error)

    try:
        for item in progress(items, label=label):
            item_plan: Plan | None = None
            named = source(item)
            try:
                item_plan = plan(item)
                named = item_plan.source if item_plan.source is not None else named
                outside = [p for p in item_plan.outputs if roots and not any(
                    p.resolve().is_relative_to(root) for root in roots)]
                if outside:
                    item_plan = None  # nothing of ours to remove there
                    raise InputError(f"output {outside[0]} would lie outside the output folder")
                if any(p.resolve() in claimed for p in item_plan.outputs):
                    settle_pending(0)  # an earlier input still at work may yet fail and give it up
                taken = next((p for p in item_plan.outputs if p.resolve() in claimed), None)
                if taken is not None:
                    item_plan = None  # the earlier input's output stays
                    raise InputError(f"makes {taken.name}, as {claimed[taken.resolve()]} did earlier in this run "
                                     "(the same scene twice?)")
                state, why = ("missing", "") if run.overwrite else item_plan.state()
                if state == "complete":
                    log.debug("%s: outputs complete, skipped", named)
                    result.skipped.append(item)
                    claimed.update((p.resolve(), named) for p in item_plan.outputs)
                    settle_pending(0)  # paths are printed in input order
                    emit(item_plan.printed)
                else:
                    if state == "damaged":
                        log.warning("%s: %s; computing it again", named, why)
                    elif state == "stale":
                        log.info("%s: %s; computing it again", named, why)
                    future = work(item_plan)
                    claimed.update((p.resolve(), named) for p in item_plan.outputs)
                    if not isinstance(future, Future):  # done already
                        settle_pending(0)
                        settle(item, item_plan, named, None)
                    else:
                        pending.append((item, item_plan, named, future))
                        settle_pending(in_flight - 1)
            except Exception as exc:  # noqa: BLE001 - isolate every failure to its input
                settle_pending(0)
                fail(item, item_plan, named, exc)
        settle_pending(0)
    finally:
        for folder in out_dirs:  # again: a writer killed just before this run may only now be gone
            atomic.cleanup_stale_temporaries(Path(folder))
    if result.done or result.skipped or result.failed:
        log.info("%d done, %d already complete, %d failed", len(result.done),
                 len(result.skipped), len(result.failed))
    return result
