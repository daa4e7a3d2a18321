"""Throughput: one seeded 128-token generation with the default sampler, through Duet's engine
and through bare llama-cpp-python `create_completion`, alternated over several rounds, and
llama.cpp's own llama-bench tg128, all at the same thread count.

Both Python paths are timed the same way, by the consumer: tokens after the first divided by
the time from the first token to the last, so prompt evaluation is left out of both, and
Duet's process boundary is included.

    python -m bench.throughput [--rounds 5] [--threads N] [--no-llama-bench]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import median, memory_mb, starter_models, warn_if_busy
from desktop.core.chat.prompts import TokenizerSpec, exact, render_raw
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig, default_threads
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.gguf_info import read_model_info

PROMPT = "Once upon a time, in a kingdom by the sea, there lived a"
N_GEN = 128
N_CTX = 2048


def rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")


def duet_round(engine: EngineClient, prompt: str, seed: int) -> tuple[float, float, int]:
    stamps: list[float] = []
    sampling = SamplingParams(max_tokens=N_GEN, seed=seed)
    for event in engine.generate(exact(prompt), sampling):
        if isinstance(event, p.Token) and event.token_id >= 0:
            stamps.append(time.perf_counter())
        elif isinstance(event, p.Done):
            return rate(stamps), event.stats.tokens_per_second, len(stamps)
        elif not isinstance(event, p.PromptProgress):
            raise SystemExit(f"generation failed: {event}")
    raise SystemExit("no result")


def bare_round(llm: object, seed: int) -> tuple[float, int]:
    stamps: list[float] = []
    stream = llm.create_completion(  # type: ignore[attr-defined]
        PROMPT,
        max_tokens=N_GEN,
        temperature=0.8,
        top_k=40,
        top_p=0.95,
        min_p=0.05,
        repeat_penalty=1.0,
        seed=seed,
        stream=True,
    )
    for chunk in stream:
        if chunk["choices"][0]["text"]:
            stamps.append(time.perf_counter())
    return rate(stamps), len(stamps)


def bench_model(name: str, path: Path, threads: int, rounds: int, with_llama_bench: bool) -> None:
    import llama_cpp  # the bare baseline runs in this process, Duet's engine in its worker

    info = read_model_info(path)
    prompt = render_raw(PROMPT, TokenizerSpec.from_info(info)).text
    config = EngineConfig(n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads)
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=N_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        swa_full=True,
        flash_attn=True,
        verbose=False,
    )
    duet_rates, worker_rates, bare_rates = [], [], []
    with EngineClient(path, config) as engine:
        engine.load()
        duet_round(engine, prompt, 0)  # warm-up, both sides
        bare_round(llm, 0)
        for r in range(rounds):
            seed = 1000 + r
            order = ("duet", "bare") if r % 2 == 0 else ("bare", "duet")
            for which in order:
                if which == "duet":
                    client_rate, worker_rate, _ = duet_round(engine, prompt, seed)
                    duet_rates.append(client_rate)
                    worker_rates.append(worker_rate)
                else:
                    bare_rate, _ = bare_round(llm, seed)
                    bare_rates.append(bare_rate)
        rss = memory_mb(engine.pid or 0)
    llm.close()
    duet, bare = median(duet_rates), median(bare_rates)
    print(
        f"\n{name} ({info.quantization}, {threads} thread{'s' * (threads > 1)}), {rounds} rounds, medians:"
    )
    print(
        f"  Duet engine            {duet:7.1f} tok/s   (worker's own figure {median(worker_rates):.1f}; worker RSS {rss:.0f} MB)"
    )
    print(f"  bare create_completion {bare:7.1f} tok/s")
    print(f"  Duet / bare            {duet / bare:7.3f}")
    if with_llama_bench:
        from bench.llama_bench import tg_tokens_per_second

        tg = tg_tokens_per_second(path, threads, N_GEN)
        print(f"  llama-bench tg{N_GEN}       {tg:7.1f} tok/s")
        print(f"  Duet / llama-bench     {duet / tg:7.3f}")
        print(f"  bare / llama-bench     {bare / tg:7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--no-llama-bench", action="store_true")
    parser.add_argument("--model", choices=sorted(starter_models()), help="one model only")
    args = parser.parse_args()
    warn_if_busy()
    for name, path in starter_models().items():
        if args.model in (None, name):
            bench_model(name, path, args.threads, args.rounds, not args.no_llama_bench)


if __name__ == "__main__":
    main()
