"""Shared set-up for benchmarks: a private DUET_HOME, the starter files, and a warning when the
machine is not idle (ggml threads spin, so a busy second process skews every figure)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("DUET_HOME", str(Path(tempfile.gettempdir()) / "duet-bench-home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from desktop.core.starter import require_starter_paths

CACHE = Path(__file__).resolve().parent / ".cache"


def starter_models() -> dict[str, Path]:
    base, instruct = require_starter_paths()
    return {"gemma-3-270m": base, "smollm2-135m-instruct": instruct}


def warn_if_busy() -> None:
    try:
        load = float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError):
        return
    if load > 0.7:
        print(
            f"warning: load average {load:.2f}: other work is running; figures will be low.",
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
