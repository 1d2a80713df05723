"""Errors and the one error line (CONTRACT.md section 1): an input's problem
(:class:`InputError`), a run-level option's (:class:`RunError`, a usage error), the
``error: <source>: <reason>`` line and the exit statuses."""

from __future__ import annotations

import sys
import traceback

import click

from .log import bars_cleared

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2  # Click's usage errors, and run-level options that cannot be used


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


def blamed(source: object, exc: BaseException) -> InputError:
    """``exc`` as an InputError naming the file at fault: its own source if it names one,
    else ``source``. Library code raises it; the command's one error line reports it
    (rts_core.cli.run_options), so no stage function ends the process itself."""
    if isinstance(exc, InputError) and exc.source is not None:
        return exc
    return InputError(one_line(exc), source=source)


def one_line(exc: BaseException) -> str:
    """An exception as a single line (its message, else its type)."""
    return " ".join(str(exc).split()) if str(exc).strip() else type(exc).__name__


def report_error(source: object, exc: BaseException, *, debug: bool = False) -> None:
    """The contract's one line, ``error: <source>: <reason>`` (a traceback first with
    ``--debug``). An exception that names its own source wins."""
    with bars_cleared(sys.stderr):  # a progress bar on the terminal is drawn again below the line
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(error_line(getattr(exc, "source", None) or source, exc), file=sys.stderr, flush=True)


def error_line(source: object, exc: BaseException) -> str:
    return f"error: {source}: {one_line(exc)}"
