"""rts-prep throughput and memory: an 8000 x 8000 synthetic scene (rts-synth) against
the demo's 768 px scene in the same run. Prints Mpx/s and peak RSS of each: every run
(shared virtual machines vary by +-15 % from run to run) and the median.

    python bench/prep.py [WORK_DIR] [RUNS]   # inputs are kept in WORK_DIR; RUNS default 3

Targets (issue #4): at least 3 Mpx/s on 2 cores; peak RSS under 2 GB at 8000 px.
"""

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import measured

BIN = Path(sys.executable).parent


def world(folder: Path, size: int) -> Path:
    if not (folder / "scenes.csv").exists():
        print(f"generating a {size} px scene with rts-synth in {folder} ...", file=sys.stderr)
        subprocess.run([str(BIN / "rts-synth"), "-q", "-o", str(folder), "--scenes", "1", "--size", str(size),
                        "--years", "2023", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    return folder


def prep(folder: Path, out: Path, *extra) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one rts-prep run."""
    scene = next((folder / "scenes").iterdir())
    seconds, peak, _ = measured([str(BIN / "rts-prep"), "-q", "--overwrite", str(scene), "--dem",
                                 str(folder / "aux/dem.tif"), "--tcvis", str(folder / "aux/tcvis.tif"),
                                 "--landcover", str(folder / "aux/landcover.tif"), "-o", str(out), *extra])
    return seconds, peak


def main():
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="rts-bench-prep-"))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    worlds = {size: world(work / f"world{size}", size) for size in (768, 8000)}
    print(f"{'scene px':>9} {'run':>4} {'seconds':>8} {'Mpx/s':>7} {'peak RSS MB':>12}")
    medians = {}
    for size, folder in worlds.items():
        rates = []
        for run in range(1, runs + 1):
            seconds, peak = prep(folder, work / f"stacks{size}")
            rates.append(size * size / 1e6 / seconds)
            print(f"{size:>9} {run:>4} {seconds:>8.1f} {rates[-1]:>7.2f} {peak:>12.0f}")
        medians[size] = statistics.median(rates)
        print(f"{size:>9} {'med':>4} {size * size / 1e6 / medians[size]:>8.1f} {medians[size]:>7.2f}")
    print(f"throughput ratio 8000 px / 768 px (medians): {medians[8000] / medians[768]:.2f}")


if __name__ == "__main__":
    main()
