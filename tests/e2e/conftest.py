"""One small run of `make demo` shared by the end-to-end tests that compare against it."""

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
SMALL_WORLD = "--scenes 8 --size 320 --years 2022,2023 --confounders hard --input-errors"
THRESHOLDS = ("0.4", "0.5")  # the object sweep of the demo (seven thresholds in `make demo`)


def make_command(*args) -> list[str]:
    """The command line of a Makefile target with this test environment's tools (no reinstall)."""
    return ["make", "--no-print-directory", f"VENV={VENV}", "SETUP=", *args]


def make(*args, cwd=ROOT, check=True, **kwargs):
    """Run a Makefile target with this test environment's tools (no reinstall)."""
    done = subprocess.run(make_command(*args), cwd=cwd, capture_output=True, text=True, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """`make demo` on a small hard world of 8 scenes (two regions; the second held apart), made once
    per test run: under pytest-xdist (``make test``) the first worker to need it makes
    it, in the run's common temporary folder, while the others wait for it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make_demo(tmp_path_factory.mktemp("make") / "demo")
    shared = tmp_path_factory.getbasetemp().parent  # this run's, common to its workers
    with open(shared / "demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        folder = shared / "make" / "demo"
        if not (shared / "make" / "demo.done").exists():
            make_demo(folder)
            (shared / "make" / "demo.done").touch()
    return folder


def make_demo(folder: Path) -> Path:
    done = make("demo", f"DEMO_DIR={folder}", f"SYNTH_ARGS={SMALL_WORLD}", f"THRESHOLDS={' '.join(THRESHOLDS)}")
    assert "Held-apart test scenes, object level" in done.stdout
    assert "Best threshold on the held-apart test scenes" in done.stdout
    assert "## Object scores on the held-apart regions" in done.stdout and "## Ablations" in done.stdout
    return folder
