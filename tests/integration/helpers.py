from __future__ import annotations

from desktop.core.engine import protocol as p
from desktop.core.engine.client import EngineClient
from desktop.core.sampling import SamplingParams

GREEDY = SamplingParams(temperature=0.0, max_tokens=32, seed=0)


def run(
    engine: EngineClient, prompt: str, sampling: SamplingParams = GREEDY, **kwargs: object
) -> tuple[list[p.Token], p.Event]:
    """All Token events and the final event of one generation."""
    tokens: list[p.Token] = []
    for event in engine.generate(prompt, sampling, **kwargs):  # type: ignore[arg-type]
        if isinstance(event, p.Token):
            tokens.append(event)
        elif not isinstance(event, p.PromptProgress):
            return tokens, event
    raise AssertionError("the stream ended without a final event")


def done(
    engine: EngineClient, prompt: str, sampling: SamplingParams = GREEDY, **kwargs: object
) -> p.Done:
    _, final = run(engine, prompt, sampling, **kwargs)
    assert isinstance(final, p.Done), final
    return final
