"""llama.cpp's own llama-bench, built from the llama.cpp sources inside the installed
llama-cpp-python's sdist (same version, same compiler flags as pip's build), and run for tg."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from bench.common import CACHE


def llama_cpp_tool(target: str) -> Path:
    """A llama.cpp tool (llama-bench, llama-server), built once from the same sources."""
    ver = version("llama-cpp-python")
    root = CACHE / f"llama_cpp_python-{ver}"
    binary = root / "vendor" / "llama.cpp" / "build" / "bin" / target
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"llama_cpp_python-{ver}.tar.gz"
    if not sdist.exists():
        print(f"fetching the llama-cpp-python {ver} sdist ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"llama-cpp-python=={ver}",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
    if not root.exists():
        with tarfile.open(sdist) as tar:
            tar.extractall(CACHE, filter="data")
    source = root / "vendor" / "llama.cpp"
    print(f"building {target} (a few minutes, once) ...", file=sys.stderr)
    subprocess.run(
        [
            "cmake",
            "-B",
            "build",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            f"-DLLAMA_BUILD_SERVER={'ON' if target == 'llama-server' else 'OFF'}",
        ],
        cwd=source,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["cmake", "--build", "build", "--target", target, "-j"],
        cwd=source,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return binary


def tg_tokens_per_second(
    model: Path, threads: int, n_gen: int = 128, repetitions: int = 5
) -> float:
    """llama-bench's tg figure (decode only, no sampling), flash attention on like Duet's."""
    out = subprocess.run(
        [
            str(llama_cpp_tool("llama-bench")),
            "-m",
            str(model),
            "-p",
            "0",
            "-n",
            str(n_gen),
            "-t",
            str(threads),
            "-r",
            str(repetitions),
            "-fa",
            "1",
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)[0]["avg_ts"])
