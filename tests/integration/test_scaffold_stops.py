"""The few-shot scaffold on the real base model answers one question and stops, instead of
writing Q/A blocks until Max tokens."""

from __future__ import annotations

from desktop.core.chat.prompts import TokenizerSpec, render_raw
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.scaffolds import scaffold_named
from desktop.core.engine import events as p
from desktop.core.engine.stream import follow
from desktop.core.models.gguf_info import read_model_info


def test_the_few_shot_scaffold_stops_after_one_answer_on_the_base_model(
    base_engine: object,
) -> None:
    scaffold = scaffold_named("Few-shot Q/A")
    spec = TokenizerSpec.from_info(read_model_info(base_engine.info.path))  # type: ignore[attr-defined]
    prompt = render_raw(scaffold.text, spec)
    sampling = SamplingParams(temperature=0.0, top_k=1, max_tokens=200, seed=0, stop=scaffold.stop)
    done = follow(base_engine.generate(prompt, sampling))  # type: ignore[attr-defined]
    assert isinstance(done, p.Done)
    assert done.reason == p.StopReason.STOP_STRING, done
    assert "Q:" not in done.text
    assert done.stats.generated_tokens < 200
