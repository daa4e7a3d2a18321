"""The fake engine opener (tests/fakes/opener.py) the window tests run on, and the fake engine's
troubles kept for the next generation: what the window tests rely on, checked on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig
from desktop.core.errors import EngineError
from desktop.core.models.gguf_info import read_model_info
from desktop.core.models.library import InstalledModel
from tests.fakes import FakeEngine, FakeOpener
from tests.fakes.opener import DEFAULT_REPLY


def prompt(text: str) -> RenderedPrompt:
    return RenderedPrompt(text=text, mode="raw", template_name=None)


def reply(engine: FakeEngine, text: str = "Hello there") -> tuple[str, p.Event]:
    """The text of one generation and the event that ended it."""
    events = list(engine.generate(prompt(text)))
    tokens = "".join(e.text for e in events if isinstance(e, p.Token))
    return tokens, events[-1]


@pytest.fixture(scope="module")
def model(instruct_path: Path) -> InstalledModel:
    return InstalledModel(
        id="smollm2",
        path=instruct_path,
        kind="instruct",
        kind_reason="catalog",
        source="starter",
        info=read_model_info(instruct_path),
    )


def test_each_opening_is_a_new_engine_with_the_windows_context_and_the_files_name(
    model: InstalledModel,
) -> None:
    opener = FakeOpener()
    first = opener(model, EngineConfig(n_ctx=256, n_batch=64))
    second = opener(model, EngineConfig())
    assert first is not second and opener.engines == [first, second] and opener.engine is second
    assert (first.n_ctx, first.n_batch, first.label) == (256, 64, model.path.name)
    assert second.n_ctx == 4096
    assert [config.n_ctx for _model, config in opener.opened] == [256, 4096]


def test_the_script_of_replies_goes_on_across_engines(model: InstalledModel) -> None:
    opener = FakeOpener(replies=["One.", "Two."])
    assert reply(opener(model, EngineConfig()))[0] == "One."
    assert reply(opener(model, EngineConfig()))[0] == "Two."
    assert reply(opener.engine)[0] == DEFAULT_REPLY  # then the same reply every time


def test_an_engine_needs_opening_first() -> None:
    with pytest.raises(LookupError, match="No engine was opened yet"):
        _ = FakeOpener().engine


def test_trouble_kept_for_the_generation_passes_over_load_and_tokenize() -> None:
    engine = FakeEngine(["Once upon a time there was"])
    engine.crash_next(after_tokens=2, in_generation=True)
    engine.load()
    engine.tokenize("a chat turn counts its tokens first")
    text, last = reply(engine)
    assert text == "Once upon" and isinstance(last, p.Crashed)
    engine.fail_next(EngineError("No memory left."), in_generation=True)
    engine.load()
    text, last = reply(engine)
    assert text == "" and isinstance(last, p.Failed) and str(last.error) == "No memory left."


def test_trouble_for_the_next_request_still_meets_a_load_first() -> None:
    engine = FakeEngine(["Hello"])
    engine.fail_next(EngineError("No memory left."))
    with pytest.raises(EngineError, match="No memory left"):
        engine.load()
    assert reply(engine)[0] == "Hello"
