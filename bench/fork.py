"""Fork at a token: time to first token of a fork at token 200 of a 400-token text, against a
fresh generation from the same text (goal: <= 0.2 x).

The engine keeps its KV cache between requests and reuses the longest common token prefix, so a
fork evaluates only what follows the cut; a fresh generation evaluates the whole prompt.

    python -m bench.fork [--rounds 5] [--tokens 400] [--at 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

from bench.common import median, starter_models, warn_if_busy
from desktop.core.chat.fork import fork_at, forked_prompt
from desktop.core.chat.prompts import TokenizerSpec, render_raw
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import LOCAL
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.gguf_info import read_model_info

PROMPT = "Chapter One\n\nThe rain had not stopped for three days when"
ELSEWHERE = "Zebras graze on the plains of"  # evicts the cache: shares only the BOS token


def first_token_seconds(engine: EngineClient, prompt: object) -> tuple[float, p.Done]:
    """Wall time from the request to the first token, seen by the app; and the Done."""
    started, first = time.perf_counter(), 0.0
    done = None
    for event in engine.generate(prompt, SamplingParams(temperature=0.0, max_tokens=1)):  # type: ignore[arg-type]
        if isinstance(event, p.Token) and not first:
            first = time.perf_counter() - started
        elif isinstance(event, p.Done):
            done = event
    assert done is not None and first
    return first, done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--at", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    warn_if_busy()
    path = starter_models()["gemma-3-270m"]
    spec = TokenizerSpec.from_info(read_model_info(path))
    prompt = render_raw(PROMPT, spec)
    elsewhere = render_raw(ELSEWHERE, spec)
    config = EngineConfig(n_threads=args.threads, n_threads_batch=args.threads)
    sampling = SamplingParams(temperature=0.8, max_tokens=args.tokens, seed=7, repeat_penalty=1.1)
    forks, fresh, cached = [], [], []
    with EngineClient(path, config) as engine:
        engine.load()
        for r in range(args.rounds):
            texts, tops = [], []
            for event in engine.generate(prompt, sampling.with_changes(seed=7 + r), 5, True):
                if isinstance(event, p.Token) and event.token_id >= 0:
                    texts.append(event.text)
                    tops.append(event.top)
            if len(texts) <= args.at:
                print(f"round {r}: only {len(texts)} tokens, skipped")
                continue
            choice = next(a.text for a in tops[args.at] if a.text != texts[args.at])
            forked = forked_prompt(prompt, fork_at(texts, args.at, choice), LOCAL)
            seconds, done = first_token_seconds(engine, forked)  # the cache holds the text
            forks.append(seconds)
            cached.append(done.stats.cached_tokens / done.stats.prompt_tokens)
            first_token_seconds(engine, elsewhere)
            seconds, _ = first_token_seconds(engine, forked)  # from an empty cache
            fresh.append(seconds)
    f, n = median(forks), median(fresh)
    print(
        f"\nGemma 3 270M base, {args.threads} thread(s), fork at token {args.at} of {args.tokens},"
        f" {len(forks)} rounds, medians:"
    )
    print(f"  fork, KV cache reused      {f * 1000:8.1f} ms to first token")
    print(f"  fresh, whole prompt        {n * 1000:8.1f} ms to first token")
    print(f"  fork / fresh               {f / n:8.3f}")
    print(f"  prompt share from cache    {median(cached):8.1%}")


if __name__ == "__main__":
    main()
