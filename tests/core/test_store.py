from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.core.chat.store import SCHEMA_V1, SCHEMA_VERSION, ChatRow, MessageMeta, Store
from desktop.core.errors import DuetError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "duet.sqlite3")


def test_a_killed_writer_never_loses_a_completed_message_or_the_database(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    rng = random.Random(1234)
    completed: dict[int, str] = {}
    for _ in range(50):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.store_harness", str(db)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        time.sleep(rng.uniform(0.05, 0.35))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        for line in out.splitlines():
            message_id, digest = line.split()
            completed[int(message_id)] = digest
        store = Store(db)
        assert store.integrity() == "ok"
        rows = dict(
            store.db.execute("SELECT id, content FROM messages WHERE complete = 1").fetchall()
        )
        for message_id, digest in completed.items():
            assert hashlib.sha256(rows[message_id].encode()).hexdigest() == digest
        store.close()
    assert len(completed) > 100  # it really was writing


def test_migration_from_version_1(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    old = sqlite3.connect(db)
    old.executescript(SCHEMA_V1)
    old.execute("INSERT INTO chats VALUES (1, 'Old chat', 100.0)")
    for i, (role, text) in enumerate(
        [("user", "hi"), ("assistant", "hello"), ("user", "bye"), ("assistant", "ciao")]
    ):
        old.execute("INSERT INTO messages VALUES (?, 1, ?, ?, ?)", (i + 1, role, text, 100.0 + i))
    old.commit()
    old.close()
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION
    assert [m.content for m in store.path(1)] == ["hi", "hello", "bye", "ciao"]
    assert [m.parent_id for m in store.path(1)] == [None, 1, 2, 3]
    summary = store.list_chats()[0]
    assert (summary.title, summary.kind, summary.messages, summary.updated) == (
        "Old chat",
        "chat",
        4,
        103.0,
    )
    # And it goes on working: a branch on the migrated chat.
    store.add_message(1, 3, "assistant", "adios")
    assert store.siblings(4) == [4, 5]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite3"
    Store(db).close()
    raw = sqlite3.connect(db)
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    with pytest.raises(DuetError, match="newer Duet"):
        Store(db)


def test_branches_regenerate_and_edit(store: Store) -> None:
    chat = store.create_chat("branches")
    u1 = store.add_message(chat, None, "user", "Name a fruit")
    a1 = store.add_message(chat, u1, "assistant", "Apple")
    a2 = store.add_message(chat, u1, "assistant", "Pear")  # regenerate keeps Apple
    assert [m.content for m in store.path(chat)] == ["Name a fruit", "Pear"]
    assert store.siblings(a2) == [a1, a2]
    u2 = store.add_message(chat, a2, "user", "Another?")
    store.add_message(chat, u2, "assistant", "Plum")
    # Going back to Apple shows its (empty) branch; Pear's branch stays intact.
    assert [m.content for m in store.switch_to(a1)] == ["Name a fruit", "Apple"]
    assert [m.content for m in store.switch_to(a2)] == ["Name a fruit", "Pear", "Another?", "Plum"]
    # Editing the first message is a sibling too: the old conversation is still there.
    e1 = store.add_message(chat, None, "user", "Name a vegetable")
    assert store.siblings(e1) == [u1, e1]
    assert [m.content for m in store.path(chat)] == ["Name a vegetable"]
    assert [m.content for m in store.switch_to(u1)] == ["Name a fruit", "Pear", "Another?", "Plum"]


def test_export_import_round_trip_is_identical(store: Store) -> None:
    chat = store.create_chat("Round trip", system="Be brief.")
    u = store.add_message(chat, None, "user", "Hi ✓")
    meta = MessageMeta(
        model_id="smollm2",
        model_file="x.gguf",
        model_sha256="ab" * 32,
        mode="chat",
        template="chat template of x.gguf",
        prompt="<|im_start|>user\nHi ✓",
        sampling={"temperature": 0.0},
        seed=7,
        stop_reason="eos",
        stats={"generated_tokens": 3},
    )
    store.add_message(chat, u, "assistant", "Hello", meta=meta)
    exported = store.export_json(chat)
    again = store.import_json(json.loads(json.dumps(exported)))
    assert store.export_json(again) == exported
    markdown = store.export_markdown(chat)
    assert "*System:* Be brief." in markdown and "seed 7" in markdown


def test_import_refuses_what_is_not_a_duet_chat(store: Store) -> None:
    with pytest.raises(DuetError, match="not a Duet chat export"):
        store.import_json({"messages": []})


def test_list_search_rename_delete_and_undo(store: Store) -> None:
    first = store.create_chat("Cooking")
    store.add_message(first, None, "user", "How long to boil an egg?")
    second = store.create_chat("Travel")
    document = store.create_chat("Story", kind="document")
    store.save_document(document, "Once upon a time")
    assert [c.id for c in store.list_chats()] == [document, second, first]  # newest first
    assert [c.id for c in store.list_chats("egg")] == [first]
    assert [c.id for c in store.list_chats("upon")] == [document]
    store.rename(second, "Trips")
    assert store.chat(second) == ChatRow(second, "Trips", system="", kind="chat", active_leaf=None)
    store.delete(second)
    assert second not in [c.id for c in store.list_chats()]
    store.undo_delete(second)
    assert second in [c.id for c in store.list_chats()]
    store.delete(first)
    assert store.purge_deleted() == 1
    with pytest.raises(DuetError, match="no chat"):
        store.chat(first)


def test_a_streaming_reply_is_kept_as_far_as_it_got(store: Store) -> None:
    chat = store.create_chat("stream")
    u = store.add_message(chat, None, "user", "Tell me")
    reply = store.add_message(chat, u, "assistant", "", complete=False)
    store.update_streaming(reply, "Once upon")
    # Duet is killed here; when it opens the chat again:
    shown = store.path(chat)
    assert shown[-1].content == "Once upon" and not shown[-1].complete
    assert "*(interrupted)*" in store.export_markdown(chat)


def _export(**changes: object) -> dict[str, object]:
    """A well-formed export of a two-message chat, with `changes` applied on top."""
    data: dict[str, object] = {
        "format": "duet-chat",
        "duet_version": "0.1.0",
        "title": "Imported",
        "kind": "chat",
        "system": "",
        "document": "",
        "messages": [
            {"role": "user", "content": "Hi", "complete": True, "created": 1.0, "meta": {}},
            {
                "role": "assistant",
                "content": "Hello",
                "complete": True,
                "created": 2.0,
                "meta": {"model_id": "m", "seed": 3, "sampling": {"temperature": 0.0}},
            },
        ],
    }
    data.update(changes)
    return data


def _message(**changes: object) -> dict[str, object]:
    item: dict[str, object] = {"role": "user", "content": "Hi", "complete": True, "created": 1.0}
    item.update(changes)
    return item


def _deep(depth: int) -> dict[str, object]:
    nested: dict[str, object] = {}
    for _ in range(depth):
        nested = {"a": nested}
    return nested


MALFORMED_EXPORTS: dict[str, tuple[object, str]] = {
    "a list, not an object": ([], "not a Duet chat export"),
    "a number": (5, "not a Duet chat export"),
    "another format": (_export(format="x"), "not a Duet chat export"),
    "messages not a list": (_export(messages={"role": "user"}), "messages"),
    "a message not an object": (_export(messages=["hi"]), r"messages\[0\]"),
    "role hacker": (_export(messages=[_message(role="hacker")]), r"messages\[0\]\.role"),
    "content a number": (_export(messages=[_message(content=5)]), r"messages\[0\]\.content"),
    "content an object": (_export(messages=[_message(content={"a": 1})]), "content"),
    "kind x": (_export(kind="x"), "kind"),
    "title a number": (_export(title=5), "title"),
    "system a list": (_export(system=["x"]), "system"),
    "role missing": (_export(messages=[{"content": "Hi"}]), r"messages\[0\]\.role"),
    "content missing": (_export(messages=[{"role": "user"}]), r"messages\[0\]\.content"),
    "complete a string": (_export(messages=[_message(complete="yes")]), "complete"),
    "created a string": (_export(messages=[_message(created="yesterday")]), "created"),
    "created not finite": (_export(messages=[_message(created=float("nan"))]), "created"),
    "created a huge integer": (_export(messages=[_message(created=10**400)]), "created"),
    "seed a huge integer": (_export(messages=[_message(meta={"seed": 10**30})]), "seed"),
    "dropped turns huge": (
        _export(messages=[_message(meta={"dropped_turns": 10**30})]),
        "dropped_turns",
    ),
    "a sampling value huge": (
        _export(messages=[_message(meta={"sampling": {"top_k": 10**30}})]),
        "top_k",
    ),
    "meta a string": (_export(messages=[_message(meta="x")]), "meta"),
    "seed a string": (_export(messages=[_message(meta={"seed": "lucky"})]), "seed"),
    "sampling nested": (_export(messages=[_message(meta={"sampling": _deep(5)})]), "sampling"),
    "huge nesting": (_export(messages=[_message(meta={"stats": _deep(100_000)})]), "stats"),
    "a lone surrogate": (_export(messages=[_message(content="a\ud800b")]), "content"),
    "text too long": (
        _export(document="x" * (17 << 20), kind="document", messages=[]),
        "document is 17,825,792 characters long",
    ),
    "a document with messages": (_export(kind="document"), "messages"),
}


@pytest.mark.parametrize("name", list(MALFORMED_EXPORTS))
def test_a_malformed_export_is_refused_whole_and_adds_nothing(store: Store, name: str) -> None:
    from desktop.core.errors import InvalidExport

    data, where = MALFORMED_EXPORTS[name]
    with pytest.raises(InvalidExport, match=where):
        store.import_json(data)  # type: ignore[arg-type]
    assert store.db.execute("SELECT count(*) FROM chats").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_a_well_formed_export_still_imports_in_one_piece(store: Store) -> None:
    chat = store.import_json(_export())
    assert [(m.role, m.content) for m in store.path(chat)] == [
        ("user", "Hi"),
        ("assistant", "Hello"),
    ]
    assert store.path(chat)[1].meta.seed == 3


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format": "duet-chat", "title": "\\ud800"}', "title"),
    ],
)
def test_an_export_file_that_cannot_be_read_is_a_clear_error(
    store: Store, tmp_path: Path, text: str, where: str
) -> None:
    from desktop.core.chat.store import read_export
    from desktop.core.errors import InvalidExport

    path = tmp_path / "chat.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidExport, match=where) as caught:
        store.import_json(read_export(path))
    assert "chat.json" in str(caught.value) or where in str(caught.value)
    assert store.list_chats() == []


def test_search_treats_like_wildcards_as_plain_characters(store: Store) -> None:
    percent = store.create_chat("Discounts")
    store.add_message(percent, None, "user", "Is 100% sure?")
    underscore = store.create_chat("Names")
    store.add_message(underscore, None, "user", "Use snake_case")
    backslash = store.create_chat("Paths")
    store.add_message(backslash, None, "user", r"C:\Users")
    store.add_message(store.create_chat("Plain"), None, "user", "Nothing special here")
    assert [c.id for c in store.list_chats("%")] == [percent]
    assert [c.id for c in store.list_chats("_")] == [underscore]
    assert [c.id for c in store.list_chats("e_c")] == [underscore]
    assert [c.id for c in store.list_chats("\\")] == [backslash]
    assert [c.id for c in store.list_chats("0%")] == [percent]
