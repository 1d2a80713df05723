"""Progress on standard error (rts_core.log): a tqdm bar with the time left on a
terminal, nested bars within long scenes, plain lines with the time left anywhere else,
nothing with --quiet; log lines written while a bar is shown stay whole."""

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from rts_core import log, raster
from tests.conftest import run_script, script

TOY = Path(__file__).with_name("toy_tool.py")
SCENES = ("20220801_201500_10_2416", "20220802_201500_10_2416")
TIME_LEFT = re.compile(r"\[\d\d:\d\d<\d\d:\d\d")  # tqdm's [elapsed<remaining


def on_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv`` with its standard error on a pseudo-terminal (100 columns): exit
    status, standard output and what the terminal received."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    received = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        received.append(chunk)
    os.close(master)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(), stdout, b"".join(received).decode()


def whole_line(text: str, terminal: str) -> bool:
    """Whether ``text`` starts at the beginning of a terminal line (a new one, or one
    whose bar was cleared: after a carriage return, or the cursor moved up from a nested
    bar) and ends it."""
    return re.search(r"(\n|\r|\x1b\[A)" + re.escape(text) + r"\r\n", terminal) is not None


@pytest.fixture
def probabilities(tmp_path):
    """Two scenes' probability rasters (one model each) for rts-ensemble."""
    paths = []
    for day, scene in enumerate(SCENES, start=1):
        stored = np.full((64, 64), 10, np.uint8)
        stored[20:40, 20:40] = 90
        tags = raster.scene_tags(scene, f"2022-08-0{day}T20:15:00Z", "test", model="tcvis")
        path = tmp_path / f"{scene}.tcvis.prob.tif"
        raster.write_cog(path, stored, crs="EPSG:32608", transform=Affine(3, 0, 600000, 0, -3, 7700000), nodata=255,
                         tags=tags, scales=[0.01], offsets=[0.0])
        paths.append(path)
    return paths


class Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class Captured:
    """What the test wrote to standard error (captured: not a terminal)."""

    def __init__(self, capsys):
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def plain(monkeypatch, capsys):
    """Standard error that is not a terminal (a log file), and a clock the test moves."""
    clock = Clock()
    monkeypatch.setattr(log, "time", clock)
    root = logging.getLogger()
    level = root.level
    yield Captured(capsys), clock
    for handler in list(root.handlers):
        if getattr(handler, "_rts", False):
            root.removeHandler(handler)
    root.setLevel(level)
    log._state.update(quiet=False, tool="rts")


# -- a real tool ---------------------------------------------------------------------
def test_tool_shows_a_bar_with_the_time_left_on_a_terminal(probabilities, tmp_path):
    code, stdout, terminal = on_terminal([script("rts-ensemble"), *map(str, probabilities), "-o", str(tmp_path / "l1")])
    assert code == 0, terminal
    assert len(stdout.split()) == 2
    assert "ensemble: 100%|" in terminal and "| 2/2 [" in terminal
    assert TIME_LEFT.search(terminal), terminal
    # log lines (the warnings of one-model scenes, the summary) each get a line of their
    # own, those logged while the bar is shown too, the bar drawn again below them
    logged = re.findall(r"rts-ensemble: [^\r\n]*", terminal)
    assert len(logged) >= 2 and logged[-1] == "rts-ensemble: 2 done, 0 already complete, 0 failed"
    assert all(whole_line(line, terminal) for line in logged), terminal
    assert "ensemble: " in terminal.split(logged[0], 1)[1].split(logged[-1])[0]


def test_tool_prints_plain_lines_with_the_time_left_elsewhere(probabilities, tmp_path):
    done = run_script("rts-ensemble", *probabilities, "-o", tmp_path / "l1")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "rts-ensemble: ensemble 1/2, 0 s elapsed, about 0 s left" in lines
    assert "rts-ensemble: ensemble 2/2, 0 s elapsed" in lines
    assert "\r" not in done.stderr and "%|" not in done.stderr and "it/s" not in done.stderr


def test_quiet_shows_no_bar_on_a_terminal(tmp_path):
    request = tmp_path / f"{SCENES[0]}.txt"
    request.write_text("64 3")
    code, stdout, terminal = on_terminal([sys.executable, str(TOY), str(request), "-o", str(tmp_path / "out"), "-q"])
    assert code == 0 and stdout.strip().endswith(".toy.tif")
    assert terminal == ""
    code, _, terminal = on_terminal([sys.executable, str(TOY), str(request), "-o", str(tmp_path / "out"),
                                     "--overwrite"])
    assert code == 0 and "inputs: 100%|" in terminal  # the same run without -q does show one


# -- rts_core.log ----------------------------------------------------------------------
NESTED = textwrap.dedent("""
    import logging, time
    from rts_core import log

    log.setup_logging("rts-test")
    for i in log.progress(range(3), label="inputs"):
        with log.scene_progress(4, f"scene{i}", unit="tile", delay=0.2) as shown:
            for step in range(4):
                time.sleep(0.1 if i == 0 else 0)  # scene 0 lasts past the delay, the others do not
                shown.update()
                if i == 0 and step == 2:
                    logging.getLogger("t").info("halfway")
        logging.getLogger("t").info("scene %d done", i)
""")


def test_scene_bar_nests_under_the_inputs_bar_only_for_long_scenes():
    code, _, terminal = on_terminal([sys.executable, "-c", NESTED])
    assert code == 0, terminal
    assert "inputs: 100%|" in terminal and "| 3/3 [" in terminal and TIME_LEFT.search(terminal)
    assert "scene0:" in terminal and "tile/s" in terminal  # the long scene's bar
    assert "scene1:" not in terminal and "scene2:" not in terminal  # short scenes: none
    assert "\x1b[A" in terminal  # drawn on the line below the inputs' bar
    for message in ("halfway", "scene 0 done", "scene 1 done", "scene 2 done"):
        assert whole_line(f"rts-test: {message}", terminal), terminal


def test_inputs_lines_are_sparse_and_say_the_time_left(plain):
    stream, clock = plain
    log.setup_logging("rts-test")
    for _ in log.progress(range(4), label="prep"):
        clock.now += 10
    assert stream.getvalue().splitlines() == [
        "rts-test: prep 1/4, 10 s elapsed, about 30 s left",
        "rts-test: prep 2/4, 20 s elapsed, about 20 s left",
        "rts-test: prep 3/4, 30 s elapsed, about 10 s left",
        "rts-test: prep 4/4, 40 s elapsed",
    ]
    for _ in log.progress(range(1000), label="infer"):
        clock.now += 0.1
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10  # every 10 %, not every input
    assert lines[2] == "rts-test: infer 300/1000, 30 s elapsed, about 70 s left"
    for _ in log.progress(range(100), label="infer"):
        clock.now += 20
    lines = stream.getvalue().splitlines()
    assert len(lines) == 50  # and every 30 s: here every second input
    assert lines[9] == "rts-test: infer 20/100, 7 min elapsed, about 27 min left"


def test_inputs_lines_without_a_total_say_what_is_done(plain):
    stream, clock = plain
    log.setup_logging("rts-test")
    for _ in log.progress(iter(range(5)), label="prep", every_seconds=30):
        clock.now += 20
    assert stream.getvalue().splitlines() == ["rts-test: prep 2, 40 s elapsed", "rts-test: prep 4, 80 s elapsed"]


def test_scene_lines_only_for_long_scenes(plain):
    stream, clock = plain
    log.setup_logging("rts-test")
    for _ in log.scene_items(range(50), "short", unit="tile"):
        clock.now += 1
    assert stream.getvalue() == ""  # 50 s: under SCENE_LINE_SECONDS, nothing
    with log.scene_progress(600, "S2A_T08WMB", unit="tile") as shown:
        for _ in range(6):
            clock.now += 100
            shown.update(100)
    assert stream.getvalue().splitlines() == [
        "rts-test: S2A_T08WMB: 300/600 tiles, 5 min elapsed, about 5 min left",
        "rts-test: S2A_T08WMB: 600/600 tiles, 10 min elapsed",
    ]


def test_quiet_reports_no_progress(plain):
    stream, clock = plain
    log.setup_logging("rts-test", quiet=True)
    assert list(log.progress(range(3), label="prep")) == [0, 1, 2]
    with log.scene_progress(10, "scene", unit="tile", every_seconds=1) as shown:
        for _ in range(10):
            clock.now += 60
            shown.update()
    assert list(log.scene_items(range(3), "scene")) == [0, 1, 2]
    logging.getLogger("t").warning("kept")
    assert stream.getvalue() == "rts-test: warning: kept\n"


def test_durations_read_easily():
    assert [log.duration(s) for s in (0.4, 42, 600, 12_600)] == ["0 s", "42 s", "10 min", "3.5 h"]
