"""A small chain made once (scenes, stacks, two models, probabilities, Level 1) for the
robustness corpus, and the checks every fault case makes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from rts_core import atomic
from tests.conftest import run_script, synth_and_prep
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
    """A tool's command in this process (tests.conftest.run_script)."""
    done = run_script(f"rts-{tool}", *args, input=input)
    return Done(done.returncode, done.stdout, done.stderr)


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
    world, printed = synth_and_prep(root, f"--scenes {SCENES} --size 160 --years 2022")
    stacks = [Path(p) for p in printed]
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
