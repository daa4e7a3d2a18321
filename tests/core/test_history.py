"""History between a conversation and a real Store in a temporary DUET_HOME: messages saved as
they happen, a streaming reply saved in batches, a failed reply leaving no trace, branches, and
raw documents. Reopening is done with a new Store on the same file, as a restarted app would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from desktop.core.chat import history as history_module
from desktop.core.chat.conversation import Conversation
from desktop.core.chat.history import STREAM_SAVE_EVERY, History
from desktop.core.chat.prompts import Message
from desktop.core.chat.store import MessageMeta, Store
from desktop.core.errors import DuetError

META = MessageMeta(
    model_id="smollm2-135m-instruct",
    model_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    model_sha256="ab" * 32,
    mode="chat",
    template="chat template of SmolLM2-135M-Instruct.Q4_1.gguf",
    prompt="<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    sampling={"temperature": 0.0, "max_tokens": 16},
    seed=42,
    stop_reason="eos",
    stats={"generated_tokens": 3},
    dropped_turns=1,
)


class Clock:
    """time.monotonic for history.py, moved by hand: no test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "duet-home"))
    return tmp_path / "duet-home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    store = Store()  # the default file, in this test's own DUET_HOME
    assert store.file.is_relative_to(home)
    yield store
    store.close()


@pytest.fixture
def history(store: Store) -> History:
    return History(store)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(history_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


def reopen(chat_id: int) -> Conversation:
    """The chat as the app shows it after a restart: a new connection to the same file."""
    store = Store()
    try:
        return History(store).load(chat_id)
    finally:
        store.close()


def contents(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conversation.messages]


def reply_with(history: History, conversation: Conversation, answer: str) -> int:
    """A reply that streamed and ended well, under the conversation's last message."""
    history.begin_reply(conversation)
    history.finish_reply(conversation, answer, META)
    reply = conversation.last_id
    assert reply is not None
    return reply


# Saving messages --------------------------------------------------------------------------------


def test_the_first_user_message_creates_the_chat_with_its_title(
    history: History, store: Store
) -> None:
    conversation = Conversation(system="Be brief.")
    first = history.add_user(
        conversation, "  What is\n a   GGUF file, and why does it have a header?  "
    )
    assert conversation.chat_id is not None
    chat = store.chat(conversation.chat_id)
    assert chat.title == "What is a GGUF file, and why does it have a head"  # 48 characters
    assert (chat.system, chat.kind, chat.active_leaf) == ("Be brief.", "chat", first)
    assert conversation.ids == [first]
    assert conversation.messages == [
        Message("user", "  What is\n a   GGUF file, and why does it have a header?  ")
    ]
    saved = store.message(first)
    assert (saved.parent_id, saved.role, saved.complete) == (None, "user", True)
    assert saved.content == conversation.messages[0].content  # saved exactly as typed

    second = history.add_user(conversation, "And the tensors?")  # the same chat, under the first
    assert store.message(second).parent_id == first
    assert [c.id for c in store.list_chats()] == [conversation.chat_id]
    assert store.chat(conversation.chat_id).title == chat.title  # the title stays


def test_a_blank_first_message_makes_a_chat_called_new_chat(history: History, store: Store) -> None:
    conversation = Conversation()
    history.add_user(conversation, " \n\t ")
    assert conversation.chat_id is not None
    assert store.chat(conversation.chat_id).title == "New chat"


def test_set_system_is_saved_once_the_chat_exists(history: History, store: Store) -> None:
    conversation = Conversation(system="one")
    history.set_system(conversation)  # no chat yet: nothing to write, no error
    assert store.list_chats() == []
    history.add_user(conversation, "hi")
    assert conversation.chat_id is not None
    conversation.system = "two"
    history.set_system(conversation)
    assert reopen(conversation.chat_id).system == "two"


# Streaming a reply -----------------------------------------------------------------------------


def test_a_streaming_reply_is_saved_in_batches_then_completed_with_its_meta(
    history: History, store: Store, clock: Clock
) -> None:
    conversation = Conversation()
    question = history.add_user(conversation, "Count to five")
    reply = history.begin_reply(conversation)
    assert conversation.chat_id is not None
    started = store.message(reply)
    assert (started.parent_id, started.role, started.content, started.complete) == (
        question,
        "assistant",
        "",
        False,
    )
    assert store.chat(conversation.chat_id).active_leaf == reply  # shown while it streams
    assert conversation.last_id == question  # the window holds the text until it ends

    clock.now += STREAM_SAVE_EVERY / 2
    history.stream("One")
    assert store.message(reply).content == ""  # too soon after the start: not written
    clock.now += STREAM_SAVE_EVERY / 2
    history.stream("One, two")
    assert store.message(reply).content == "One, two"
    clock.now += STREAM_SAVE_EVERY / 10
    history.stream("One, two, three")
    assert store.message(reply).content == "One, two"  # the batch is not due yet
    clock.now += STREAM_SAVE_EVERY
    history.stream("One, two, three")
    assert store.message(reply).content == "One, two, three"
    assert not store.message(reply).complete
    # What a kill now would leave: the text so far, still marked incomplete.
    assert contents(reopen(conversation.chat_id))[-1] == ("assistant", "One, two, three")

    history.finish_reply(conversation, "One, two, three, four, five.", META)
    done = store.message(reply)
    assert (done.content, done.complete, done.meta) == ("One, two, three, four, five.", True, META)
    assert conversation.ids == [question, reply]
    assert conversation.messages[-1] == Message("assistant", "One, two, three, four, five.")
    assert contents(reopen(conversation.chat_id)) == contents(conversation)

    clock.now += 10 * STREAM_SAVE_EVERY
    history.stream("late tokens")  # after the end: nothing streams, nothing is written
    history.finish_reply(conversation, "late tokens", META)
    assert store.message(reply).content == "One, two, three, four, five."
    assert len(conversation.messages) == 2


def test_the_same_text_is_not_written_twice(
    history: History, store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = Conversation()
    history.add_user(conversation, "hi")
    history.begin_reply(conversation)
    writes: list[str] = []
    update = store.update_streaming

    def counted(message_id: int, text: str) -> None:
        writes.append(text)
        update(message_id, text)

    monkeypatch.setattr(store, "update_streaming", counted)
    for text in ("He", "He", "Hello", "Hello", "Hello"):
        clock.now += STREAM_SAVE_EVERY
        history.stream(text)
    assert writes == ["He", "Hello"]


def test_a_reply_that_fails_before_its_first_token_leaves_the_users_message_shown(
    history: History, store: Store, clock: Clock
) -> None:
    conversation = Conversation()
    question = history.add_user(conversation, "Are you there?")
    reply = history.begin_reply(conversation)
    clock.now += STREAM_SAVE_EVERY
    history.stream("")  # no token came
    history.finish_reply(conversation, "", META)
    assert conversation.chat_id is not None
    with pytest.raises(DuetError):
        store.message(reply)  # no empty reply is kept
    assert contents(conversation) == [("user", "Are you there?")]
    reopened = reopen(conversation.chat_id)  # after a restart: the question, not an empty chat
    assert contents(reopened) == [("user", "Are you there?")]
    assert reopened.ids == [question] and reopened.awaiting_reply
    assert store.chat(conversation.chat_id).active_leaf == question
    # The user can send the request again: its reply goes under the same message.
    retry = history.begin_reply(conversation)
    history.finish_reply(conversation, "Yes.", META)
    assert store.message(retry).parent_id == question
    assert contents(reopen(conversation.chat_id))[-1] == ("assistant", "Yes.")


def test_a_failed_reply_later_in_a_chat_keeps_everything_before_it(
    history: History, store: Store
) -> None:
    conversation = Conversation()
    history.add_user(conversation, "hi")
    reply_with(history, conversation, "hello")
    history.add_user(conversation, "tell me more")
    history.begin_reply(conversation)
    history.finish_reply(conversation, "", META)
    assert conversation.chat_id is not None
    expected = [("user", "hi"), ("assistant", "hello"), ("user", "tell me more")]
    assert contents(conversation) == expected
    assert contents(reopen(conversation.chat_id)) == expected


def test_finish_without_a_reply_under_way_changes_nothing(history: History, store: Store) -> None:
    conversation = Conversation()
    history.add_user(conversation, "hi")
    history.finish_reply(conversation, "a reply nobody began", META)
    history.finish_reply(conversation, "", META)
    assert contents(conversation) == [("user", "hi")]
    assert conversation.chat_id is not None
    assert contents(reopen(conversation.chat_id)) == [("user", "hi")]


# Branches ---------------------------------------------------------------------------------------


def test_regenerate_makes_a_sibling_and_switch_shows_either_branch(
    history: History, store: Store
) -> None:
    conversation = Conversation()
    question = history.add_user(conversation, "Name a colour")
    first = reply_with(history, conversation, "Red.")
    assert history.branch_position(first) == (0, [first])

    conversation.drop_last_reply()  # Regenerate: the same request again
    second = reply_with(history, conversation, "Blue.")
    assert store.message(second).parent_id == question
    assert history.branch_position(first) == (0, [first, second])
    assert history.branch_position(second) == (1, [first, second])
    assert history.branch_position(question) == (0, [question])
    assert history.branch_position(None) == (0, [])
    assert conversation.chat_id is not None
    assert contents(reopen(conversation.chat_id))[-1] == ("assistant", "Blue.")

    shown = history.switch(conversation, first)
    assert contents(shown) == [("user", "Name a colour"), ("assistant", "Red.")]
    assert shown.ids == [question, first] and shown.chat_id == conversation.chat_id
    assert contents(reopen(conversation.chat_id))[-1] == ("assistant", "Red.")  # it stays shown
    assert history.switch(shown, second).messages[-1] == Message("assistant", "Blue.")


def test_an_edited_message_is_a_branch_and_switch_goes_down_to_its_newest_leaf(
    history: History, store: Store
) -> None:
    conversation = Conversation()
    original = history.add_user(conversation, "Tell me about cats")
    reply_with(history, conversation, "Cats purr.")
    follow = history.add_user(conversation, "More")
    reply_with(history, conversation, "They sleep a lot.")

    conversation.truncate(0)  # edit the first message and send it again
    edited = history.add_user(conversation, "Tell me about dogs")
    reply_with(history, conversation, "Dogs bark.")
    assert history.branch_position(edited) == (1, [original, edited])

    back = history.switch(conversation, original)  # the whole older branch, to its end
    assert contents(back) == [
        ("user", "Tell me about cats"),
        ("assistant", "Cats purr."),
        ("user", "More"),
        ("assistant", "They sleep a lot."),
    ]
    assert follow in back.ids
    assert back.chat_id is not None
    assert contents(reopen(back.chat_id)) == contents(back)
    again = history.switch(back, edited)
    assert contents(again) == [("user", "Tell me about dogs"), ("assistant", "Dogs bark.")]


# Documents --------------------------------------------------------------------------------------


def test_save_document_creates_it_titled_by_its_first_line_then_updates_it(
    history: History, store: Store
) -> None:
    text = "\n   \n  Ode to the sea, in forty-eight characters or rather more  \nThe waves"
    document_id = history.save_document(None, text)
    document = store.chat(document_id)
    assert document.kind == "document"
    assert document.title == "Ode to the sea, in forty-eight characters or rat"
    assert store.document(document_id) == text
    assert history.save_document(document_id, text + " roll in.") == document_id
    assert store.document(document_id) == text + " roll in."
    assert [(c.id, c.kind) for c in store.list_chats()] == [(document_id, "document")]
    assert store.path(document_id) == []  # a document has no messages


def test_a_blank_document_is_called_untitled(history: History, store: Store) -> None:
    document_id = history.save_document(None, "  \n\n")
    assert store.chat(document_id).title == "Untitled"
    assert store.document(document_id) == "  \n\n"
