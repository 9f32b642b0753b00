"""How many CPU threads PyTorch uses, and how they wait.

PyTorch's OpenMP threads spin while they wait for work. On a desktop where other programs use
the cores, spinning threads steal time from the thread that holds the work: beside two busy
processes on two cores one protection took 149 s with PyTorch's defaults and 63 s with
passive waiting, but passive waiting costs 8 % on an idle machine (35.8 s against 38.7 s;
benchmarks/busy.py, README "On a busy machine"). So a command waits passively when other
programs keep the cores busy as it starts, and the desktop app, which runs beside other
programs for hours, always does. The thread count follows the cores this process may use.
Both are OpenMP settings, read when PyTorch loads: the faces call prepare_environment() first.

A user can set PIXELGUARD_THREADS (or OpenMP's OMP_NUM_THREADS, OMP_WAIT_POLICY); theirs win.
"""

from __future__ import annotations

import os
import time

THREADS_VARIABLE = "PIXELGUARD_THREADS"
# Other programs' load, in cores, from which passive waiting pays (benchmarks/busy.py: one busy
# process on two cores already made spinning 1.7x slower than passive waiting).
BUSY_CORES = 0.5


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as containers and taskset limit it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def chosen_threads(environ=os.environ) -> int:
    """PIXELGUARD_THREADS, else OMP_NUM_THREADS, else the usable cores."""
    for name in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        value = environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return usable_cores()


def busy_cores(interval: float = 0.1) -> float | None:
    """How many cores other programs keep busy now (this process idles meanwhile), from Linux's
    /proc/stat over `interval` seconds; None where that cannot be read."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total_before, idle_before = sample()
        time.sleep(interval)
        total_after, idle_after = sample()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total_after - total_before
    if elapsed <= 0:
        return None
    return (1 - (idle_after - idle_before) / elapsed) * (os.cpu_count() or 1)


def prepare_environment(environ=os.environ, *, always_passive: bool = False) -> None:
    """Before PyTorch loads: passive waiting when asked or when the cores are busy (where that
    cannot be measured, passive), and OpenMP's thread count; the user's settings win."""
    if "OMP_WAIT_POLICY" not in environ:
        load = None if always_passive else busy_cores()
        if load is None or load >= BUSY_CORES:
            environ["OMP_WAIT_POLICY"] = "PASSIVE"
    environ.setdefault("OMP_NUM_THREADS", str(chosen_threads(environ)))
