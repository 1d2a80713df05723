"""The command-line contract, exercised through a toy tool built from rts_core."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio

from rts_core import contract

TOY = Path(__file__).with_name("toy_tool.py")
IDS = ["20230715_201234_12_24a3", "20230716_201234_13_24a3", "4764314_1760817_2021-07-20_2416"]


def toy(*args, input=None, env=None):
    return subprocess.run([sys.executable, str(TOY), *map(str, args)], input=input,
                          capture_output=True, text=True, env=env)


def requests(folder: Path, contents=("40 1", "40 2", "40 3")) -> list[Path]:
    paths = []
    for scene_id, text in zip(IDS, contents, strict=False):
        path = folder / f"{scene_id}.txt"
        path.write_text(text)
        paths.append(path)
    return paths


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_outputs_are_cogs_with_tags_and_paths_on_stdout(tmp_path):
    inputs = requests(tmp_path)
    out = tmp_path / "out"
    done = toy(*inputs, "-o", out)
    assert done.returncode == 0, done.stderr
    expected = [str(out / f"{scene_id}.toy.tif") for scene_id in IDS]
    assert done.stdout.splitlines() == expected
    with rasterio.open(expected[1]) as dataset:
        assert dataset.read(1).min() == dataset.read(1).max() == 2
        assert dataset.crs.to_epsg() == 32608
        tags = dataset.tags()
        assert tags[contract.TAG_SCENE_ID] == IDS[1]
        assert tags[contract.TAG_ACQUIRED] == "2023-07-16T20:12:34Z"
        assert tags[contract.TAG_SENSOR] == "PlanetScope"
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert outputs(out) == sorted(Path(p).name for p in expected)  # no leftovers


def test_paths_from_stdin(tmp_path):
    inputs = requests(tmp_path)
    out = tmp_path / "out"
    stdin = "\n".join(map(str, inputs[:2])) + "\n\n   \n"  # blank lines ignored
    done = toy("-", "-o", out, input=stdin)
    assert done.returncode == 0, done.stderr
    assert [Path(p).name for p in done.stdout.splitlines()] == [f"{i}.toy.tif" for i in IDS[:2]]
    empty = toy("-", "-o", out, input="\n")
    assert empty.returncode == 2
    assert "no input paths" in empty.stderr


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path):
    inputs = requests(tmp_path)
    out = tmp_path / "out"
    assert toy(*inputs, "-o", out).returncode == 0
    target = out / f"{IDS[0]}.toy.tif"
    before = target.stat().st_mtime_ns
    again = toy(*inputs, "-o", out)  # the same inputs: complete, skipped
    assert again.returncode == 0
    assert str(target) in again.stdout.splitlines()  # still printed for the next stage
    assert target.stat().st_mtime_ns == before
    with rasterio.open(target) as dataset:
        assert dataset.read(1).max() == 1
    forced = toy(*inputs, "-o", out, "--overwrite")
    assert forced.returncode == 0
    assert target.stat().st_mtime_ns != before
    # complete means made from these inputs (CONTRACT §1: a recorded fingerprint): a
    # changed input is computed again without --overwrite
    inputs[0].write_text("40 9")
    changed = toy(*inputs, "-o", out)
    assert changed.returncode == 0 and str(target) in changed.stdout.splitlines()
    with rasterio.open(target) as dataset:
        assert dataset.read(1).max() == 9


def test_damaged_and_foreign_outputs_are_computed_again(tmp_path):
    inputs = requests(tmp_path)
    out = tmp_path / "out"
    assert toy(*inputs, "-o", out).returncode == 0
    empty, cut, foreign = (out / f"{scene_id}.toy.tif" for scene_id in IDS)
    empty.write_bytes(b"")  # a zero-byte file under a final name
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # truncated
    with rasterio.open(foreign, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))  # readable, but no fingerprint of ours
    again = toy(*inputs, "-o", out)
    assert again.returncode == 0, again.stderr
    assert f"{empty} is damaged (an empty file); computing it again" in again.stderr
    assert f"{cut} is damaged" in again.stderr
    for path, value in zip((empty, cut, foreign), (1, 2, 3), strict=True):
        with rasterio.open(path) as dataset:
            assert dataset.read(1).max() == value and dataset.width == 40


def test_one_bad_input_among_three(tmp_path):
    inputs = requests(tmp_path, contents=("40 1", "not a number", "40 3"))
    out = tmp_path / "out"
    done = toy(*inputs, "-o", out)
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 2
    assert outputs(out) == sorted([f"{IDS[0]}.toy.tif", f"{IDS[2]}.toy.tif"])
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {inputs[1]}: expected two integers '<size> <value>'"]
    assert "Traceback" not in done.stderr
    debug = toy(*inputs, "-o", out, "--debug")
    assert "Traceback" in debug.stderr


def test_missing_input_and_name_without_scene_id(tmp_path):
    out = tmp_path / "out"
    bad = tmp_path / "notascene.txt"
    bad.write_text("4 4")
    done = toy(tmp_path / f"{IDS[0]}.txt", bad, "-o", out)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0].endswith("no such file")
    assert "no PlanetScope scene id" in errors[1]
    assert outputs(out) == []


def test_killed_writer_leaves_no_final_file_and_rerun_recovers(tmp_path):
    (request,) = requests(tmp_path, contents=("6000 7",))
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, str(TOY), str(request), "-o", str(out),
                              "--rows", "512", "--pause", "5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stderr:  # deterministic: killed once the second of twelve strips is written
        if line.startswith("strip 2 written"):
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    final = out / f"{IDS[0]}.toy.tif"
    assert not final.exists()
    leftovers = outputs(out)
    assert leftovers and all(name.startswith(".") and ".tmp" in name for name in leftovers)
    rerun = toy(request, "-o", out, "--rows", "2048")
    assert rerun.returncode == 0, rerun.stderr
    assert outputs(out) == [final.name]  # the dead writer's temporaries are gone
    with rasterio.open(final) as dataset:
        assert dataset.shape == (6000, 6000)
        assert dataset.overviews(1)  # larger than 1024 px: overviews present
        assert int(dataset.read(1, out_shape=(60, 60)).min()) == 7


def test_version_and_environment_variables(tmp_path):
    done = toy("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("rts-toy ")
    inputs = requests(tmp_path)
    out = tmp_path / "out"
    env = dict(os.environ, RTS_TOY_OUT=str(out), RTS_TOY_QUIET="1")
    quiet = toy(inputs[0], env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines() == [str(out / f"{IDS[0]}.toy.tif")]
    assert quiet.stderr == ""
    loud = toy(inputs[1], "-o", out)
    assert "1 done" in loud.stderr
    # a bad value through the environment is a usage error, exit 2
    bad = toy(inputs[0], "-o", out, env=dict(os.environ, RTS_TOY_ROWS="many"))
    assert bad.returncode == 2
    assert "RTS_TOY_ROWS" in bad.stderr or "rows" in bad.stderr
