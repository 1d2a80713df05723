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


class GpuSampler:
    """nvidia-smi's utilisation samples while a ``with`` block runs (none without it):
    ``busy`` is the share of samples above 0 %."""

    def __init__(self, every: float = 0.1):
        import threading

        self.samples: list[int] = []
        self.every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            done = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True)
            if done.returncode == 0 and done.stdout.strip():
                self.samples.append(int(done.stdout.split()[0]))
            self._stop.wait(self.every)

    def __enter__(self):
        import shutil

        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def busy(self) -> float | None:
        return sum(s > 0 for s in self.samples) / len(self.samples) if self.samples else None
