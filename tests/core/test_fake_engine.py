"""The fake engine (tests/fakes/engine.py): what it promises on its own, and one contract that
runs the same checks on it and on the real local engine (SmolLM2 through llama.cpp), so the
fake cannot drift from what the app really receives."""

from __future__ import annotations

import math
import threading
import time

import pytest

from desktop.core.chat.prompts import Message, RenderedPrompt
from desktop.core.chat.sampling import MAX_SEED, SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import LOCAL, SERVER, Capabilities, Engine
from desktop.core.errors import (
    EngineCrashed,
    EngineError,
    InvalidPrompt,
    ModelLoadError,
    PromptTooLong,
    RemoteError,
    Unsupported,
)
from tests.fakes import FakeEngine, GenerateCall

STORY = "Once upon a time, in a small village by the sea, there lived"
# The fake's continuation of STORY: longer than any max_tokens asked of it here.
FAKE_STORY = " an old fisherman who knew every wave by its name." * 40
GREEDY = SamplingParams(temperature=0.0, top_k=1, top_p=1.0, min_p=0.0, seed=7)
TIMEOUT = 60.0  # seconds: any stream here ends long before, or the test fails


def raw(text: str, stop: tuple[str, ...] = ()) -> RenderedPrompt:
    """Exactly this text, as a raw prompt (SmolLM2 adds no BOS, so the two engines get the same)."""
    return RenderedPrompt(text=text, mode="raw", template_name=None, stop=stop)


def run(
    engine: Engine,
    prompt: RenderedPrompt,
    sampling: SamplingParams = GREEDY,
    on_token: object = None,
    **kwargs: int | bool,
) -> tuple[list[p.Token], list[p.PromptProgress], p.Event]:
    """The tokens, progress and last event of one generation, bounded in time."""
    tokens: list[p.Token] = []
    progress: list[p.PromptProgress] = []
    deadline = time.monotonic() + TIMEOUT
    last: p.Event | None = None
    for event in engine.generate(prompt, sampling, **kwargs):  # type: ignore[arg-type]
        assert time.monotonic() < deadline, "the stream did not end in time"
        assert last is None or not isinstance(last, (p.Done, p.Failed, p.Crashed))
        if isinstance(event, p.Token):
            tokens.append(event)
            if callable(on_token):
                on_token(event)
        elif isinstance(event, p.PromptProgress):
            progress.append(event)
        last = event
    assert last is not None
    return tokens, progress, last


def done(engine: Engine, prompt: RenderedPrompt, sampling: SamplingParams = GREEDY) -> p.Done:
    _, _, last = run(engine, prompt, sampling)
    assert isinstance(last, p.Done), last
    return last


def text_of(tokens: list[p.Token]) -> str:
    return "".join(token.text for token in tokens)


# The contract: the same checks on both engines ------------------------------------------------


@pytest.fixture(params=["fake", pytest.param("local", marks=pytest.mark.slow)])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "fake":
        return FakeEngine(lambda prompt: FAKE_STORY)
    local: Engine = request.getfixturevalue("instruct_engine")  # SmolLM2, n_ctx 2048
    return local


def kill_during(engine: Engine) -> object:
    """What kills the engine while it streams: for the local one, its worker process after the
    first token; the fake is told beforehand to crash after one token."""
    if isinstance(engine, FakeEngine):
        engine.crash_next(exitcode=-9, after_tokens=1)
        return None
    kill = engine.kill  # type: ignore[attr-defined]
    killed: list[bool] = []

    def on_token(token: p.Token) -> None:
        if not killed:
            killed.append(True)
            kill()

    return on_token


def test_contract_it_says_what_it_is(engine: Engine) -> None:
    assert engine.capabilities == LOCAL
    assert isinstance(engine.label, str) and engine.label
    info = engine.load()
    assert info.n_ctx == 2048 and info.pid > 0


def test_contract_tokens_add_up_to_the_reply_and_the_stats_count_them(engine: Engine) -> None:
    tokens, _, last = run(engine, raw(STORY), GREEDY.with_changes(max_tokens=12))
    assert isinstance(last, p.Done)
    assert last.reason is p.StopReason.MAX_TOKENS
    assert len(tokens) == last.stats.generated_tokens == 12
    assert text_of(tokens) == last.text and last.text.strip()
    for token in tokens:
        assert isinstance(token.token_id, int) and isinstance(token.piece, str)
        assert token.text == token.piece  # no stop strings, whole characters: nothing held
        assert token.logprob is None and token.top == ()  # none asked for
    stats = last.stats
    assert stats.prompt_tokens == len(engine.tokenize(STORY).ids)
    assert 0 <= stats.cached_tokens < stats.prompt_tokens
    assert stats.context_used == stats.prompt_tokens + 12 and stats.context_size == 2048
    assert stats.seed == 7 and stats.ttft_seconds >= 0 and stats.tokens_per_second > 0
    unseeded = done(engine, raw(STORY), SamplingParams(max_tokens=2))
    assert 0 <= unseeded.stats.seed <= MAX_SEED


def test_contract_greedy_is_repeatable(engine: Engine) -> None:
    sampling = GREEDY.with_changes(max_tokens=8)
    assert done(engine, raw(STORY), sampling).text == done(engine, raw(STORY), sampling).text


def test_contract_log_probabilities_when_asked(engine: Engine) -> None:
    tokens, _, last = run(engine, raw(STORY), GREEDY.with_changes(max_tokens=6), top_k_probs=3)
    assert isinstance(last, p.Done) and len(tokens) == 6
    for token in tokens:
        assert token.logprob is not None and token.logprob <= 0
        assert len(token.top) == 3
        logprobs = [alternative.logprob for alternative in token.top]
        assert logprobs == sorted(logprobs, reverse=True) and logprobs[0] <= 0
        # Greedy: the chosen token is the model's first choice.
        assert token.token_id == token.top[0].token_id and token.piece == token.top[0].text
        assert math.isclose(token.logprob, token.top[0].logprob, abs_tol=1e-4)
    tokens, _, _ = run(engine, raw(STORY), GREEDY.with_changes(max_tokens=3), logprobs=True)
    assert all(t.logprob is not None and t.top == () for t in tokens)


def test_contract_a_stop_string_ends_the_reply_before_it(engine: Engine) -> None:
    tokens, _, _ = run(engine, raw(STORY), GREEDY.with_changes(max_tokens=12))
    whole = text_of(tokens)
    cut = len(text_of(tokens[:4]))
    stop = whole[cut : cut + 3]
    assert len(stop) == 3
    expected = whole[: whole.find(stop)]
    stopped, _, last = run(engine, raw(STORY, (stop,)), GREEDY.with_changes(max_tokens=12))
    assert isinstance(last, p.Done)
    assert last.reason is p.StopReason.STOP_STRING
    assert last.text == text_of(stopped) == expected
    assert all(stop not in token.text for token in stopped)


def test_contract_cancel_ends_the_stream_and_is_not_kept(engine: Engine) -> None:
    tokens, _, last = run(
        engine,
        raw(STORY),
        GREEDY.with_changes(max_tokens=200),
        on_token=lambda token: engine.cancel(),
    )
    assert isinstance(last, p.Done)
    assert last.reason is p.StopReason.CANCELLED
    assert 1 <= len(tokens) == last.stats.generated_tokens < 200
    assert text_of(tokens) == last.text
    engine.cancel()  # between requests: nothing to stop, and the next one is not stopped
    after = done(engine, raw(STORY), GREEDY.with_changes(max_tokens=5))
    assert after.reason is p.StopReason.MAX_TOKENS and after.stats.generated_tokens == 5


def test_contract_leaving_a_stream_early_leaves_nothing_behind(engine: Engine) -> None:
    sampling = GREEDY.with_changes(max_tokens=6)
    expected = done(engine, raw(STORY), sampling).text
    taken = 0
    for event in engine.generate(raw(STORY), GREEDY.with_changes(max_tokens=200)):
        if isinstance(event, p.Token):
            taken += 1
        if taken == 2:
            break  # as a caller that stops reading: the protocol says this cancels
    assert taken == 2
    again = done(engine, raw(STORY), sampling)
    assert again.text == expected and again.stats.generated_tokens == 6


def test_contract_a_bad_prompt_fails_with_its_error_and_the_engine_goes_on(engine: Engine) -> None:
    tokens, _, empty = run(engine, raw(""))
    assert tokens == [] and isinstance(empty, p.Failed)
    assert isinstance(empty.error, InvalidPrompt) and "empty" in empty.message
    tokens, _, long = run(engine, raw("word " * 3000))
    assert tokens == [] and isinstance(long, p.Failed)
    assert isinstance(long.error, PromptTooLong) and "2048" in long.message
    assert done(engine, raw(STORY), GREEDY.with_changes(max_tokens=3)).stats.generated_tokens == 3


def test_contract_a_crash_while_streaming_is_an_event_and_the_next_request_restarts(
    engine: Engine,
) -> None:
    on_token = kill_during(engine)
    tokens, _, last = run(engine, raw(STORY), GREEDY.with_changes(max_tokens=200), on_token)
    assert isinstance(last, p.Crashed)
    assert last.exitcode == -9 and "stopped unexpectedly" in last.message
    assert 1 <= len(tokens) < 200
    after = done(engine, raw(STORY), GREEDY.with_changes(max_tokens=4))
    assert after.reason is p.StopReason.MAX_TOKENS


def test_contract_tokenize_and_score(engine: Engine) -> None:
    text = "Hello world, hello sea"
    tokens = engine.tokenize(text)
    assert len(tokens.ids) == len(tokens.pieces) and "".join(tokens.pieces) == text
    continuation = " a fisherman"
    scored = engine.score(STORY, continuation, top_k=2)
    assert "".join(t.piece for t in scored.tokens) == continuation
    for token in scored.tokens:
        assert token.logprob <= 0 and len(token.top) == 2
        assert token.top[0].logprob >= token.top[1].logprob
    ids = engine.tokenize(continuation).ids
    by_id = engine.score(STORY, token_ids=ids)
    assert tuple(t.token_id for t in by_id.tokens) == ids
    assert [t.logprob for t in by_id.tokens] == pytest.approx(
        [t.logprob for t in scored.tokens], abs=1e-3
    )


# The fake on its own ---------------------------------------------------------------------------


def test_it_is_an_engine() -> None:
    engine: Engine = FakeEngine()  # mypy checks it against the protocol
    assert engine.capabilities == LOCAL


def test_replies_come_in_order_then_empty_and_every_request_is_recorded() -> None:
    engine = FakeEngine(["Hello there.", "Goodbye."])
    first = raw("Hi")
    assert done(engine, first).text == "Hello there."
    engine.enqueue("A third.")
    assert done(engine, raw("And?"), SamplingParams(max_tokens=9, seed=1)).text == "Goodbye."
    assert done(engine, raw("More?")).text == "A third."
    empty = done(engine, raw("Still there?"))  # nothing left: it ends its turn at once
    assert (empty.text, empty.reason, empty.stats.generated_tokens) == ("", p.StopReason.EOS, 0)
    assert engine.prompts == [first, raw("And?"), raw("More?"), raw("Still there?")]
    assert engine.calls[1] == GenerateCall(raw("And?"), SamplingParams(max_tokens=9, seed=1))
    assert engine.calls[0].sampling == GREEDY


def test_one_string_is_one_reply() -> None:
    assert done(FakeEngine("Hello there."), raw("Hi")).text == "Hello there."


def test_a_reply_function_is_given_the_prompt() -> None:
    engine = FakeEngine(lambda prompt: f"You said {len(prompt.messages)} things.")
    prompt = RenderedPrompt("ignored", "chat", "t", messages=(Message("user", "a"),) * 2)
    assert done(engine, prompt).text == "You said 2 things."
    with pytest.raises(TypeError):
        engine.enqueue("no list here")


def test_max_tokens_counts_words() -> None:
    engine = FakeEngine(["one two  three\nfour five"] * 3)
    tokens, _, last = run(engine, raw("Count"), GREEDY.with_changes(max_tokens=3))
    assert [t.piece for t in tokens] == ["one", " two", "  three"]
    assert isinstance(last, p.Done) and last.reason is p.StopReason.MAX_TOKENS
    assert done(engine, raw("Count"), GREEDY.with_changes(max_tokens=5)).reason is (
        p.StopReason.MAX_TOKENS
    )  # exactly max_tokens: the local engine's check after each token says so too
    whole = done(engine, raw("Count"), GREEDY.with_changes(max_tokens=6))
    assert whole.reason is p.StopReason.EOS and whole.text == "one two  three\nfour five"


def test_fail_next_fails_one_request_with_the_given_error() -> None:
    engine = FakeEngine(["a b c d"] * 3)
    refused = RemoteError("The server refused the key.", server="http://127.0.0.1:1", status=401)
    engine.fail_next(refused)
    tokens, _, last = run(engine, raw("Hi"))
    assert tokens == [] and isinstance(last, p.Failed) and last.error is refused
    engine.fail_next(EngineError("Out of memory."), after_tokens=2)
    tokens, _, last = run(engine, raw("Hi"))
    assert [t.piece for t in tokens] == ["a", " b"]
    assert isinstance(last, p.Failed) and last.message == "Out of memory."
    assert done(engine, raw("Hi")).text == "a b c d"  # only the next request
    for call in (engine.load, lambda: engine.tokenize("x"), lambda: engine.score("x", "y")):
        engine.fail_next(ModelLoadError("Not a GGUF file."))
        with pytest.raises(ModelLoadError, match="Not a GGUF file"):
            call()


def test_crash_next_crashes_one_request_and_the_next_loads_again() -> None:
    engine = FakeEngine(["a b c"] * 3, label="tiny.gguf")
    engine.load()
    assert engine.loads == 1
    engine.crash_next(exitcode=134)
    tokens, _, last = run(engine, raw("Hi"))
    assert tokens == [] and isinstance(last, p.Crashed) and last.exitcode == 134
    assert "tiny.gguf" in last.message and engine.info is None
    assert done(engine, raw("Hi")).text == "a b c"
    assert engine.loads == 2
    engine.crash_next()
    with pytest.raises(EngineCrashed) as crashed:
        engine.tokenize("x")
    assert crashed.value.exitcode == -9
    engine.crash_next()
    with pytest.raises(ModelLoadError, match=r"crashed while loading tiny\.gguf"):
        engine.load()
    assert engine.load().n_ctx == 2048
    assert engine.loads == 3  # loads that finished: after the first, one per crash survived


def test_capabilities_are_what_it_is_given() -> None:
    engine = FakeEngine(["Hi\nUser: more"] * 3, capabilities=SERVER, label="m on the server s")
    assert engine.capabilities == SERVER
    with pytest.raises(Unsupported) as refused:
        engine.score("a", "b")
    assert refused.value.capability == "can_score"
    with pytest.raises(Unsupported):
        engine.tokenize("a")
    # Chat messages go to a server that renders its own template: it applies no stop strings
    # of the rendered text; a raw prompt's stop strings still end the reply.
    chat = RenderedPrompt("Hi", "chat", "t", stop=("\nUser:",), messages=(Message("user", "x"),))
    assert done(engine, chat).text == "Hi\nUser: more"
    assert done(engine, raw("Hi", ("\nUser:",))).text == "Hi"
    custom = FakeEngine(capabilities=Capabilities(can_raw=False, reports_context=False))
    assert not custom.capabilities.can_raw


def test_stop_strings_are_held_back_as_the_local_engine_holds_them() -> None:
    engine = FakeEngine(["Hello\nUser: hi", "end X", "a XY b"])
    tokens, _, last = run(engine, raw("Hi", ("\nUser:",)))
    assert [t.text for t in tokens] == ["Hello", ""] and [t.piece for t in tokens][1] == "\nUser:"
    assert isinstance(last, p.Done) and last.reason is p.StopReason.STOP_STRING
    assert last.text == "Hello"
    tokens, _, last = run(engine, raw("Hi", ("XY",)))  # "X" might begin "XY": held to the end
    assert [(t.text, t.token_id, t.piece) for t in tokens][-2:] == [
        (" ", tokens[-2].token_id, " X"),
        ("X", -1, ""),
    ]
    assert isinstance(last, p.Done) and last.text == "end X" and last.reason is p.StopReason.EOS
    assert done(engine, raw("Hi", ("XY",))).text == "a "


def test_long_prompts_report_progress_and_a_shared_start_is_cached() -> None:
    engine = FakeEngine([" ok"] * 2, n_batch=4)
    prompt = " ".join(f"w{i}" for i in range(10))
    _, progress, last = run(engine, raw(prompt))
    assert progress == [p.PromptProgress(4, 10), p.PromptProgress(8, 10), p.PromptProgress(10, 10)]
    assert isinstance(last, p.Done) and last.stats.cached_tokens == 0
    _, progress, last = run(engine, raw(prompt + " ok w10 w11"))  # the last reply, then more
    assert isinstance(last, p.Done)
    assert last.stats.cached_tokens == 11 and last.stats.prompt_tokens == 13 and progress == []


def test_a_full_context_ends_the_reply() -> None:
    engine = FakeEngine(["a b c d e"], n_ctx=10)
    last = done(engine, raw("1 2 3 4 5 6 7 8"))
    assert last.reason is p.StopReason.CONTEXT_FULL and last.text == "a b"
    assert last.stats.context_used == 10 == last.stats.context_size


def test_a_cancel_from_another_thread_cuts_the_token_delay_short() -> None:
    engine = FakeEngine(["word " * 1000], token_delay=0.05)
    started = threading.Event()
    result: list[p.Event] = []

    def consume() -> None:
        result.append(run(engine, raw("Go"), on_token=lambda token: started.set())[2])

    worker = threading.Thread(target=consume)
    began = time.monotonic()
    worker.start()
    assert started.wait(5)
    time.sleep(0.12)  # busy for a few more tokens, as a window test would see it
    engine.cancel()
    worker.join(5)
    assert not worker.is_alive()
    assert time.monotonic() - began < 2  # 1000 tokens would take 50 s
    last = result[0]
    assert isinstance(last, p.Done) and last.reason is p.StopReason.CANCELLED
    assert 2 <= last.stats.generated_tokens < 20


def test_close_unloads_it() -> None:
    engine = FakeEngine(["a"])
    engine.load()
    engine.close()
    assert engine.closed and engine.info is None
    assert done(engine, raw("Hi")).text == "a" and engine.loads == 2
