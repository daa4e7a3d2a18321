"""The chat session on its own: a turn from the user's message to the saved reply, what it
announces, and that fitting the chat to the context never touches the chat shown. No window,
no llama.cpp: a fake engine, the starter instruct model's metadata, a real store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.chat.history import History
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.session import ChatSession, ReplySettings
from desktop.core.chat.store import Store
from desktop.core.engine.base import SERVER
from desktop.core.engine.factory import Runnable
from desktop.core.engine.stream import follow
from desktop.core.errors import EngineError
from desktop.core.models.library import InstalledModel, Library
from desktop.core.models.served import ServerModel
from tests.fakes.engine import FakeEngine

SETTINGS = ReplySettings(SamplingParams(max_tokens=20, seed=7), "drop_oldest")


@pytest.fixture()
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatSession]:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    store = Store()
    yield ChatSession(History(store), system="Be brief.")
    store.close()


@pytest.fixture()
def instruct(starter_paths: tuple[Path, Path]) -> InstalledModel:
    return Library().describe(starter_paths[1], "starter")


def record(session: ChatSession) -> list[tuple[object, ...]]:
    seen: list[tuple[object, ...]] = []
    for name in (
        "changed",
        "message_added",
        "reply_started",
        "prompt_ready",
        "reply_grew",
        "reply_finished",
        "reply_failed",
    ):
        getattr(session.events, name).connect(lambda *args, name=name: seen.append((name, *args)))
    return seen


def run_turn(session: ChatSession, model: Runnable, engine: FakeEngine) -> None:
    """What the window's generation thread does, in this thread."""
    job = session.start_reply(model, engine, SETTINGS)
    prompt = job.prompt
    try:
        if job.prepare is not None:
            fitted = job.prepare()
            session.prepared(fitted)
            prompt = fitted.prompt
        done = follow(
            engine.generate(prompt, SETTINGS.sampling),
            on_token=lambda token: session.grow(token.text, [token]),
        )
    except Exception as exc:
        session.finish(None, str(exc))
    else:
        session.finish(done)


def test_a_turn_is_saved_and_announced_step_by_step(
    session: ChatSession, instruct: InstalledModel
) -> None:
    seen = record(session)
    engine = FakeEngine(["Paris is the capital."])
    session.add_user("What is the capital of France?")
    run_turn(session, instruct, engine)
    names = [event[0] for event in seen]
    assert names[:3] == ["message_added", "reply_started", "prompt_ready"]
    assert names[3:-1] == ["reply_grew"] * 4 and names[-1] == "reply_finished"
    assert "".join(str(e[1]) for e in seen if e[0] == "reply_grew") == "Paris is the capital."
    chat = session.conversation
    assert [m.role for m in chat.messages] == ["user", "assistant"]
    assert chat.messages[-1].content == "Paris is the capital." and not session.replying
    # The prompt the engine received is the one the session recorded with the reply.
    assert engine.prompts[-1].text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert chat.chat_id is not None
    stored = session.history.store.path(chat.chat_id)[-1]
    meta = stored.meta
    assert stored.complete and meta.model_id == instruct.id and meta.mode == "chat"
    assert meta.prompt == engine.prompts[-1].text and meta.seed == 7
    assert meta.stop_reason == "eos" and meta.template.startswith("chat template of")
    assert session.finished_reply[0] == "Paris is the capital."
    assert len(session.finished_reply[1]) == 4  # a token record behind each word


def test_fitting_runs_on_a_copy_and_the_shown_chat_changes_only_when_told(
    session: ChatSession, instruct: InstalledModel
) -> None:
    engine = FakeEngine(["A fine answer with several words in it."] * 4, n_ctx=2048)
    for question in ("First question?", "Second question?", "Third question?"):
        session.add_user(question)
        run_turn(session, instruct, engine)
    session.add_user("Fourth question?")
    # A context that holds only the last turns: counting is by the fake engine's words.
    small = FakeEngine(["Short."], n_ctx=60)
    job = session.start_reply(instruct, small, SETTINGS)
    assert job.prepare is not None
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(job.prepare()))  # type: ignore[misc]
    worker.start()
    worker.join(timeout=30)
    assert results, "fitting did not end"
    fitted = results[0]
    assert fitted.dropped > 0  # type: ignore[attr-defined]
    assert session.conversation.dropped == 0  # the worker touched a copy, not the shown chat
    session.prepared(fitted)  # type: ignore[arg-type]
    assert session.conversation.dropped == fitted.dropped  # type: ignore[attr-defined]
    session.finish(None, "stopped")


def test_a_reply_that_fails_before_its_first_token_leaves_the_users_message_last(
    session: ChatSession, instruct: InstalledModel
) -> None:
    seen = record(session)
    engine = FakeEngine(["never"])
    engine.fail_next(EngineError("boom"))
    session.add_user("Hello?")
    run_turn(session, instruct, engine)
    assert seen[-1] == ("reply_failed", "boom", False)
    assert [m.role for m in session.conversation.messages] == ["user"]
    reopened = session.history.load(session.conversation.chat_id or 0)
    assert [m.role for m in reopened.messages] == ["user"]


def test_a_server_gets_the_messages_and_no_fitting(session: ChatSession) -> None:
    model = ServerModel("remote:lab/tiny", "tiny", "lab", "instruct", "name")
    engine = FakeEngine(["Hi there."], capabilities=SERVER)
    session.add_user("Hello")
    job = session.start_reply(model, engine, SETTINGS)
    assert job.prepare is None
    assert [(m.role, m.content) for m in job.prompt.messages] == [
        ("system", "Be brief."),
        ("user", "Hello"),
    ]
    session.finish(None, "stopped")


def test_regenerate_edit_and_branches(session: ChatSession, instruct: InstalledModel) -> None:
    engine = FakeEngine(["One.", "Two.", "Three."])
    session.add_user("Count.")
    run_turn(session, instruct, engine)
    seen = record(session)
    assert session.regenerate()  # the reply leaves the chat, which waits for another
    assert seen[-1] == ("changed",)
    run_turn(session, instruct, engine)
    assert session.branches() == [(0, 1), (1, 2)]
    session.switch_branch(1, -1)
    assert session.conversation.messages[-1].content == "One."
    assert session.edit(0) == "Count." and session.conversation.messages == []
