"""Aligned by examples on the real base model (Gemma 3 270M): the reply to a chat rendered after
the default examples ends on the prompt's own stop string, instead of writing the next
'# Query:' and answering itself until Max tokens."""

from __future__ import annotations

from desktop.core.chat.aligned import (
    ALIGNED_TEMPLATE_NAME,
    QUERY,
    default_preamble,
    render_aligned_chat,
)
from desktop.core.chat.prompts import Message, TokenizerSpec
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.stream import follow
from desktop.core.models.gguf_info import read_model_info


def test_an_aligned_chat_reply_stops_on_its_stop_string_on_the_base_model(
    base_engine: object,
) -> None:
    spec = TokenizerSpec.from_info(read_model_info(base_engine.info.path))  # type: ignore[attr-defined]
    # A question the base model answers in one line on every llama.cpp build tried (a native
    # one and the GGML_NATIVE=OFF wheel): greedy decoding of a 270M model can tip at a near tie,
    # and "the capital of France" ran to Max tokens on one build.
    chat = [Message("user", "Name three primary colours.")]
    prompt = render_aligned_chat(chat, spec, default_preamble())
    assert prompt.template_name == ALIGNED_TEMPLATE_NAME
    # No stop strings of the person's: the prompt's own are the ones that end the reply.
    sampling = SamplingParams(temperature=0.0, top_k=1, max_tokens=200, seed=0)
    done = follow(base_engine.generate(prompt, sampling))  # type: ignore[attr-defined]
    assert isinstance(done, p.Done)
    assert done.reason == p.StopReason.STOP_STRING, done
    assert QUERY not in done.text and "# Answer:" not in done.text
    assert done.text.strip()
    assert done.stats.generated_tokens < 200
