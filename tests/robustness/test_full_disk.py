"""A full disk (issue #28, cause 1): an output is checked whole before it takes its
final name, so a write that failed on the way (GDAL's COG copy only logged "No space
left on device", and the broken file was renamed into place) is an error for its input,
never a finished output."""

import contextlib
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rts_core import atomic
from tests.conftest import run_script
from tests.infer.golden import TCVIS, conv_over, stack


@contextlib.contextmanager
def small_disk(tmp_path, kilobytes: int):
    """A tmpfs of ``kilobytes`` mounted in ``tmp_path`` (root only; else the test skips)."""
    folder = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_truncated_raster_or_parquet_never_takes_its_final_name(tmp_path):
    good = tmp_path / "good.tif"
    with rasterio.open(good, "w", driver="GTiff", width=600, height=600, count=2, dtype="uint8", tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate") as dataset:
        dataset.write(np.random.default_rng(0).integers(0, 255, (2, 600, 600), dtype="uint8"))
    data = good.read_bytes()
    for name, content in (("cut.tif", data[: len(data) * 2 // 3]), ("cut.parquet", b"PAR1" + b"\0" * 64)):
        final = tmp_path / "out" / name
        with pytest.raises(atomic.IncompleteWrite, match=f"{name} was not written whole"), \
                atomic.atomic_path(final) as temporary:
            temporary.write_bytes(content)
        assert not final.exists() and list((tmp_path / "out").iterdir()) == []
    atomic.verify_whole(good)  # a whole file passes


def test_rts_infer_on_a_filling_disk_either_finishes_whole_or_fails_cleanly(tmp_path):
    """Output folders from nearly empty to roomy: every run exits 0 with whole rasters,
    or 1 with one error line naming the stack and nothing under a final name; near the
    limit the line says the disk is full."""
    path = stack(tmp_path / "20230715_201234_12_24a3.stack.tif", (1500, 1500), seed=1)
    model = conv_over(tmp_path / "a.onnx", "a", TCVIS, 1)
    outcomes = []
    for kilobytes in range(600, 5600, 700):
        with small_disk(tmp_path, kilobytes) as disk:
            out = disk / "probs"
            done = run_script("rts-infer", path, "--model", model, "-o", out)
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            left = sorted(p.name for p in out.iterdir()) if out.exists() else []
            if done.returncode == 0:
                assert errors == [] and left == ["20230715_201234_12_24a3.a.prob.tif"]
                atomic.verify_whole(out / left[0])
                with rasterio.open(out / left[0]) as dataset:
                    assert dataset.read(1).max() <= 100
            else:
                assert done.returncode == 1 and len(errors) == 1 and errors[0].startswith(f"error: {path}: ")
                assert left == [] and done.stdout == ""
            outcomes.append((kilobytes, done.returncode, errors[0] if errors else ""))
    assert {code for _, code, _ in outcomes} == {0, 1}, outcomes
    assert any("No space left on device" in error for _, _, error in outcomes), outcomes


def test_rts_prep_on_a_filling_disk_names_the_scene_whose_stack_failed(tmp_path):
    """Three scenes on two threads into folders from nearly empty to roomy: rts-prep
    printed four paths of which one could not be opened, or named another scene than the
    broken one. Now every printed stack is whole, every error line names a scene whose
    stack is absent, and nothing else is left in the folder."""
    from tests.prep.builders import write_dem, write_scene, write_tcvis

    ids = ["20220714_201530_42_24a3", "20220715_201530_42_24a3", "20220716_201530_42_24a3"]
    scenes = {scene_id: write_scene(tmp_path / scene_id, size=(200, 240), scene_id=scene_id) for scene_id in ids}
    dem = write_dem(tmp_path / "dem.tif", lambda x, y: 10 + 0.01 * x + 0 * y)
    tcvis = write_tcvis(tmp_path / "tcvis.tif")
    outcomes = []
    for kilobytes in range(1000, 8600, 1200):  # a 200 x 240 stack drafts 5.8 MB (512 px tiles), keeps 450 kB
        with small_disk(tmp_path, kilobytes) as disk:
            out = disk / "stacks"
            done = run_script("rts-prep", *scenes.values(), "--dem", dem, "--tcvis", tcvis, "-o", out)
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            printed = done.stdout.split()
            left = sorted(p.name for p in out.iterdir()) if out.exists() else []
            assert sorted(Path(p).name for p in printed) == left  # nothing under a final name but what is done
            for path in printed:
                atomic.verify_whole(Path(path))
            failed = {scene_id for scene_id, sr in scenes.items() if any(e.startswith(f"error: {sr}: ")
                                                                          for e in errors)}
            assert len(failed) == len(errors)  # each line names one scene
            assert {Path(p).name.split(".")[0] for p in printed} == set(ids) - failed
            assert done.returncode == (1 if errors else 0)
            outcomes.append((kilobytes, len(printed), errors[0] if errors else ""))
    assert {n for _, n, _ in outcomes} >= {0, len(ids)}, outcomes
    assert any("No space left on device" in error for _, _, error in outcomes), outcomes


def test_a_full_disk_gives_one_error_line_and_no_native_noise(tmp_path, kilobytes=600):
    """In a process of its own (what GDAL and libtiff print goes to the process's
    stderr, which an in-process run does not capture): "ERROR 1: TIFFAppendToStrip:..."
    from GDAL's compression threads and libtiff's "_tiffWriteProc: No space left on
    device." were printed beside the error line."""
    from tests.conftest import run_process

    path = stack(tmp_path / "20230715_201234_12_24a3.stack.tif", (1500, 1500), seed=1)
    model = conv_over(tmp_path / "a.onnx", "a", TCVIS, 1)
    with small_disk(tmp_path, kilobytes) as disk:
        done = run_process("rts-infer", path, "--model", model, "-q", "-o", disk / "probs")
        assert done.returncode == 1 and done.stdout == ""
        lines = done.stderr.splitlines()
        errors = [line for line in lines if line.startswith("error:")]
        assert errors == [line for line in lines if not line.startswith("rts-infer: warning:")], done.stderr
        assert len(errors) == 1 and errors[0].startswith(f"error: {path}: No space left on device: ")
