"""A chat reply forked at one of its tokens: a new branch of that reply that starts with the
text before the token and the choice, its token records kept, the model going on from there.
No window, no llama.cpp: a fake engine, the starter instruct model's metadata, a real store."""

from __future__ import annotations

import pytest

from desktop.core.chat.fork import MAX_CHOICE_CHARS, Fork, choice_record
from desktop.core.chat.session import ChatSession, Prefill
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine import events as p
from desktop.core.engine.base import SERVER
from desktop.core.engine.stream import follow
from desktop.core.errors import InvalidPrompt, Unsupported
from desktop.core.models.library import InstalledModel
from desktop.core.models.served import ServerModel
from tests.core import test_session as session_tests
from tests.fakes.engine import FakeEngine

# The chat session tests' own: a session on a real store, the starter instruct model's metadata.
SETTINGS, session, instruct = session_tests.SETTINGS, session_tests.session, session_tests.instruct


def run_turn(
    session: ChatSession, model: InstalledModel, engine: FakeEngine, prefill: Prefill | None = None
) -> None:
    """What the window's generation thread does, in this thread, with token alternatives."""
    job = session.start_reply(model, engine, SETTINGS, prefill=prefill)
    prompt = job.prompt
    if job.prepare is not None:
        fitted = job.prepare()
        session.prepared(fitted)
        prompt = fitted.prompt
    done = follow(
        engine.generate(prompt, SETTINGS.sampling, top_k_probs=3),
        on_token=lambda token: session.grow(token.text, [token]),
    )
    session.finish(done)


def test_a_fork_is_a_new_branch_that_starts_with_the_prefix_and_the_choice(
    session: ChatSession, instruct: InstalledModel
) -> None:
    engine = FakeEngine(["The sky is blue today.", " grey and low."])
    session.add_user("What colour is the sky?")
    run_turn(session, instruct, engine)
    original = session.tokens(1)
    assert original is not None and [t.piece for t in original.records][:3] == [
        "The",
        " sky",
        " is",
    ]
    changes: list[str] = []
    session.events.changed.connect(lambda: changes.append("changed"))

    prefill = session.fork_reply(1, 2, " was")  # " is" becomes " was"
    assert prefill.fork == Fork(2, "The sky", " was") and prefill.message == 1
    assert not changes, "making the fork changes nothing yet"
    run_turn(session, instruct, engine, prefill)

    # The engine went on from the prompt with the reply so far in the assistant's turn.
    sent = engine.prompts[-1].text
    assert sent.endswith("<|im_start|>assistant\nThe sky was")
    assert "forked at token 2" in engine.prompts[-1].notes[-1]
    chat = session.conversation
    assert [m.content for m in chat.messages] == [
        "What colour is the sky?",
        "The sky was grey and low.",
    ]
    assert session.branches()[1] == (1, 2)
    assert changes  # the original reply left the chat shown before the fork began
    # Its token records: the original's before the fork, the typed choice, then the new ones.
    kept = session.tokens(1)
    assert kept is not None
    assert [t.piece for t in kept.records] == ["The", " sky", " was", " grey", " and", " low."]
    assert kept.records[:2] == original.records[:2]
    assert kept.records[2].token_id < 0 and kept.records[2].logprob is None  # typed
    assert "".join(kept.texts) == "The sky was grey and low."

    # Saved: the history holds the whole text, and the original is the other branch.
    reopened = session.history.load(chat.chat_id or 0)
    assert reopened.messages[-1].content == "The sky was grey and low."
    session.switch_branch(1, -1)
    assert session.conversation.messages[-1].content == "The sky is blue today."
    stored = session.history.store.path(chat.chat_id or 0)
    assert stored[-1].content == "The sky is blue today."


def test_a_model_alternative_keeps_its_probability_and_the_tokens_around_it() -> None:
    top = (p.Alternative(4, " is", -0.2), p.Alternative(9, " was", -1.9))
    token = TokenRecord(4, " is", -0.2, top, 1.5)
    chosen = choice_record(token, " was")
    assert (chosen.token_id, chosen.piece, chosen.logprob, chosen.top) == (9, " was", -1.9, top)
    typed = choice_record(token, " seemed")
    assert (typed.token_id, typed.piece, typed.logprob, typed.top) == (-1, " seemed", None, ())


def test_an_earlier_reply_can_be_forked_and_the_later_turns_stay_on_their_branch(
    session: ChatSession, instruct: InstalledModel
) -> None:
    engine = FakeEngine(["One two three.", "Four five six.", " nine ten."])
    session.add_user("Count.")
    run_turn(session, instruct, engine)
    session.add_user("More.")
    run_turn(session, instruct, engine)
    prefill = session.fork_reply(1, 1, " eight")
    run_turn(session, instruct, engine, prefill)
    assert [m.content for m in session.conversation.messages] == ["Count.", "One eight nine ten."]
    session.switch_branch(1, -1)
    assert [m.content for m in session.conversation.messages] == [
        "Count.",
        "One two three.",
        "More.",
        "Four five six.",
    ]


def test_a_fork_that_cannot_be_is_refused_and_the_chat_is_left_as_it_was(
    session: ChatSession, instruct: InstalledModel
) -> None:
    engine = FakeEngine(["Paris is the capital."])
    session.add_user("Capital of France?")
    run_turn(session, instruct, engine)
    shown = list(session.conversation.messages)
    with pytest.raises(InvalidPrompt, match="at most"):
        session.fork_reply(1, 1, "x" * (MAX_CHOICE_CHARS + 1))
    with pytest.raises(InvalidPrompt, match="no token 9"):
        session.fork_reply(1, 9, " was")
    with pytest.raises(InvalidPrompt, match="reply"):
        session.fork_reply(0, 0, "Hi")  # the user's message is not a reply
    # A server renders the chat itself: it cannot be handed the start of a reply.
    prefill = session.fork_reply(1, 1, " was")
    server = ServerModel("remote:lab/tiny", "tiny", "lab", "instruct", "name")
    with pytest.raises(Unsupported, match="chat messages"):
        session.start_reply(server, FakeEngine([], capabilities=SERVER), SETTINGS, prefill=prefill)
    assert session.conversation.messages == shown and not session.replying
    # Not while a reply streams, nor while a message is edited.
    session.add_user("And Italy?")
    session.start_reply(instruct, engine, SETTINGS)
    with pytest.raises(InvalidPrompt, match="writing"):
        session.fork_reply(1, 1, " was")
    session.finish(None, "stopped")
    session.edit(0)
    with pytest.raises(InvalidPrompt, match="edit"):
        session.fork_reply(1, 1, " was")


def test_a_reply_whose_tokens_are_not_kept_cannot_be_forked(
    session: ChatSession, instruct: InstalledModel
) -> None:
    engine = FakeEngine(["Paris is the capital."])
    session.add_user("Capital of France?")
    job = session.start_reply(instruct, engine, SETTINGS)
    assert job.prepare is not None
    prompt = job.prepare().prompt
    # No alternatives asked: the reply is kept without token records.
    follow(engine.generate(prompt, SETTINGS.sampling), on_token=lambda t: session.grow(t.text, []))
    session.finish(None, "stopped")
    with pytest.raises(InvalidPrompt, match="token"):
        session.fork_reply(1, 0, "Rome")
