"""How a model is loaded: context size, threads, GPU offload.

Thread policy. Token generation on a CPU is memory-bound, and ggml's worker threads spin at a
barrier after every step, so one descheduled thread stalls all of them. Measured with
llama-bench tg128 on a 2-core machine (flash attention on):

    Gemma 3 270M   1 thread 58 tok/s   2 threads 85 tok/s   2 threads, other core busy 38 tok/s
    SmolLM2 135M   1 thread 93 tok/s   2 threads 150 tok/s

Two threads are faster only while nothing else runs; with one core busy they fall below one
thread. A desktop app is never alone: the window repaints while tokens stream, the compare view
runs two models at once, the user has a browser open. So generation leaves one physical core
free (1 thread on a 2-core laptop, at most 8, where memory bandwidth is the limit anyway), and
never counts hyper-threads, which share a core's memory pipeline. Prompt processing is
compute-bound and short, so it uses every physical core. Both are settings.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from desktop.core.errors import InvalidSettings

DEFAULT_CONTEXT = 4096
MAX_THREADS = 64


def _logical_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return set(range(os.cpu_count() or 1))


@cache
def physical_cores() -> int:
    """Physical cores this process may use (performance cores on Apple Silicon)."""
    system = platform.system()
    if system == "Linux":
        cores = set()
        for cpu in _logical_cpus():
            topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            try:
                package = (topology / "physical_package_id").read_text().strip()
                core = (topology / "core_id").read_text().strip()
            except OSError:
                return len(_logical_cpus())
            cores.add((package, core))
        return max(1, len(cores))
    if system == "Darwin":
        for key in ("hw.perflevel0.physicalcpu", "hw.physicalcpu"):
            try:
                out = subprocess.run(
                    ["sysctl", "-n", key], capture_output=True, text=True, timeout=2
                )
                return max(1, int(out.stdout.strip()))
            except (OSError, ValueError, subprocess.SubprocessError):
                continue
    logical = os.cpu_count() or 1
    return max(1, logical // 2 if logical >= 4 else logical)


def default_threads(cores: int | None = None) -> int:
    cores = cores or physical_cores()
    return max(1, min(8, cores - 1))


def default_batch_threads(cores: int | None = None) -> int:
    return max(1, min(16, cores or physical_cores()))


def default_gpu_layers() -> int:
    """All layers on Metal on Apple Silicon; CPU only everywhere else."""
    return -1 if platform.system() == "Darwin" and platform.machine() == "arm64" else 0


@dataclass(frozen=True)
class EngineConfig:
    n_ctx: int = DEFAULT_CONTEXT
    n_threads: int = 0  # 0: the policy above
    n_threads_batch: int = 0
    n_gpu_layers: int | None = None  # None: the platform default
    n_batch: int = 512

    def resolved(self, train_context: int = 0) -> EngineConfig:
        """Fill the policy defaults in and check ranges. The context is capped at what the
        model was trained on: beyond it, output degrades into noise."""
        n_ctx = self.n_ctx if self.n_ctx > 0 else DEFAULT_CONTEXT
        if train_context > 0:
            n_ctx = min(n_ctx, train_context)
        config = replace(
            self,
            n_ctx=n_ctx,
            n_threads=self.n_threads or default_threads(),
            n_threads_batch=self.n_threads_batch or default_batch_threads(),
            n_gpu_layers=default_gpu_layers() if self.n_gpu_layers is None else self.n_gpu_layers,
        )
        config.check()
        return config

    def check(self) -> None:
        if not 16 <= self.n_ctx <= 1_048_576:
            raise InvalidSettings(
                f"context length must be between 16 and 1048576, not {self.n_ctx}."
            )
        for label, value in (("threads", self.n_threads), ("batch threads", self.n_threads_batch)):
            if not 0 <= value <= MAX_THREADS:
                raise InvalidSettings(f"{label} must be between 1 and {MAX_THREADS}, not {value}.")
        if self.n_gpu_layers is not None and self.n_gpu_layers < -1:
            raise InvalidSettings(
                f"GPU layers must be -1 (all), 0 (none) or more, not {self.n_gpu_layers}."
            )
        if not 1 <= self.n_batch <= 8192:
            raise InvalidSettings(f"batch size must be between 1 and 8192, not {self.n_batch}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads_batch,
            "n_gpu_layers": self.n_gpu_layers,
            "n_batch": self.n_batch,
        }
