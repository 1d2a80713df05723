"""Issue #28's causes 2 and 3: a STAC asset on a server that never answers (it held
rts-prep, and the pipe behind it, for good), and STAC assets outside the item's folder
(an absolute href made GDAL open any local file)."""

import shutil
import socket
import subprocess
import threading

import pytest
import rasterio

from rts_core import contract
from tests.conftest import script
from tests.prep.builders import write_dem, write_stac_item, write_tcvis
from tests.robustness.conftest import Done, check, run

HANG_GUARD_S = 300  # not a threshold: only that a hang fails the test instead of CI


@pytest.fixture
def aux(tmp_path):
    return (write_dem(tmp_path / "dem.tif", lambda x, y: 200 + 0.05 * (x - x.mean()) + 0.0 * y),
            write_tcvis(tmp_path / "tcvis.tif"))


@pytest.fixture
def silent_server():
    """A local HTTP port that accepts connections and never answers; yields its URL and
    the list of connections it accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = []

    def accept():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    for connection in accepted:
        connection.close()


def stac_id(tile: str) -> str:
    return f"S2A_T{tile}_20230715T201851"


def test_a_stac_asset_on_a_server_that_never_answers_is_an_error_of_its_item(tmp_path, aux, silent_server):
    """Two processes piped, as users run them: the silent item ends in one error line
    after its timeout and retries, the good item beside it is made and printed, and the
    tool downstream in the pipe gets it."""
    url, accepted = silent_server
    silent = write_stac_item(tmp_path / "silent", tile="08WMD", hrefs={"B02": f"{url}/B02.tif"})
    good = write_stac_item(tmp_path / "good", tile="08WMC")
    dem, tcvis = aux
    out = tmp_path / "stacks"
    command = (f"printf '%s\\n' {silent} {good} | {script('rts-prep')} - --dem {dem} --tcvis {tcvis} "
               f"--http-timeout 1 --http-connect-timeout 1 --http-retries 1 -q -o {out} | cat")
    finished = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True,
                              timeout=HANG_GUARD_S)
    done = Done(finished.returncode, finished.stdout, finished.stderr)
    check(done, 1, silent, out, absent=[out / contract.stack_name(stac_id("08WMD"))])
    assert "timed out" in done.errors[0], done.errors
    assert done.stdout.split() == [str(out / contract.stack_name(stac_id("08WMC")))]
    assert len(accepted) == 2  # the request and its one retry


def test_the_http_limits_are_options_with_environment_variables(tmp_path, aux, silent_server):
    url, accepted = silent_server
    silent = write_stac_item(tmp_path / "silent", tile="08WMD", hrefs={"B02": f"{url}/B02.tif"})
    dem, tcvis = aux
    env = {"RTS_PREP_HTTP_TIMEOUT": "1", "RTS_PREP_HTTP_RETRIES": "0"}
    done = run_with_env(env, silent, "--dem", dem, "--tcvis", tcvis, "-o", tmp_path / "out")
    check(done, 1, silent, tmp_path / "out")
    assert "timed out after 1" in done.errors[0] and len(accepted) == 1


def run_with_env(env, *args) -> Done:
    from tests.conftest import run_script

    finished = run_script("rts-prep", *args, env=env)
    return Done(finished.returncode, finished.stdout, finished.stderr)


def outside_file(tmp_path):
    """A readable raster of the right grid in a folder of its own (another user's data)."""
    source = write_stac_item(tmp_path / "source", tile="08WMF")
    elsewhere = tmp_path / "someone_else"
    elsewhere.mkdir()
    return shutil.copy(source.parent / "B04.tif", elsewhere / "B04.tif")


@pytest.mark.parametrize("case", ["/etc/passwd", "file:///proc/self/environ", "absolute", "file URI",
                                  "/vsicurl/file", "/vsizip/", "link out"])
def test_a_stac_asset_outside_its_items_folder_is_refused(tmp_path, aux, case):
    other = outside_file(tmp_path)
    href = {"/etc/passwd": "/etc/passwd", "file:///proc/self/environ": "file:///proc/self/environ",
            "absolute": str(other), "file URI": f"file://{other}", "/vsicurl/file": f"/vsicurl/file://{other}",
            "/vsizip/": f"/vsizip/{other}.zip/B04.tif", "link out": "./B04_link.tif"}[case]
    bad = write_stac_item(tmp_path / "bad", tile="08WMD", hrefs={"B04": href})
    if case == "link out":
        (bad.parent / "B04_link.tif").symlink_to(other)
    good = write_stac_item(tmp_path / "good", tile="08WMC")
    dem, tcvis = aux
    out = tmp_path / "stacks"
    done = run("prep", bad, good, "--dem", dem, "--tcvis", tcvis, "-o", out)
    check(done, 1, bad, out, absent=[out / contract.stack_name(stac_id("08WMD"))],
          present=[out / contract.stack_name(stac_id("08WMC"))])
    reason = {"/vsicurl/file": "reads http:// and https:// only", "/vsizip/": "unsupported GDAL virtual file system"
              }.get(case, "lies outside the item's folder (allow others with --asset-root)")
    assert f"asset {href!r}" in done.errors[0] and reason in done.errors[0], done.errors


@pytest.mark.parametrize("form", ["absolute", "file URI"])
def test_asset_root_allows_a_folder_the_user_names(tmp_path, aux, form):
    other = outside_file(tmp_path)
    href = {"absolute": str(other), "file URI": f"file://{other}"}[form]
    item = write_stac_item(tmp_path / "item", tile="08WMD", hrefs={"B04": href})
    dem, tcvis = aux
    out = tmp_path / "stacks"
    done = run("prep", item, "--dem", dem, "--tcvis", tcvis, "--asset-root", other.parent, "-o", out)
    assert done.returncode == 0, done.stderr
    with rasterio.open(out / contract.stack_name(stac_id("08WMD"))) as dataset, rasterio.open(other) as red:
        stored_red = dataset.read(dataset.descriptions.index("red") + 1)
        assert (stored_red == red.read(1).astype(int) - 1000).all()  # the outside file's numbers, offset applied
    # another root does not allow it
    done = run("prep", item, "--dem", dem, "--tcvis", tcvis, "--asset-root", tmp_path / "item", "-o",
               tmp_path / "other_out")
    check(done, 1, item, tmp_path / "other_out")
    assert "lies outside the item's folder or an --asset-root" in done.errors[0]
