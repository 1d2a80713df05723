"""workflow/Snakefile on the small demo world gives the products of `make demo`, and
after a killed run a rerun recomputes only what is missing."""

import os
import signal
import subprocess
import time

import yaml

from tests.e2e.compare_products import differences
from tests.e2e.conftest import ROOT, VENV
from tests.e2e.test_pipeline import temporaries, wait_until_gone


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


def snakemake(config, *extra, **kwargs):
    command = [str(VENV / "bin" / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), "--configfile",
               str(config), "--cores", "2", "--directory", str(config.parent), *extra]
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def test_snakemake_matches_make_demo_and_resumes_after_a_kill(demo_run, tmp_path):
    out = tmp_path / "snake"
    config = config_file(demo_run, out, tmp_path / "config.yaml")
    first = snakemake(config, start_new_session=True)
    deadline = time.monotonic() + 180
    while len(list((out / "stacks").glob("*.stack.tif"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    wait_until_gone(first.pid)
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "stacks").glob("*.stack.tif")}
    assert 4 <= len(kept) < 8 and not (out / "products").exists()

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
