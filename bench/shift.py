"""Token shift of a 200-token answer: its time against the time to generate the answer
(goal: <= 1.0 x).

The instruct model writes an answer; the base model then ranks every token of it (teacher
forcing, batched, top 5 at each position) after its own rendering of the same input, as the
compare window's Token shift does. Measured warm (the base model's cache still holds its
prompt, as after a compare run) and cold (after an unrelated prompt).

    python -m bench.shift [--rounds 5] [--tokens 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

from bench.common import median, starter_models, warn_if_busy
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.tokens import TOP_K
from desktop.core.compare.run import Column, score_with
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.factory import render_input
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.library import Library

QUESTION = "Write a long, detailed essay on how the sea shaped the history of Europe."


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    warn_if_busy()
    starter_models()  # make sure the files are in place
    library = Library()
    pair = library.catalog.starter_pair()
    base_model, instruct_model = library.resolve(pair.base.id), library.resolve(pair.instruct.id)
    base = Column(base_model, "raw", render_input(base_model, "raw", QUESTION))
    config = EngineConfig(n_threads=args.threads, n_threads_batch=args.threads)
    generation, warm, cold, lengths = [], [], [], []
    with (
        EngineClient(base_model.path, config) as scorer,
        EngineClient(instruct_model.path, config) as writer,
    ):
        scorer.load()
        writer.load()
        seed = 0
        while len(generation) < args.rounds and seed < 40:
            seed += 1
            answer = Column(instruct_model, "chat", render_input(instruct_model, "chat", QUESTION))
            sampling = SamplingParams(temperature=0.8, max_tokens=args.tokens, seed=seed)
            started = time.perf_counter()
            for event in writer.generate(answer.prompt, sampling, TOP_K, True):
                if isinstance(event, p.Token):
                    answer.add_token(event)
                elif isinstance(event, p.Done):
                    answer.finish(event)
            took = time.perf_counter() - started
            if len(answer.tokens) < args.tokens:  # ended early: not the length asked for
                continue
            generation.append(took)
            lengths.append(len(answer.tokens))
            scorer.score("Zebras graze", continuation=" on", top_k=0)  # another text cached
            started = time.perf_counter()
            score_with(scorer, answer, base)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            score_with(scorer, answer, base)
            warm.append(time.perf_counter() - started)
    g, w, c = median(generation), median(warm), median(cold)
    print(
        f"\ntoken shift of SmolLM2 135M Instruct's {median(lengths):.0f}-token answer ranked by "
        f"Gemma 3 270M base, {args.threads} thread(s), {len(generation)} rounds, medians:"
    )
    print(f"  generating the answer      {g * 1000:8.0f} ms")
    print(f"  token shift, prompt cached {w * 1000:8.0f} ms   ({w / g:.3f} x)")
    print(f"  token shift, cold          {c * 1000:8.0f} ms   ({c / g:.3f} x)")


if __name__ == "__main__":
    main()
