"""Every console script answers --help with an example and --version."""

import pytest

from tests.conftest import run_script

TOOLS = ["rts-synth", "rts-prep", "rts-train", "rts-infer", "rts-ensemble", "rts-aggregate",
         "rts-validate", "rts-volume"]


@pytest.mark.parametrize("tool", TOOLS)
def test_help_shows_an_example(tool):
    done = run_script(tool, "--help")
    assert done.returncode == 0, done.stderr
    assert "Example" in done.stdout
    assert tool in done.stdout.split("Example", 1)[1]
    assert f"{tool.upper().replace('-', '_')}_<OPTION>" in done.stdout


@pytest.mark.parametrize("tool", TOOLS)
def test_version(tool):
    done = run_script(tool, "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"{tool} 0.1.0"
