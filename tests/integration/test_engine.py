"""The engine on the real starter models: streaming, stop reasons, stats, cancel, crashes."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import pytest

from desktop.core.chat.prompts import (
    Message,
    TokenizerSpec,
    exact,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.local.client import EngineClient
from desktop.core.errors import ModelLoadError, PromptTooLong
from desktop.core.models.gguf_info import read_model_info
from tests.integration.helpers import GREEDY, assert_same_distribution, done, next_token_top, run

pytestmark = pytest.mark.slow
STORY = "Once upon a time, in a small village by the sea, there lived"


def test_tokens_stream_and_add_up_to_the_output(base_engine: EngineClient) -> None:
    tokens, final = run(base_engine, "<bos>" + STORY, SamplingParams(max_tokens=20, seed=7))
    assert isinstance(final, p.Done)
    assert final.reason is p.StopReason.MAX_TOKENS
    assert len(tokens) == final.stats.generated_tokens == 20
    assert "".join(t.text for t in tokens) == final.text and final.text.strip()
    stats = final.stats
    assert stats.prompt_tokens == len(base_engine.tokenize("<bos>" + STORY).ids)
    assert stats.tokens_per_second > 0 and stats.ttft_seconds > 0 and stats.seed == 7
    assert stats.context_used == stats.prompt_tokens + 20 and stats.context_size == 2048


def test_same_seed_same_text_and_random_seed_is_reported(instruct_engine: EngineClient) -> None:
    sampling = SamplingParams(temperature=1.0, max_tokens=24, seed=1234)
    first = done(instruct_engine, STORY, sampling)
    assert done(instruct_engine, STORY, sampling).text == first.text
    unseeded = done(instruct_engine, STORY, SamplingParams(max_tokens=4))
    assert 0 <= unseeded.stats.seed < 2**32 - 1


def test_runtime_agrees_with_metadata_on_bos(
    base_engine: EngineClient, instruct_engine: EngineClient
) -> None:
    for engine in (base_engine, instruct_engine):
        assert engine.info is not None
        assert engine.info.add_bos == read_model_info(engine.info.path).add_bos
    gemma = base_engine.tokenize(
        render_raw("Hello", TokenizerSpec.from_info(read_model_info(base_engine.info.path))).text
    )
    assert gemma.ids[0] == 2 and gemma.ids.count(2) == 1  # exactly one <bos>
    smol = instruct_engine.tokenize("Hello")
    assert "".join(smol.pieces) == "Hello"  # raw mode adds nothing


def test_special_tokens_written_as_text_become_tokens(instruct_engine: EngineClient) -> None:
    tokens = instruct_engine.tokenize("<|im_start|>user\nHi<|im_end|>")
    assert tokens.ids[0] == 1 and tokens.ids[-1] == 2  # <|im_start|> and <|im_end|> ids


def test_chat_mode_ends_at_the_end_of_turn(
    instruct_path: Path, instruct_engine: EngineClient
) -> None:
    info = read_model_info(instruct_path)
    prompt = render_chat(
        [Message("user", "Say hello.")], TokenizerSpec.from_info(info), template_of(info)
    )
    final = done(instruct_engine, prompt.text, GREEDY.with_changes(max_tokens=200))
    assert final.reason is p.StopReason.EOS
    assert final.text.strip() and "<|im_end|>" not in final.text


def test_base_model_chat_through_the_transcript_is_not_empty(
    base_path: Path, base_engine: EngineClient
) -> None:
    info = read_model_info(base_path)
    prompt = render_chat(
        [Message("user", "What is the capital of France?")], TokenizerSpec.from_info(info), None
    )
    final = done(base_engine, prompt.text, GREEDY.with_changes(max_tokens=48), stop=prompt.stop)
    assert final.text.strip()
    assert "\nUser:" not in final.text


def test_stop_string_ends_generation_and_is_removed(base_engine: EngineClient) -> None:
    free = done(base_engine, "<bos>" + STORY, GREEDY.with_changes(max_tokens=40)).text
    words = free.split()
    stop = " " + words[len(words) // 2]
    cut = done(base_engine, "<bos>" + STORY, GREEDY.with_changes(max_tokens=40), stop=(stop,))
    assert cut.reason is p.StopReason.STOP_STRING
    assert cut.text == free[: free.index(stop)]


def test_context_full_is_a_stop_reason(base_path: Path) -> None:
    # llama.cpp rounds the context up to a multiple of 256. A prompt that nearly fills it
    # leaves the base model a few tokens, too few to end its text on its own.
    with EngineClient(base_path, EngineConfig(n_ctx=256)) as engine:
        prompt = "<bos>" + " ".join([STORY] * 15)
        room = 256 - len(engine.tokenize(prompt).ids)
        assert 0 < room < 40
        final = done(engine, prompt, GREEDY.with_changes(max_tokens=500))
    assert final.reason is p.StopReason.CONTEXT_FULL
    assert final.stats.context_used == final.stats.context_size == 256
    assert final.stats.generated_tokens == room + 1  # the last one is sampled, not decoded


def test_prompt_over_the_context_is_a_clear_error(instruct_path: Path) -> None:
    with EngineClient(instruct_path, EngineConfig(n_ctx=256)) as engine:
        _, final = run(engine, "word " * 400)
        # The worker's error crosses the pipe as itself, with its data.
        assert isinstance(final, p.Failed) and isinstance(final.error, PromptTooLong)
        assert final.error.n_ctx == 256 and (final.error.tokens or 0) > 256
        assert "context holds 256" in final.message
        assert done(engine, "Short.").stats.generated_tokens > 0  # and the engine goes on


def test_cancel_mid_stream(base_engine: EngineClient) -> None:
    tokens: list[p.Token] = []
    for event in base_engine.generate(
        exact("<bos>" + STORY), SamplingParams(max_tokens=400, seed=1)
    ):
        if isinstance(event, p.Token):
            tokens.append(event)
            if len(tokens) == 3:
                base_engine.cancel()
        elif isinstance(event, p.Done):
            final = event
            break
    assert final.reason is p.StopReason.CANCELLED
    assert 3 <= final.stats.generated_tokens <= 4  # within one token


def test_cancel_during_prompt_processing(instruct_path: Path) -> None:
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 300  # ~3,000 tokens, 6 batches
    with EngineClient(instruct_path, EngineConfig(n_ctx=4096, n_threads_batch=1)) as engine:
        engine.load()
        events = []
        for event in engine.generate(exact(long_prompt), GREEDY):
            events.append(event)
            if isinstance(event, p.PromptProgress):
                engine.cancel()  # from this thread, as soon as the first batch is in
            if isinstance(event, (p.Done, p.Failed)):
                break
        final = events[-1]
        assert isinstance(final, p.Done) and final.reason is p.StopReason.CANCELLED
        assert final.stats.generated_tokens == 0
        progress = [e for e in events if isinstance(e, p.PromptProgress)]
        assert progress[-1].done < progress[-1].total  # it stopped part way
        # The half-evaluated cache is dropped: the next answer is a fresh engine's.
        after = next_token_top(engine, "The capital of France is")
    with EngineClient(instruct_path, EngineConfig(n_ctx=4096)) as fresh:
        assert_same_distribution(after, next_token_top(fresh, "The capital of France is"))


def test_cancel_from_another_thread(instruct_engine: EngineClient) -> None:
    timer = threading.Timer(0.3, instruct_engine.cancel)
    timer.start()
    final = done(
        instruct_engine, STORY, SamplingParams(max_tokens=100_000, seed=3, repeat_penalty=1.2)
    )
    timer.join()
    assert final.reason in (p.StopReason.CANCELLED, p.StopReason.EOS)


def test_killed_worker_becomes_crashed_and_the_next_request_works(instruct_path: Path) -> None:
    with EngineClient(instruct_path, EngineConfig(n_ctx=1024)) as engine:
        engine.load()
        first_pid = engine.pid
        events = []
        for event in engine.generate(exact(STORY), SamplingParams(max_tokens=2000, seed=1)):
            events.append(event)
            if len(events) == 3:
                os.kill(first_pid, 9)  # type: ignore[arg-type]
        assert isinstance(events[-1], p.Crashed)
        assert "stopped unexpectedly" in events[-1].message and events[-1].exitcode == -9
        final = done(engine, STORY)
        assert final.stats.generated_tokens > 0 and engine.pid != first_pid


def test_abandoned_stream_does_not_leak_into_the_next(instruct_engine: EngineClient) -> None:
    for event in instruct_engine.generate(exact(STORY), SamplingParams(max_tokens=300, seed=5)):
        if isinstance(event, p.Token):
            break  # the consumer walks away
    assert (
        done(instruct_engine, "Hello", GREEDY.with_changes(max_tokens=5)).stats.generated_tokens
        == 5
    )


def test_switching_models_ends_the_old_process(base_path: Path, instruct_path: Path) -> None:
    with EngineClient(instruct_path, EngineConfig(n_ctx=512)) as engine:
        engine.load()
        old_pid = engine.pid
        info = engine.load(base_path)
        assert info.path == base_path and engine.pid != old_pid
        with pytest.raises(ProcessLookupError):
            os.kill(old_pid, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [b"", b"GGML" + b"\0" * 64, os.urandom(4096)])
def test_corrupt_files_fail_to_load_and_the_caller_lives(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with EngineClient(bad) as engine, pytest.raises(ModelLoadError, match=r"bad\.gguf"):
        engine.load()


def test_truncated_file_fails_to_load(tmp_path: Path, instruct_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(instruct_path.read_bytes()[: 50 << 20])
    with EngineClient(cut) as engine, pytest.raises(ModelLoadError, match="truncated"):
        engine.load()


def test_next_chat_turn_reuses_the_kv_cache(
    instruct_path: Path, instruct_engine: EngineClient
) -> None:
    info = read_model_info(instruct_path)
    spec, template = TokenizerSpec.from_info(info), template_of(info)
    turns = [Message("user", "Name a fruit.")]
    first = done(instruct_engine, render_chat(turns, spec, template).text)
    turns += [Message("assistant", first.text), Message("user", "And a vegetable?")]
    second_prompt = render_chat(turns, spec, template).text
    tokens, second = run(
        instruct_engine, second_prompt, GREEDY.with_changes(max_tokens=1), top_k_probs=5
    )
    assert isinstance(second, p.Done)
    assert second.stats.cached_tokens >= first.stats.prompt_tokens
    reused = tokens[0]
    with EngineClient(instruct_path, EngineConfig(n_ctx=2048)) as fresh:
        assert_same_distribution(reused, next_token_top(fresh, second_prompt))


def test_top_k_probabilities_from_current_logits(base_engine: EngineClient) -> None:
    tokens, final = run(
        base_engine,
        "<bos>" + STORY,
        GREEDY.with_changes(max_tokens=8),
        top_k_probs=5,
        logprobs=True,
    )
    assert isinstance(final, p.Done)
    for token in tokens:
        assert len(token.top) == 5
        logprobs = [a.logprob for a in token.top]
        assert logprobs == sorted(logprobs, reverse=True)
        assert sum(math.exp(lp) for lp in logprobs) <= 1.0 + 1e-6
        assert token.top[0].token_id == token.token_id  # greedy picks the most likely
        assert token.logprob == pytest.approx(token.top[0].logprob)


@pytest.mark.parametrize("which", ["base", "instruct"])
def test_scoring_matches_the_logprobs_reported_while_generating(
    which: str, base_path: Path, instruct_path: Path
) -> None:
    path, prompt = (base_path, "<bos>" + STORY) if which == "base" else (instruct_path, STORY)
    with EngineClient(path, EngineConfig(n_ctx=2048)) as engine:
        tokens, final = run(engine, prompt, SamplingParams(max_tokens=24, seed=11), logprobs=True)
        assert isinstance(final, p.Done)
        generated = [t for t in tokens if t.token_id >= 0]
        ids = tuple(t.token_id for t in generated)
        with EngineClient(path, EngineConfig(n_ctx=2048)) as other:
            for scorer in (engine, other):  # the engine that generated it, and a new one
                scored = scorer.score(prompt, token_ids=ids, top_k=3)
                assert [s.token_id for s in scored.tokens] == list(ids)
                for gen, sc in zip(generated, scored.tokens, strict=True):
                    assert sc.logprob == pytest.approx(gen.logprob, abs=1e-4)
                assert all(len(s.top) == 3 for s in scored.tokens)


def test_scoring_another_models_text(base_engine: EngineClient) -> None:
    scored = base_engine.score(
        "<bos>The capital of France is", continuation=" Paris. It is a big city."
    )
    assert "".join(s.piece for s in scored.tokens) == " Paris. It is a big city."
    assert all(s.logprob <= 0 for s in scored.tokens)
    assert scored.tokens[0].logprob > -5  # " Paris" is not a surprise to a language model


def test_a_cancel_while_the_model_loads_stops_the_generation_at_once(base_path: Path) -> None:
    """The first request of a new worker loads the model first; a Stop pressed meanwhile (a
    compare column run one at a time begins so) must end it, not be lost."""
    import threading
    import time

    from desktop.core.chat.prompts import exact
    from desktop.core.chat.sampling import SamplingParams
    from desktop.core.engine import events as ev
    from desktop.core.engine.config import EngineConfig
    from desktop.core.engine.local.client import EngineClient
    from desktop.core.engine.stream import follow

    finals: list[object] = []
    with EngineClient(base_path, EngineConfig(n_ctx=512, n_threads=2)) as engine:
        sampling = SamplingParams(temperature=0.0, max_tokens=300, seed=0)
        thread = threading.Thread(
            target=lambda: finals.append(
                follow(engine.generate(exact("Once upon a time"), sampling))
            )
        )
        thread.start()
        deadline = time.monotonic() + 30
        while engine.pid is None and time.monotonic() < deadline:  # the worker started ...
            time.sleep(0.005)
        assert engine.info is None  # ... and is still loading the model
        engine.cancel()
        thread.join(60)
        assert not thread.is_alive()
    (done,) = finals
    assert isinstance(done, ev.Done), done
    assert done.reason == ev.StopReason.CANCELLED and done.stats.generated_tokens <= 1, done
