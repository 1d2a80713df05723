"""Shared fixtures: where the installed console scripts and the test data are, and how
tests run a command (in this process unless they test the process itself)."""

import importlib
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent


def script(name: str) -> str:
    """The console script ``name`` of the environment running the tests."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def run_script(name: str, *args, input: str | None = None, env=None, check=False):
    """A tool's command run in this process through Click's runner, as the console
    script would run it (exit status, standard output, standard error). Tests of the
    process itself (signals, pipes between tools) use :func:`run_process`."""
    tool = name.removeprefix("rts-")
    main = importlib.import_module(f"rts_{tool}.cli").main
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the console script would print: show it whole
    done = subprocess.CompletedProcess([name, *map(str, args)], result.exit_code, result.stdout, result.stderr)
    if check:
        done.check_returncode()
    return done


def run_process(name: str, *args, input: str | None = None, env=None, check=False):
    """The installed console script in a process of its own."""
    return subprocess.run([script(name), *map(str, args)], input=input, capture_output=True,
                          text=True, env=env, check=check)


def synth_and_prep(root: Path, synth_args: str) -> tuple[Path, list[str]]:
    """A synthetic world under ``root``/world and its stacks under ``root``/stacks, made by
    piping rts-synth into rts-prep (two processes, as users run them)."""
    world = root / "world"
    command = (f"{BIN}/rts-synth -q -o {world} {synth_args} | {BIN}/rts-prep -q - --dem {world}/aux/dem.tif "
               f"--tcvis {world}/aux/tcvis.tif -o {root}/stacks")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return world, sorted(done.stdout.split())


