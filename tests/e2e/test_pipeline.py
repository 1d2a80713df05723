"""The chain as one Unix pipeline and through `make pipeline` equals `make demo`; a
pipeline killed mid-run and rerun gives the same products and leaves no temporaries."""

import os
import signal
import subprocess
import time

from tests.e2e.compare_products import differences
from tests.e2e.conftest import ROOT, VENV, make, make_command

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


def test_one_shell_pipeline_equals_make_demo(demo_run, tmp_path):
    out = tmp_path / "pipe"
    scenes = (demo_run / "scenes.txt").read_text()
    done = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline_command(demo_run / "world", out)], input=scenes,
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == f"{out}/products/level1.parquet"
    assert differences(demo_run, out) == []


def test_killed_pipeline_resumes_to_identical_products(demo_run, tmp_path):
    out = tmp_path / "crash"
    world = demo_run / "world"
    arguments = ["pipeline", f"SCENES={' '.join((demo_run / 'scenes.txt').read_text().split())}",
                 f"DEM={world}/aux/dem.tif", f"TCVIS={world}/aux/tcvis.tif", f"LANDCOVER={world}/aux/landcover.tif",
                 f"WATER={world}/aux/landcover.tif", "MODELS=models/demo/tcvis.onnx models/demo/notcvis.onnx",
                 f"OUT={out}"]
    running = subprocess.Popen(make_command(*arguments), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "probs").glob("*.prob.tif")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(running.pid, signal.SIGKILL)  # mid-run: some scenes prepared, others not
    running.wait()
    wait_until_gone(running.pid)
    assert not (out / "products").exists(), "the pipeline finished before it was killed"
    make(*arguments)
    assert differences(demo_run, out) == []
    assert temporaries(out) == []


def test_the_comparison_sees_a_difference(demo_run, tmp_path):
    import shutil

    import geopandas

    copy = tmp_path / "copy"
    shutil.copytree(demo_run / "products", copy / "products")
    shutil.copytree(demo_run / "level1", copy / "level1")
    assert differences(demo_run, copy) == []
    level2 = geopandas.read_parquet(copy / "products" / "level2.parquet")
    level2.iloc[1:].to_parquet(copy / "products" / "level2.parquet")
    assert differences(demo_run, copy) == [f"level2: {len(level2)} rows != {len(level2) - 1} rows"]
