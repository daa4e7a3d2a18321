"""Two models at once against the same two generations one after the other.

Combined throughput is all generated tokens over wall time. The thread split is what the
compare view uses (compare_config: the physical cores shared out); `--threads N` tries another
split to show why the default is what it is.

    python -m bench.compare [--rounds 3] [--tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import threading
import time

from bench.common import median, memory_mb, starter_models, warn_if_busy
from desktop.core.chat.prompts import TokenizerSpec, exact, render_raw
from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.run import compare_config
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.gguf_info import read_model_info

PROMPT = "Chapter One\n\nThe rain had not stopped for three days when"


def generate(engine: EngineClient, prompt: str, sampling: SamplingParams, out: list[int]) -> None:
    for event in engine.generate(exact(prompt), sampling):
        if isinstance(event, p.Done):
            out.append(event.stats.generated_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads per worker (default: the compare view's split)",
    )
    args = parser.parse_args()
    warn_if_busy()
    paths = list(starter_models().values())
    config = (
        compare_config(2)
        if not args.threads
        else EngineConfig(n_threads=args.threads, n_threads_batch=args.threads)
    )
    prompts = [
        render_raw(PROMPT, TokenizerSpec.from_info(read_model_info(path))).text for path in paths
    ]
    sampling = SamplingParams(max_tokens=args.tokens, seed=5, repeat_penalty=1.1)
    engines = [EngineClient(path, config) for path in paths]
    for engine in engines:
        engine.load()
    for engine, prompt in zip(engines, prompts, strict=True):  # warm-up
        generate(engine, prompt, sampling, [])
    together, apart = [], []
    for r in range(args.rounds):
        for which in ("together", "apart") if r % 2 == 0 else ("apart", "together"):
            counts: list[int] = []
            started = time.perf_counter()
            if which == "together":
                threads = [
                    threading.Thread(target=generate, args=(e, pr, sampling, counts))
                    for e, pr in zip(engines, prompts, strict=True)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                together.append(sum(counts) / (time.perf_counter() - started))
            else:
                for engine, prompt in zip(engines, prompts, strict=True):
                    generate(engine, prompt, sampling, counts)
                apart.append(sum(counts) / (time.perf_counter() - started))
    rss = [memory_mb(e.pid or 0) for e in engines]
    for engine in engines:
        engine.close()
    t, a = median(together), median(apart)
    print(
        f"\nstarter pair, {config.n_threads} thread(s) per worker, {args.tokens} tokens each, {args.rounds} rounds, medians:"
    )
    print(f"  together (both at once)   {t:7.1f} tok/s combined")
    print(f"  apart (one after other)   {a:7.1f} tok/s combined")
    print(f"  together / apart          {t / a:7.3f}")
    print(
        f"  worker memory (RSS)       {' + '.join(f'{m:.0f} MB' for m in rss)} = {sum(rss):.0f} MB"
    )


if __name__ == "__main__":
    main()
