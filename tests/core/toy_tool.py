"""A tiny tool built only from rts_core, to test the contract's machinery.

Each input is a text file ``<scene_id>.txt`` holding ``<size> <value>``; the tool
writes ``<scene_id>.toy.tif``, a size x size uint8 COG filled with value, streamed by
row strips. A file that does not parse is a bad input.
"""

import sys
import time
from pathlib import Path

import click
from affine import Affine

from rts_core import cli, raster
from rts_core.runner import InputError, Plan, fingerprint
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
@click.option("--pause", default=0.0, help="Seconds to sleep after each strip.")
@cli.run_options("rts-toy")
def main(paths, out, rows, pause, run):
    """Write a constant raster per request file."""

    def plan(path):
        return Plan([out / f"{parse_scene_id(path)}.toy.tif"], fingerprint=fingerprint([path], "rts-toy 0"))

    def process(path, item_plan):
        size, value = read_request(path)
        scene_id = parse_scene_id(path)
        tags = raster.scene_tags(scene_id, acquired_from_scene_id(scene_id), "rts-toy 0",
                                 fingerprint=item_plan.fingerprint)
        with raster.CogWriter(item_plan.outputs[0], width=size, height=size, count=1,
                              dtype="uint8", crs="EPSG:32608",
                              transform=Affine(3, 0, 500000, 0, -3, 7700000),
                              tags=tags) as writer:
            for window in raster.row_windows(size, size, rows):
                writer.write(raster_block(window, value), window=window)
                sys.stderr.flush()
                time.sleep(pause)

    result = run.items(cli.expand_paths(paths), plan, process, out_dirs=[out])
    cli.exit_with(result)


def raster_block(window, value):
    import numpy as np

    return np.full((window.height, window.width), value, dtype="uint8")


if __name__ == "__main__":
    main()
