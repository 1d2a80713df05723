"""The per-item runner every tool uses (CONTRACT.md section 1).

For each input it asks the tool which files the input will produce (:class:`Plan`),
skips it when they all exist (outputs only ever appear complete, see
:mod:`rts_core.atomic`), otherwise processes it. A failure is isolated to its input:
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from . import atomic
from .log import progress

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # usage errors exit with 2, through Click


class InputError(Exception):
    """A problem with one input that the user can fix; reported without traceback."""


@dataclass
class Plan:
    """What one input produces: every file written, and those printed on stdout for
    the next stage (all of them unless given)."""

    outputs: Sequence[Path]
    printed: Sequence[Path] | None = None

    def __post_init__(self):
        self.outputs = [Path(p) for p in self.outputs]
        self.printed = self.outputs if self.printed is None else [Path(p) for p in self.printed]

    def complete(self) -> bool:
        return all(path.exists() for path in self.outputs)


@dataclass
class RunResult:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


def one_line(exc: BaseException) -> str:
    """An exception as a single line (its message, else its type)."""
    text = " ".join(str(exc).split()) if str(exc).strip() else type(exc).__name__
    return text


def report_error(source: object, exc: BaseException, *, debug: bool = False) -> None:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {source}: {one_line(exc)}", file=sys.stderr, flush=True)


def emit(paths: Iterable[Path]) -> None:
    for path in paths:
        print(path, flush=True)


def fingerprint(inputs: Iterable[Path | str], *settings: object) -> str:
    """What a many-to-one product was made from: each input's resolved path, size and
    change time, plus the settings. Tools that reduce many inputs to one set of outputs
    (aggregate, validate) store it and skip a rerun only when it matches."""
    digest = hashlib.sha256()
    for path in sorted({Path(p).resolve() for p in inputs}):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
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
    return outputs if outputs and all(p.exists() for p in outputs) else None


def run_items(items: Iterable[T], plan: Callable[[T], Plan], process: Callable[[T, Plan], None],
              *, overwrite: bool = False, debug: bool = False, label: str = "inputs",
              source: Callable[[T], object] = str, out_dirs: Sequence[Path] = ()) -> RunResult:
    """Plan and process each item; see the module docstring for the rules.

    ``plan(item)`` names the outputs (it may raise for a bad input), ``process(item,
    plan)`` writes them (each through :mod:`rts_core.atomic`). ``source(item)`` is the
    text after ``error:``, normally the input path.
    """
    for folder in out_dirs:
        atomic.cleanup_stale_temporaries(Path(folder))
    result = RunResult()  # items may be a lazy stream (paths arriving through a pipe)
    for item in progress(items, label=label):
        item_plan: Plan | None = None
        try:
            item_plan = plan(item)
            if not overwrite and item_plan.complete():
                log.debug("%s: outputs exist, skipped", source(item))
                result.skipped.append(item)
            else:
                process(item, item_plan)
                missing = [str(p) for p in item_plan.outputs if not p.exists()]
                if missing:
                    raise RuntimeError(f"expected output(s) not written: {', '.join(missing)}")
                result.done.append(item)
        except Exception as exc:  # noqa: BLE001 - isolate every failure to its input
            if item_plan is not None:
                atomic.remove_quietly(*item_plan.outputs)
            report_error(source(item), exc, debug=debug)
            result.failed.append(item)
            continue
        emit(item_plan.printed)
    for folder in out_dirs:  # again: a writer killed just before this run may only now be gone
        atomic.cleanup_stale_temporaries(Path(folder))
    if result.done or result.skipped or result.failed:
        log.info("%d done, %d already complete, %d failed", len(result.done),
                 len(result.skipped), len(result.failed))
    return result
