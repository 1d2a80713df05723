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


def measured_tree(command: list[str], interval_s: float = 0.1) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB of the child and all its descendants together (sampled
    every ``interval_s``: worker processes count with their parent), and its standard
    output."""
    import threading

    import psutil

    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = 0.0
    done = threading.Event()

    def sample():
        nonlocal peak
        root = psutil.Process(child.pid)
        while not done.is_set():
            try:
                processes = [root, *root.children(recursive=True)]
                total = 0
                for process in processes:
                    try:
                        total += process.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total / 2**20)
            except psutil.Error:
                return
            done.wait(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = child.stdout.read()
    status = child.wait()
    done.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed with status {status}")
    return time.perf_counter() - start, peak, output
