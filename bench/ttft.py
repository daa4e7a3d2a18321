"""Time to first token at chat turn 1 and at turn 20 of the same conversation.

With KV-cache reuse, turn 20 evaluates only its new tokens (the end of the last reply and the
new user message), so its first token should come about as fast as turn 1's, although its
prompt is many times longer. Each round starts a new conversation with its own system prompt,
so turn 1 never borrows a cached prefix from the round before.

    python -m bench.ttft [--rounds 5] [--turns 20]
"""

from __future__ import annotations

import argparse
import time

from bench.common import median, starter_models, warn_if_busy
from desktop.core.chat.prompts import Message, TokenizerSpec, exact, render_chat, template_of
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.gguf_info import read_model_info

QUESTIONS = [
    "Name a fruit.",
    "Name a colour.",
    "Name an animal.",
    "Name a country.",
    "Name a river.",
    "Name a tool.",
    "Name a planet.",
    "Name a tree.",
    "Name a sport.",
    "Name a metal.",
]


def turn(engine: EngineClient, prompt: str, stop: tuple[str, ...]) -> tuple[float, p.Done]:
    started = time.perf_counter()
    first = 0.0
    for event in engine.generate(
        exact(prompt, stop), SamplingParams(temperature=0.0, max_tokens=24)
    ):
        if isinstance(event, p.Token):
            first = first or time.perf_counter() - started
        elif isinstance(event, p.Done):
            return first, event
        elif not isinstance(event, p.PromptProgress):
            raise SystemExit(f"generation failed: {event}")
    raise SystemExit("no result")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    warn_if_busy()
    for name, path in starter_models().items():
        info = read_model_info(path)
        spec, template = TokenizerSpec.from_info(info), template_of(info)
        first_turn, last_turn, last_prompt, last_cached = [], [], 0, 0
        with EngineClient(path, EngineConfig(n_ctx=4096)) as engine:
            engine.load()
            for r in range(args.rounds + 1):  # round 0 warms up
                messages: list[Message] = []
                system = f"You are assistant number {r}. Answer in a few words."
                for t in range(args.turns):
                    messages.append(Message("user", QUESTIONS[t % len(QUESTIONS)]))
                    rendered = render_chat(messages, spec, template, system)
                    ttft, done = turn(engine, rendered.text, rendered.stop)
                    messages.append(Message("assistant", done.text.strip()))
                    if r and t == 0:
                        first_turn.append(ttft)
                    if r and t == args.turns - 1:
                        last_turn.append(ttft)
                        last_prompt, last_cached = (
                            done.stats.prompt_tokens,
                            done.stats.cached_tokens,
                        )
        t1, tn = median(first_turn), median(last_turn)
        print(
            f"\n{name} ({'template' if template else 'transcript fallback'}), {args.rounds} rounds, medians:"
        )
        print(f"  TTFT turn 1            {t1 * 1000:7.1f} ms")
        print(
            f"  TTFT turn {args.turns:<2}           {tn * 1000:7.1f} ms   (prompt {last_prompt} tokens, {last_cached} reused from the KV cache)"
        )
        print(f"  turn {args.turns} / turn 1         {tn / t1:7.3f}")


if __name__ == "__main__":
    main()
