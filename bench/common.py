"""Shared set-up for benchmarks: a private DUET_HOME, the starter files, and a warning when the
machine is not idle (ggml threads spin, so a busy second process skews every figure)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DUET_HOME", str(Path(tempfile.gettempdir()) / "duet-bench-home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from desktop.core.models.starter import require_starter_paths

CACHE = Path(__file__).resolve().parent / ".cache"


def starter_models() -> dict[str, Path]:
    base, instruct = require_starter_paths()
    return {"gemma-3-270m": base, "smollm2-135m-instruct": instruct}


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def warn_if_busy(seconds: float = 1.0) -> None:
    """Warn when other processes keep the CPUs busy: the figures would be low and noisy."""
    try:
        busy0, total0 = _cpu_times()
        time.sleep(seconds)
        busy1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return
    share = (busy1 - busy0) / max(1, total1 - total0)
    if share > 0.1:
        print(
            f"warning: the CPUs were {share:.0%} busy before the benchmark started; figures will be low.",
            file=sys.stderr,
        )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def memory_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux), for the report."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
