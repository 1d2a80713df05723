"""A tiny tool built only from rts_core, to test the contract's machinery.

Each input is a text file ``<scene_id>.txt`` holding ``<size> <value>``; the tool
writes ``<scene_id>.toy.tif``, a size x size uint8 COG filled with value, streamed by
row strips. A file that does not parse is a bad input.
"""

import sys
import time
from functools import partial
from pathlib import Path

import click
from affine import Affine

from rts_core import cli, raster
from rts_core.errors import InputError
from rts_core.fingerprints import fingerprint
from rts_core.runner import Plan, run_items
from rts_core.sceneid import acquired_from_scene_id, parse_scene_id


def read_request(path: Path) -> tuple[int, int]:
    try:
        size, value = (int(word) for word in Path(path).read_text().split())
    except FileNotFoundError:
        raise InputError("no such file") from None
    except ValueError:
        raise InputError("expected two integers '<size> <value>'") from None
    return size, value


@cli.command("rts-toy", "rts-core", epilog="Example:\n\n\b\n  rts-toy a.txt b.txt -o out")
@cli.paths_argument()
@cli.out_dir_option()
@click.option("--rows", default=256, help="Rows per written strip.")
@click.option("--pause", default=0.0, help="Seconds to sleep after each strip (saying so on stderr).")
@cli.run_options("rts-toy")
def main(paths, out, rows, pause, run):
    """Write a constant raster per request file."""

    result = run_items(cli.expand_paths(paths), partial(plan, out=out), partial(write, rows=rows, pause=pause), run,
                       out_dirs=[out])
    cli.exit_with(result)


def plan(path, *, out):
    return Plan([out / f"{parse_scene_id(path)}.toy.tif"], fingerprint=fingerprint([path], "rts-toy 0"), data=path)


def write(item_plan, *, rows, pause):
    size, value = read_request(item_plan.data)
    scene_id = parse_scene_id(item_plan.data)
    tags = raster.scene_tags(scene_id, acquired_from_scene_id(scene_id), "rts-toy 0",
                             fingerprint=item_plan.fingerprint)
    with raster.CogWriter(item_plan.outputs[0], width=size, height=size, count=1,
                          dtype="uint8", crs="EPSG:32608",
                          transform=Affine(3, 0, 500000, 0, -3, 7700000),
                          tags=tags) as writer:
        for number, window in enumerate(raster.row_windows(size, size, rows), start=1):
            writer.write(raster_block(window, value), window=window)
            if pause:  # a test waits for this line, then kills the writer mid-file
                print(f"strip {number} written", file=sys.stderr, flush=True)
                time.sleep(pause)


def raster_block(window, value):
    import numpy as np

    return np.full((window.height, window.width), value, dtype="uint8")


if __name__ == "__main__":
    main()
