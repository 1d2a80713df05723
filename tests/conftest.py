"""Shared fixtures: where the installed console scripts and the test data are."""

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent


def script(name: str) -> str:
    """The console script ``name`` of the environment running the tests."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def run_script(name: str, *args, input: str | None = None, env=None, check=False):
    return subprocess.run([script(name), *map(str, args)], input=input, capture_output=True,
                          text=True, env=env, check=check)


@pytest.fixture
def data_dir() -> Path:
    return DATA
