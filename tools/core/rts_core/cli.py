"""The registry of options shared by every tool (CONTRACT.md section 1).

=================  ======================================================  ============
option             meaning                                                 used by
=================  ======================================================  ============
PATHS... / ``-``   input paths; a lone ``-`` reads one path per stdin line  every tool
``--out/-o DIR``   output folder, created if missing                        every tool
``--overwrite``    recompute outputs that already exist                     every tool
``--quiet``        no progress or info logs (warnings and errors remain)    every tool
``--debug``        debug logs and tracebacks                                every tool
``--version``      print the tool's version                                 every tool
``--http-*``       HTTP timeouts and retries for URL inputs                 rts-prep
=================  ======================================================  ============

Every option can also be set through ``RTS_<TOOL>_<OPTION>``, OPTION being its long
name upper-cased with ``-`` as ``_``, for subcommands too (``RTS_INFER_DEVICE=cpu``,
``RTS_TRAIN_EPOCHS=20`` for ``rts-train fit``): :class:`Command` and :class:`Group`
name each option's variable so (Click's own scheme would follow internal parameter
names and put subcommand names in between).

Errors leave a command one way: :func:`run_options` turns a :class:`RunError` into one
line and exit 2, anything else escaping into one line and exit 1 (tracebacks only with
``--debug``); :func:`exit_with` ends a run with the contract's status.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from .errors import EXIT_SOME_FAILED, RunError, report_error
from .log import setup_logging
from .runner import RunOptions, RunResult

STDIN = "-"


def tool_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "0.0.0"


def version_string(tool: str) -> str:
    """``rts-prep 0.1.0``: what the RTS_VERSION tag and the manifests record."""
    return f"{tool} {tool_version(tool)}"


def envvar_prefix(tool: str) -> str:
    """``rts-infer`` -> ``RTS_INFER``."""
    return tool.upper().replace("-", "_")


def context_settings(tool: str) -> dict:
    return {"auto_envvar_prefix": envvar_prefix(tool), "help_option_names": ["-h", "--help"],
            "max_content_width": 100, "show_default": True}


def option_envvar(prefix: str, option: click.Option) -> str:
    """``RTS_<TOOL>_<OPTION>`` from the option's long name (``--block`` -> ``BLOCK``)."""
    long = max((name for name in option.opts if name.startswith("--")), key=len, default=option.name)
    return f"{prefix}_{long.lstrip('-').upper().replace('-', '_')}"


class Command(click.Command):
    """A command whose options read ``RTS_<TOOL>_<OPTION>``, TOOL being the program's
    (for a subcommand too)."""

    def make_context(self, info_name, args, parent=None, **extra):
        root = parent.find_root() if parent is not None else None
        prefix = (root.auto_envvar_prefix if root is not None else None) or extra.get("auto_envvar_prefix") \
            or (self.context_settings or {}).get("auto_envvar_prefix")
        if prefix:
            for param in self.params:
                if isinstance(param, click.Option) and param.expose_value and param.envvar is None:
                    param.envvar = option_envvar(prefix, param)
        return super().make_context(info_name, args, parent=parent, **extra)


class Group(Command, click.Group):
    """A group of :class:`Command`."""

    command_class = Command


def _decorate(tool: str, package: str, cls, **kwargs):
    def decorator(function):
        prefix = envvar_prefix(tool)
        epilog = kwargs.pop("epilog", None)
        note = (f"Every option can also be set as an environment variable {prefix}_<OPTION> "
                f"(the long name, upper case, - as _).")
        kwargs["epilog"] = f"{epilog}\n\n{note}" if epilog else note
        command = click.command(tool, cls=cls, context_settings=context_settings(tool), **kwargs)(function)
        return click.version_option(tool_version(package), "--version", prog_name=tool,
                                    message="%(prog)s %(version)s")(command)
    return decorator


def command(tool: str, package: str, **kwargs):
    """``click.command`` for a tool: environment variables, ``-h``, ``--version``."""
    return _decorate(tool, package, Command, **kwargs)


def group(tool: str, package: str, cls: type[Group] = Group, **kwargs):
    """``click.group`` for a tool with subcommands (rts-train, rts-validate); ``cls``: a
    :class:`Group` of the tool's own (rts-publish's default subcommand)."""
    return _decorate(tool, package, cls, **kwargs)


def paths_argument(name: str = "paths", metavar: str = "PATH...", required: bool = True):
    return click.argument(name, nargs=-1, required=required, metavar=metavar,
                          type=click.Path(dir_okay=True, path_type=str))


def expand_paths(paths: Sequence[str], stdin=None) -> list[str]:
    """Replace a ``-`` by the newline-separated paths on standard input (blank lines
    ignored). No path at all is a usage error."""
    return list(stream_paths(paths, stdin))


def stream_paths(paths: Sequence[str], stdin=None) -> Iterator[str]:
    """Like :func:`expand_paths`, but lazily: each path read from standard input is
    handed on as soon as its line arrives, so a tool downstream in a pipe starts on the
    first scene while the tool upstream is still on the next ones. The first path is
    read before this returns (no path at all is a usage error, raised here)."""

    def generate():
        for path in paths:
            if path == STDIN:
                stream = stdin if stdin is not None else sys.stdin
                for line in iter(stream.readline, ""):
                    if line.strip():
                        yield line.strip()
            else:
                yield path

    lines = generate()
    try:
        first = next(lines)
    except StopIteration:
        raise click.UsageError("no input paths (none given, and none on standard input)") from None
    return itertools.chain([first], lines)


class DataPath(click.ParamType):
    """An input file GDAL or pyogrio reads: a Path, or, kept as typed, a GDAL virtual path
    or URL (``/vsizip//data/S1.zip/S1/x.shp``, ``/vsicurl/https://...``)."""

    name = "path"

    def convert(self, value, param, ctx):
        from .vector import data_path

        return value if isinstance(value, Path) else data_path(value)


DATA_PATH = DataPath()


def class_codes(_ctx, _param, value) -> tuple[int, ...]:
    """A Click callback: comma-separated integer class codes (``--water-classes 1,2``)."""
    try:
        return tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated class codes, got {value!r}") from None


def out_dir_option(required: bool = True, help: str = "Output folder (created if missing)."):
    return click.option("--out", "-o", "out", required=required, help=help, callback=_usable_out_dir,
                        type=click.Path(file_okay=False, path_type=Path))


def _usable_out_dir(_ctx, _param, value: Path | None) -> Path | None:
    """The output folder, if it can be made: one that cannot (a plain file in the way,
    no permission) stops the run before any input is read. Nothing is created here, so
    a run whose inputs all fail leaves no folder behind."""
    if value is None:
        return value
    existing = value
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunError(value, f"cannot make the output folder: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunError(value, f"cannot write to the output folder: {existing} is not writable")
    return value


GDAL_CACHE_MB = 256


@contextlib.contextmanager
def bounded_gdal_cache():
    """GDAL caches up to 5 % of physical memory by default (1.2 GB on 24 GB); our tools
    read each window once, so a small cache loses nothing and keeps peak memory bounded.
    Set for the command's run and put back after; a GDAL_CACHEMAX set by the user wins."""
    if "GDAL_CACHEMAX" in os.environ:
        yield
        return
    os.environ["GDAL_CACHEMAX"] = str(GDAL_CACHE_MB)
    try:
        yield
    finally:
        os.environ.pop("GDAL_CACHEMAX", None)


HTTP_TIMEOUT_S, HTTP_CONNECT_TIMEOUT_S, HTTP_RETRIES, HTTP_RETRY_DELAY_S = 60, 15, 3, 2


@contextlib.contextmanager
def gdal_http(timeout_s: int, connect_timeout_s: int, retries: int):
    """GDAL's HTTP limits for the command's run, put back after. GDAL has none by
    default: a server that accepts and never answers held a run, and the pipe behind
    it, for good. GDAL 3.10 retries a timed-out request too, after 2, 4, 8 s..., so a
    silent server costs at most (retries + 1) x timeout plus the pauses. A directory
    listing per asset is not made (GDAL_DISABLE_READDIR_ON_OPEN, unless set)."""
    settings = {"GDAL_HTTP_TIMEOUT": str(timeout_s), "GDAL_HTTP_CONNECTTIMEOUT": str(connect_timeout_s),
                "GDAL_HTTP_MAX_RETRY": str(retries), "GDAL_HTTP_RETRY_DELAY": str(HTTP_RETRY_DELAY_S),
                "GDAL_DISABLE_READDIR_ON_OPEN": os.environ.get("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")}
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def http_options(function):
    """``--http-timeout``, ``--http-connect-timeout`` and ``--http-retries`` for a tool
    that reads URLs (STAC assets, /vsicurl/ rasters); the command runs under
    :func:`gdal_http`."""
    @functools.wraps(function)
    def wrapper(*args, http_timeout: int, http_connect_timeout: int, http_retries: int, **kwargs):
        with gdal_http(http_timeout, http_connect_timeout, http_retries):
            return function(*args, **kwargs)

    wrapped = click.option("--http-retries", default=HTTP_RETRIES, type=click.IntRange(0, 10),
                           help="Retries of an HTTP request that failed or timed out (GDAL_HTTP_MAX_RETRY; "
                                "pauses of 2, 4, 8 s... between).")(wrapper)
    wrapped = click.option("--http-connect-timeout", default=HTTP_CONNECT_TIMEOUT_S, type=click.IntRange(1),
                           help="Seconds to wait for an HTTP server to accept a connection "
                                "(GDAL_HTTP_CONNECTTIMEOUT).")(wrapped)
    return click.option("--http-timeout", default=HTTP_TIMEOUT_S, type=click.IntRange(1),
                        help="Seconds an HTTP request may take before it is abandoned, e.g. a STAC asset "
                             "on a server that never answers (GDAL_HTTP_TIMEOUT).")(wrapped)


def run_options(tool: str, overwrite: bool = True):
    """Add ``--overwrite`` (optional), ``--quiet`` and ``--debug``, set up logging, and
    pass them to the command as one ``run`` argument (:class:`RunOptions`). Whatever
    escapes the command ends it the one way (see the module docstring)."""
    def decorator(function):
        @functools.wraps(function)
        def wrapper(*args, quiet: bool, debug: bool, **kwargs):
            setup_logging(tool, quiet=quiet, debug=debug)
            run = RunOptions(tool, kwargs.pop("overwrite", False), quiet, debug)
            try:
                with bounded_gdal_cache():
                    return function(*args, run=run, **kwargs)
            except RunError:
                if debug:
                    traceback.print_exc(file=sys.stderr)
                raise  # Click shows it as one line and exits with its code
            except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                    SystemExit, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - the contract's one line, whatever went wrong
                report_error(getattr(exc, "source", None) or tool, exc, debug=debug)
                sys.exit(EXIT_SOME_FAILED)

        wrapped = click.option("--debug", is_flag=True,
                               help="Debug logs, and tracebacks with errors.")(wrapper)
        wrapped = click.option("--quiet", "-q", is_flag=True,
                               help="No progress or info logs (warnings and errors remain)."
                               )(wrapped)
        if overwrite:
            wrapped = click.option("--overwrite", is_flag=True,
                                   help="Recompute outputs that already exist (default: skip "
                                        "them, still printing their paths).")(wrapped)
        return wrapped
    return decorator


def fail(source: object, exc: BaseException, *, debug: bool = False, code: int = EXIT_SOME_FAILED) -> None:
    """End a command that failed as a whole: the contract's one line, then ``code``."""
    report_error(source, exc, debug=debug)
    sys.exit(code)


def exit_with(result: RunResult | None = None, failed: bool = False) -> None:
    """End the command with the contract's exit status: 0 all done, 1 some input
    failed (in ``result``, or ``failed`` for failures reported before the run)."""
    sys.exit(EXIT_SOME_FAILED if failed or (result is not None and result.failed) else 0)
