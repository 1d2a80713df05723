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

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import atomic
from .errors import InputError, one_line, report_error
from .fingerprints import DamagedOutput, recorded_fingerprint
from .log import progress

log = logging.getLogger(__name__)

T = TypeVar("T")

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


def emit(paths: Iterable[Path]) -> None:
    for path in paths:
        print(path, flush=True)


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


def read_each(items: Iterable[T], read: Callable[[T], Any], *, debug: bool = False,
              label: str | None = None) -> tuple[list[tuple[T, Any]], list[T]]:
    """Read every input of a stage that then works on all of them together (rts-train
    fit, rts-aggregate, rts-ensemble's grouping of rasters by scene): an input that
    cannot be read gets the one error line (naming the file its error names, else the
    input) and the others are read. Returns ((input, what was read) pairs, failed inputs)."""
    read_fine, failed = [], []
    for item in progress(items, label=label) if label else items:
        try:
            read_fine.append((item, read(item)))
        except Exception as exc:  # noqa: BLE001 - isolate every failure to its input
            report_error(item, exc, debug=debug)
            failed.append(item)
    return read_fine, failed
