"""workflow/Snakefile on the small demo world gives the products of `make demo`, and
after a killed run a rerun recomputes only what is missing.

The kill is deterministic: a stand-in for rts-prep on the PATH holds one test scene's
job on a named pipe, so when Snakemake is killed every other job has finished and that
one has written nothing. The demo run's files are reused for six scenes (Snakemake sees
them complete, oldest stage first): the run computes one scene through every stage,
another from its stack, and the products and validation of all eight."""

import os
import shutil
import signal
import subprocess
import time

import pytest
import yaml

from tests.e2e.compare_products import differences
from tests.e2e.conftest import ROOT, VENV
from tests.e2e.test_pipeline import temporaries, wait_until_gone

pytestmark = pytest.mark.slow  # Snakemake runs of the demo world


def config_file(demo_run, out, path):
    """workflow/config.demo.yaml as shipped, its paths moved to this test's demo run."""
    config = yaml.safe_load((ROOT / "workflow" / "config.demo.yaml").read_text())
    for key, value in config.items():
        if isinstance(value, str) and value.startswith("demo/"):
            config[key] = str(demo_run / value.removeprefix("demo/"))
    config["models"] = {name: str(ROOT / file) for name, file in config["models"].items()}
    config["out"] = str(out)
    path.write_text(yaml.safe_dump(config))
    return path


def holding_prep(folder, fifo):
    """An rts-prep that waits on ``fifo`` for the scene named by RTS_TEST_HOLD."""
    folder.mkdir()
    script = folder / "rts-prep"
    script.write_text(f'#!/bin/bash\nif [ -n "$RTS_TEST_HOLD" ] && [[ "$*" == *"$RTS_TEST_HOLD"* ]]; then\n'
                      f'  read -r _ < "{fifo}"\nfi\nexec "{VENV / "bin" / "rts-prep"}" "$@"\n')
    script.chmod(0o755)
    os.mkfifo(fifo)
    return folder


def snakemake(config, *extra, path_first=None, hold=None, stderr=subprocess.PIPE, **kwargs):
    command = [str(VENV / "bin" / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), "--configfile",
               str(config), "--cores", "2", "--directory", str(config.parent), *extra]
    path = ":".join(str(p) for p in (path_first, VENV / "bin") if p) + f":{os.environ['PATH']}"
    env = {key: value for key, value in os.environ.items() if key != "RTS_TEST_HOLD"}
    env["PATH"] = path
    if hold:
        env["RTS_TEST_HOLD"] = hold
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True, **kwargs)


def wait_for(condition, seconds=240):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the workflow did not reach the expected state"
        time.sleep(0.1)


def test_snakemake_matches_make_demo_and_resumes_after_a_kill(demo_run, tmp_path):
    out = tmp_path / "snake"
    config = config_file(demo_run, out, tmp_path / "config.yaml")
    test_scenes = [line.split(",")[0] for line in (demo_run / "world" / "scenes.csv").read_text().splitlines()[1:]
                   if line.split(",")[4] == "test"]
    held = test_scenes[0]  # a test scene: validation waits for it too, so nothing else is running
    scenes = sorted(p.name.split(".")[0] for p in (demo_run / "stacks").glob("*.stack.tif"))
    live = next(scene for scene in scenes if scene != held)  # computed from its stack on
    for stage, kept_scenes in (("stacks", set(scenes) - {held}), ("probs", set(scenes) - {held, live}),
                               ("level1", set(scenes) - {held, live})):
        (out / stage).mkdir(parents=True)
        for path in sorted((demo_run / stage).iterdir()):
            if path.name.split(".")[0] in kept_scenes:
                shutil.copy(path, out / stage / path.name)
    wrappers = holding_prep(tmp_path / "bin", tmp_path / "hold.fifo")
    log = tmp_path / "first.log"
    with open(log, "w") as first_log:
        first = snakemake(config, path_first=wrappers, hold=held, stderr=first_log, start_new_session=True)
    wait_for(lambda: len(list((out / "level1").glob("*.l1.parquet"))) == 7 or first.poll() is not None)
    assert first.poll() is None, log.read_text()[-3000:]
    os.killpg(first.pid, signal.SIGKILL)  # every job done but the held one, which wrote nothing
    first.wait()
    wait_until_gone(first.pid)
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "stacks").glob("*.stack.tif")}
    assert len(kept) == 7 and not (out / "products").exists()

    unlock = snakemake(config, "--unlock")
    assert unlock.wait() == 0
    rerun = snakemake(config, "--rerun-incomplete")
    _, errors = rerun.communicate()
    assert rerun.returncode == 0, errors[-3000:]
    after = {p.name: p.stat().st_mtime_ns for p in (out / "stacks").glob("*.stack.tif")}
    assert len(after) == 8
    # stacks finished before the kill were kept; only those of jobs still running at the
    # kill (at most --cores 2) may be redone, as Snakemake cannot know they completed
    assert sum(after[name] == mtime for name, mtime in kept.items()) >= len(kept) - 2
    assert differences(demo_run, out) == []
    assert temporaries(out) == []
    done = snakemake(config)
    _, errors = done.communicate()
    assert done.returncode == 0 and "Nothing to be done" in errors
