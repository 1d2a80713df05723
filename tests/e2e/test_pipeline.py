"""The chain as one Unix pipeline and through `make pipeline` equals `make demo`; a
pipeline killed mid-run and rerun gives the same products and leaves no temporaries.

The pipelines reuse the demo run's stacks, copied to their output (rts-prep finds them
complete, made from the same scenes and options, and passes them on), so they compute
from probabilities on."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.e2e.compare_products import differences
from tests.e2e.conftest import ROOT, VENV, make

pytestmark = pytest.mark.slow  # the demo run and pipelines of processes

BIN = VENV / "bin"


def pipeline_command(world, out):
    return (f"{BIN}/rts-prep -q - --dem {world}/aux/dem.tif --tcvis {world}/aux/tcvis.tif"
            f" --landcover {world}/aux/landcover.tif -o {out}/stacks"
            f" | {BIN}/rts-infer -q - --model models/demo/tcvis.onnx --model models/demo/notcvis.onnx -o {out}/probs"
            f" | {BIN}/rts-ensemble -q - --water {world}/aux/landcover.tif -o {out}/level1"
            f" | {BIN}/rts-aggregate -q - --gpkg -o {out}/products")


def wait_until_gone(group: int) -> None:
    """Until every process of the killed group has exited (and released its pid)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def temporaries(folder):
    """Files a killed writer left (rts_core.atomic's hidden temporary names)."""
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


def with_demo_stacks(demo_run, out):
    shutil.copytree(demo_run / "stacks", out / "stacks")
    return out


def test_one_shell_pipeline_equals_make_demo(demo_run, tmp_path):
    out = with_demo_stacks(demo_run, tmp_path / "pipe")
    scenes = (demo_run / "scenes.txt").read_text()
    done = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline_command(demo_run / "world", out)], input=scenes,
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == f"{out}/products/level1.parquet"
    assert differences(demo_run, out) == []


def test_killed_pipeline_resumes_to_identical_products(demo_run, tmp_path):
    """Killed at a known point: the first scene's probabilities written, every tool
    waiting for the next path (fed one at a time), nothing of Level 1 or the products."""
    out = with_demo_stacks(demo_run, tmp_path / "crash")
    world = demo_run / "world"
    scenes = (demo_run / "scenes.txt").read_text().split()
    running = subprocess.Popen(["bash", "-o", "pipefail", "-c", pipeline_command(world, out)],
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    running.stdin.write(scenes[0] + "\n")
    running.stdin.flush()
    first = scenes[0].rsplit("/", 2)[-2]
    deadline = time.monotonic() + 120
    while len(list((out / "probs").glob(f"{first}.*.prob.tif"))) < 2:
        assert time.monotonic() < deadline and running.poll() is None, "rts-infer did not write the first scene"
        time.sleep(0.05)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()
    wait_until_gone(running.pid)
    assert sorted(p.name for p in (out / "probs").iterdir()) == sorted(
        f"{first}.{model}.prob.tif" for model in ("tcvis", "notcvis"))
    assert not (out / "level1").exists() and not (out / "products").exists()
    before = {p: p.stat().st_mtime_ns for p in (out / "probs").iterdir()}
    make("pipeline", f"SCENES={' '.join(scenes)}", f"DEM={world}/aux/dem.tif", f"TCVIS={world}/aux/tcvis.tif",
         f"LANDCOVER={world}/aux/landcover.tif", f"WATER={world}/aux/landcover.tif",
         "MODELS=models/demo/tcvis.onnx models/demo/notcvis.onnx", f"OUT={out}")
    assert differences(demo_run, out) == []
    assert temporaries(out) == []
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in before.items())  # the first scene was kept


def test_the_comparison_sees_a_difference(demo_run, tmp_path):
    import geopandas

    copy = tmp_path / "copy"
    shutil.copytree(demo_run / "products", copy / "products")
    shutil.copytree(demo_run / "level1", copy / "level1")
    assert differences(demo_run, copy) == []
    level2 = geopandas.read_parquet(copy / "products" / "level2.parquet")
    level2.iloc[1:].to_parquet(copy / "products" / "level2.parquet")
    assert differences(demo_run, copy) == [f"level2: {len(level2)} rows != {len(level2) - 1} rows"]
