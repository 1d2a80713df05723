"""rts-synth at benchmark size: one 8000 x 8000 scene (a 30 x 30 km region) against
the default 768 px scene, in the same run. Prints seconds, Mpx/s and peak RSS; the
RSS ratio shows that memory does not grow with the scene (windows)."""

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run(size: int, folder: Path) -> tuple[float, float]:
    before = time.perf_counter()
    subprocess.run([str(BIN / "rts-synth"), "-q", "-o", str(folder), "--scenes", "1", "--size", str(size),
                    "--years", "2023", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - before
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mb


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [768, 8000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:  # RUSAGE_CHILDREN is a running maximum: smallest first
            seconds, peak = run(size, Path(tmp) / str(size))
            rows.append((size, seconds, size * size / 1e6 / seconds, peak))
    print(f"{'scene px':>9} {'seconds':>8} {'Mpx/s':>7} {'peak RSS MB':>12}")
    for size, seconds, rate, peak in rows:
        print(f"{size:>9} {seconds:>8.1f} {rate:>7.2f} {peak:>12.0f}")
    if len(rows) > 1:
        print(f"peak RSS ratio {rows[-1][0]} px / {rows[0][0]} px: {rows[-1][3] / rows[0][3]:.2f} "
              f"for {(rows[-1][0] / rows[0][0]) ** 2:.0f}x the pixels")


if __name__ == "__main__":
    main()
