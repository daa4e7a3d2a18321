"""A reply's token records are stored beside it (schema 3), bounded, and read back with every
field checked: a damaged or oversized record is ignored, never an error. The session gives each
shown message its info (when, which model, whether records are kept) and the prompt saved with
the last reply, for a chat reopened or switched to another branch."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.chat import store as store_module
from desktop.core.chat.history import History
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.session import ChatSession, ReplySettings
from desktop.core.chat.store import (
    MAX_TOKEN_RECORDS,
    SCHEMA_VERSION,
    MessageMeta,
    ReplyTokens,
    Store,
)
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine import events as p
from desktop.core.models.library import InstalledModel, Library
from tests.core.test_session import run_turn
from tests.fakes.engine import FakeEngine

SETTINGS = ReplySettings(SamplingParams(max_tokens=20, seed=7), "drop_oldest")


def tokens(n: int) -> ReplyTokens:
    records = tuple(
        TokenRecord(
            i, f" w{i}", -0.5, (p.Alternative(i, f" w{i}", -0.5), p.Alternative(9, " x", -2.0))
        )
        for i in range(n)
    )
    return ReplyTokens(records, tuple(r.piece for r in records))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "duet.sqlite3")
    yield s
    s.close()


def a_reply(store: Store) -> tuple[int, int]:
    chat = store.create_chat("t")
    user = store.add_message(chat, None, "user", "Hi")
    reply = store.add_message(chat, user, "assistant", "w0 w1 w2")
    return chat, reply


def test_token_records_round_trip_compactly(store: Store) -> None:
    _chat, reply = a_reply(store)
    kept = tokens(1_000)
    assert store.save_tokens(reply, kept)
    assert store.tokens(reply) == kept
    size = store.db.execute("SELECT length(data) FROM message_tokens").fetchone()[0]
    assert size < 40 * 1_000  # compressed: well under the JSON's size


def test_a_reply_too_long_keeps_no_records_and_nothing_fails(store: Store) -> None:
    _chat, reply = a_reply(store)
    assert not store.save_tokens(reply, tokens(MAX_TOKEN_RECORDS + 1))
    assert store.tokens(reply) is None


@pytest.mark.parametrize(
    "data",
    [
        b"not zlib at all",
        zlib.compress(b"{not json"),
        zlib.compress(b'{"a": 1}'),
        zlib.compress(json.dumps([[1, "a", "a", "NaN?", []]]).encode()),
        zlib.compress(json.dumps([[1, "a", "a", -0.1, [[1, "a"]]]]).encode()),
        zlib.compress(json.dumps([[1.5, "a", "a", -0.1, []]]).encode()),
        zlib.compress(b"[" * 100_000),
        zlib.compress(b" " * (store_module.MAX_TOKENS_JSON + 10)),  # a zip bomb, bounded
        zlib.compress(json.dumps([[1, "a", "a", -0.1, []]]).encode())[:-4],  # cut short
        "text, not bytes",
    ],
)
def test_a_damaged_record_is_ignored(store: Store, data: object) -> None:
    _chat, reply = a_reply(store)
    store.db.execute("INSERT INTO message_tokens VALUES (?, ?)", (reply, data))
    assert store.tokens(reply) is None


def test_an_oversized_blob_is_not_read(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _chat, reply = a_reply(store)
    assert store.save_tokens(reply, tokens(2_000))
    monkeypatch.setattr(store_module, "MAX_TOKENS_BLOB", 1_000)
    assert store.tokens(reply) is None


def test_records_go_with_their_message(store: Store) -> None:
    chat, reply = a_reply(store)
    store.save_tokens(reply, tokens(3))
    store.delete(chat)
    assert store.purge_deleted() == 1  # the cascade: no foreign key stops the purge
    assert store.db.execute("SELECT count(*) FROM message_tokens").fetchone()[0] == 0


def test_version_2_databases_gain_the_token_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE message_tokens; UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 3
    _chat, reply = a_reply(store)
    assert store.save_tokens(reply, tokens(2)) and store.tokens(reply) == tokens(2)
    store.close()


def test_infos_read_the_model_and_survive_a_damaged_meta(store: Store) -> None:
    chat, reply = a_reply(store)
    meta = MessageMeta(model_id="m-instruct", model_kind="instruct", prompt="x" * 10_000)
    store.complete_message(reply, "w0", meta)
    store.save_tokens(reply, tokens(1))
    user = store.path(chat)[0].id
    infos = store.infos(chat, [user, reply])
    assert infos[reply].model_id == "m-instruct" and infos[reply].model_kind == "instruct"
    assert infos[reply].has_tokens and not infos[user].has_tokens and not infos[user].model_id
    assert infos[user].created is not None
    store.db.execute("UPDATE messages SET meta = '{broken' WHERE id = ?", (reply,))
    assert store.infos(chat, [reply])[reply].model_id == ""


# The session --------------------------------------------------------------------------------


@pytest.fixture()
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatSession]:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    s = Store()
    yield ChatSession(History(s))
    s.close()


@pytest.fixture()
def instruct(starter_paths: tuple[Path, Path]) -> InstalledModel:
    return Library().describe(starter_paths[1], "starter")


def test_reopened_and_switched_replies_keep_their_tokens_infos_and_prompt(
    session: ChatSession, instruct: InstalledModel
) -> None:
    engine = FakeEngine(["Paris is the capital.", "It is Paris."])
    session.add_user("Capital of France?")
    assert session.conversation.info(0).created is not None
    run_turn(session, instruct, engine)
    first_prompt = engine.prompts[-1].text
    info = session.conversation.info(1)
    assert (info.model_id, info.model_kind, info.has_tokens) == (instruct.id, "instruct", True)
    session.regenerate()
    run_turn(session, instruct, engine)
    chat_id = session.conversation.chat_id
    assert chat_id is not None
    session.new("")
    assert session.stored_prompt() is None and session.tokens(1) is None
    session.open(chat_id)
    kept = session.tokens(1)
    assert kept is not None and "".join(kept.texts) == "It is Paris."
    assert kept.records[0].piece == "It"
    assert session.tokens(0) is None  # the user's message has none
    assert session.conversation.info(1).model_id == instruct.id
    session.switch_branch(1, -1)
    kept = session.tokens(1)
    assert kept is not None and "".join(kept.texts) == "Paris is the capital."
    stored = session.stored_prompt()
    assert stored is not None and stored.prompt.text == first_prompt
    assert stored.model_id == instruct.id and stored.prompt_tokens > 0
    assert stored.prompt.template_name and stored.prompt.template_name.startswith("chat template")


@pytest.mark.parametrize(
    "meta",
    ["{broken", '{"prompt": 5}', '{"prompt": "p", "stats": [1], "model_id": 3, "template": []}'],
)
def test_a_damaged_meta_gives_no_stored_prompt_or_a_plain_one(
    session: ChatSession, instruct: InstalledModel, meta: str
) -> None:
    session.add_user("Hi")
    run_turn(session, instruct, FakeEngine(["Hello."]))
    reply = session.conversation.last_id
    session.history.store.db.execute("UPDATE messages SET meta = ? WHERE id = ?", (meta, reply))
    stored = session.stored_prompt()
    if stored is not None:
        assert stored.prompt.text == "p" and stored.model_id == "" and stored.prompt_tokens == 0
        assert stored.prompt.template_name is None
