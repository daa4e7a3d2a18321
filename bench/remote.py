"""Tokens/s through Duet's remote backend against the server's own timings for the same request.

Starts llama.cpp's llama-server on 127.0.0.1 with the starter instruct model, streams raw
completions through RemoteEngine, and divides the rate Duet shows (generated tokens over the
time from first to last token) by the `timings.predicted_per_second` llama-server reports in its
last chunk. A ratio near 1 means the SSE reading, JSON parsing and event mapping cost nothing.

    python -m bench.remote [--server /path/to/llama-server] [--rounds 5] [--tokens 200]

Without --server it builds llama-server once from the llama.cpp sources inside the installed
llama-cpp-python's sdist (bench/llama_bench.py), like llama-bench.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time

import httpx2

from bench.common import median, starter_models, warn_if_busy
from bench.llama_bench import llama_cpp_tool
from desktop.core.chat.prompts import exact
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.remote.openai import RemoteEngine
from desktop.core.engine.servers import RemoteServer

PROMPT = "The history of the printing press begins"


def start(binary: str, model: str, port: int, threads: int) -> subprocess.Popen[bytes]:
    command = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port)]
    command += ["-t", str(threads), "-c", "2048", "--no-warmup"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("llama-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()
    binary = args.server or str(llama_cpp_tool("llama-server"))
    if not shutil.which(binary):
        raise SystemExit(f"{binary} is not an executable llama-server")
    warn_if_busy()
    model = str(starter_models()["smollm2-135m-instruct"])
    proc = start(binary, model, args.port, args.threads)
    try:
        engine = RemoteEngine(RemoteServer("bench", f"http://127.0.0.1:{args.port}"), "")
        engine.model = engine.models()[0]
        sampling = SamplingParams(max_tokens=args.tokens, temperature=0.0, seed=0)
        ratios: list[float] = []
        stricts: list[float] = []
        for round_ in range(args.rounds + 1):
            done = next(
                e for e in engine.generate(exact(PROMPT), sampling) if isinstance(e, p.Done)
            )
            timings = engine.server_timings or {}
            if "predicted_per_second" not in timings:
                raise SystemExit(
                    "the server reported no timings: this benchmark needs llama-server"
                )
            shown = done.stats.generated_tokens / done.stats.generation_seconds
            # The window's figure counts every token over first-to-last arrival; strictly that
            # span holds one interval fewer, which this checks is not what carries the ratio.
            strict = (done.stats.generated_tokens - 1) / done.stats.generation_seconds
            server = float(timings["predicted_per_second"])
            if round_ == 0:
                continue  # warm-up
            ratios.append(shown / server)
            stricts.append(strict / server)
            print(
                f"round {round_}: {done.stats.generated_tokens} tokens, Duet {shown:.1f} tok/s, "
                f"llama-server {server:.1f} tok/s, ratio {shown / server:.3f} "
                f"(strict {strict / server:.3f})"
            )
        print(
            f"median remote/server ratio: {median(ratios):.3f} (strict {median(stricts):.3f}; "
            "goal >= 0.95)"
        )
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
