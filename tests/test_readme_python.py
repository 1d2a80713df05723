"""The README's "From Python" block, run as it stands on a small synthetic world: each
stage's plain function, called without its command (issue #30, item 1)."""

import os
import re
from pathlib import Path

import geopandas
import pytest

from tests.conftest import run_script

ROOT = Path(__file__).resolve().parents[1]


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return block


def test_the_readme_python_example_runs_the_chain(tmp_path, capsys):
    world = tmp_path / "demo" / "world"
    done = run_script("rts-synth", "-q", "-o", world, "--scenes", "1", "--size", "200", "--years", "2022")
    assert done.returncode == 0, done.stderr
    (tmp_path / "models").symlink_to(ROOT / "models")  # the block names models/demo/... from the repository
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {}
        exec(compile(readme_block(), "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    finally:
        os.chdir(previous)
    def here(path):  # the block's paths are relative to the folder it ran in
        return tmp_path / path

    stack = namespace["stack"]
    assert stack.parent == Path("notebook/stacks") and here(stack).exists()
    assert sorted(p.name.split(".")[1] for p in namespace["probabilities"]) == ["notcvis", "tcvis"]
    assert set(namespace["scene_files"]) == {"prob", "mask", "l1", "extent"}
    assert all(here(p).exists() for p in namespace["scene_files"].values())
    products = namespace["products"]
    assert {"level1", "level2", "tracks", "h3"} <= set(products)
    level1 = geopandas.read_parquet(here(products["level1"]))
    assert namespace["scores"]["overall"]["n_pred"] == len(level1)
    printed = capsys.readouterr().out
    assert re.search(r"\d+ predicted, F1 \d\.\d\d", printed)
    pixels = namespace["pixels"]
    assert pixels["tp"] + pixels["fn"] > 0 and re.search(r"pixel F1 \d\.\d\d", printed)


@pytest.mark.parametrize("package, names", [
    ("rts_prep", ["PrepOptions", "make_stack"]), ("rts_infer", ["InferOptions", "load_models", "predict"]),
    ("rts_ensemble", ["CleanupOptions", "level1"]), ("rts_aggregate", ["AggregateOptions", "aggregate"]),
    ("rts_validate", ["ObjectOptions", "score_objects", "score_pixels"])])
def test_each_stage_exports_its_functions(package, names):
    module = __import__(package)
    assert sorted(module.__all__) == sorted(names) and all(callable(getattr(module, n)) for n in names)
