"""How a model is loaded: context size, threads, GPU offload.

Thread policy. Token generation on a CPU is memory-bound, and ggml's worker threads spin while
they wait. Measured on a 2-core machine (llama-bench tg128): Gemma 3 270M gives 83.7 tok/s with
1 thread and 94.1 with 2, SmolLM2 135M 143.9 and 149.8; but 2 spinning threads fall to about
10 tok/s as soon as anything else wants a core: the window repainting, a second model in the
compare view, a browser. So generation uses half the cores (1 on a 2-core laptop, capped at 8),
which keeps one core free for everything else and loses at most ~11% at best. Prompt
processing is compute-bound and short, so it uses every core.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, replace
from typing import Any

from desktop.core.errors import InvalidSettings

DEFAULT_CONTEXT = 4096
MAX_THREADS = 64


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads(cores: int | None = None) -> int:
    cores = cores or available_cores()
    return max(1, min(8, cores // 2))


def default_batch_threads(cores: int | None = None) -> int:
    return max(1, min(16, cores or available_cores()))


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
