"""A small chain made once (scenes, stacks, two models, probabilities, Level 1) for the
robustness corpus, and the checks every fault case makes."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from rts_core import atomic
from tests.conftest import BIN
from tests.infer.models import conv_model

SCENES = 2


@dataclass
class Chain:
    world: Path
    scenes: list[Path]  # SR files
    stacks: list[Path]
    models: list[Path]  # "tcvis" and "notcvis" (small convolutions of ndvi)
    probs: list[Path]  # per scene and model
    level1: list[Path]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run(tool: str, *args, input: str | None = None) -> Done:
    """A tool's command in this process (Click's runner): exit status, stdout, stderr."""
    main = importlib.import_module(f"rts_{tool}.cli").main
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug in the test or the tool: show it whole
    return Done(result.exit_code, result.stdout, result.stderr)


def check(done: Done, code: int, bad, out: Path | None = None, absent=(), present=()) -> None:
    """The contract for one fault: exit ``code``, exactly one error line and it names
    ``bad``, no traceback, nothing of the failed input under ``absent``, the other
    inputs' outputs under ``present``, and no temporary file left in ``out``."""
    assert done.returncode == code, done.stderr
    assert len(done.errors) == 1, done.stderr
    assert done.errors[0].startswith(f"error: {bad}: "), done.errors
    assert "Traceback" not in done.stderr
    for path in absent:
        assert not Path(path).exists(), path
    for path in present:
        assert Path(path).exists(), path
    if out is not None and Path(out).is_dir():
        assert not [p for p in Path(out).iterdir() if atomic.is_temporary(p)]


@pytest.fixture(scope="session")
def chain(tmp_path_factory) -> Chain:
    root = tmp_path_factory.mktemp("robust")
    world = root / "world"
    command = (f"{BIN}/rts-synth -q -o {world} --scenes {SCENES} --size 160 --years 2022 | {BIN}/rts-prep -q - "
               f"--dem {world}/aux/dem.tif --tcvis {world}/aux/tcvis.tif -o {root}/stacks")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    stacks = sorted(Path(p) for p in done.stdout.split())
    models = [conv_model(root / f"{name}.onnx", name=name) for name in ("tcvis", "notcvis")]
    probs = run("infer", *stacks, "--model", models[0], "--model", models[1], "-q", "-o", root / "probs")
    assert probs.returncode == 0, probs.stderr
    level1 = run("ensemble", *probs.stdout.split(), "-q", "-o", root / "level1")
    assert level1.returncode == 0, level1.stderr
    scenes = sorted((world / "scenes").glob("*/*_SR.tif"))
    return Chain(world, scenes, stacks, models, sorted(map(Path, probs.stdout.split())),
                 sorted(map(Path, level1.stdout.split())))


def copy(paths, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in paths:
        target = folder / Path(path).name
        shutil.copy(path, target)
        copies.append(target)
    return copies
