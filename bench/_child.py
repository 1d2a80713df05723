"""Shared by the bench scripts: run a command and measure the child itself."""

import os
import subprocess
import time


def measured(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB of the child process itself (os.wait4, so nothing of
    this script counts), and its standard output."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed with status {status}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, output


def measured_cpu(command: list[str]) -> tuple[float, float, float]:
    """Seconds, peak RSS in MB and CPU seconds (user + system) of the child itself."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed with status {status}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
