"""Conversations and raw documents that last: SQLite in WAL mode in Duet's data dir.

Messages form a tree: a regenerated reply or an edited message is a sibling of the one it
replaces, so nothing is ever overwritten, and a chat's `active_leaf` says which branch is shown.
A reply is written while it streams (in small batches) and marked complete when it ends, with
everything needed to reproduce it: model file and sha256, mode, template, the rendered prompt,
sampling settings, seed, stop reason and stats. A reply's token probabilities (what the Tokens
view shows) are kept beside it in a side table, compressed and bounded in size.

Every write is its own transaction; with WAL and synchronous=NORMAL a kill loses at most the
last unflushed batch of a streaming reply, never a completed message, never the database.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard

from desktop import __version__
from desktop.core.chat.sampling import MAX_STOPS
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine import events as p
from desktop.core.errors import DuetError, HistoryWriteFailed, InvalidExport
from desktop.core.paths import app_dirs

SCHEMA_VERSION = 3
ChatKind = Literal["chat", "document"]
KINDS: tuple[ChatKind, ...] = ("chat", "document")
ROLES = ("user", "assistant")

# What an imported export may hold. Generous for real chats (a reply's meta keeps its whole
# rendered prompt), small enough that a hostile file cannot exhaust memory or stall the window.
MAX_EXPORT_BYTES = 128 << 20
MAX_TEXT = 16 << 20  # characters in one text field: a message, a prompt, a document
MAX_TITLE = 1_000
MAX_MESSAGES = 100_000
MAX_SETTINGS = 256  # entries in a reply's sampling settings or stats
# A reply's token records: kept for replies up to this many tokens (a longer one shows its
# Tokens view only while it is open), and a stored record is read back only up to these sizes,
# so a damaged or hostile row cannot exhaust memory: it is ignored instead.
MAX_TOKEN_RECORDS = 16_384
MAX_TOKENS_BLOB = 8 << 20  # compressed bytes
MAX_TOKENS_JSON = 32 << 20  # bytes once decompressed

# Version 1, kept to migrate from: one linear list of messages per chat, no metadata.
SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE chats (id INTEGER PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL REFERENCES chats(id),
    role TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL
);
INSERT INTO meta VALUES ('schema_version', '1');
"""

_MIGRATIONS: dict[int, str] = {
    # 1 -> 2: branches (parent_id, active_leaf), per-message reproducibility metadata,
    # raw documents, soft delete for undo.
    2: """
    ALTER TABLE chats ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat';
    ALTER TABLE chats ADD COLUMN system TEXT NOT NULL DEFAULT '';
    ALTER TABLE chats ADD COLUMN updated REAL NOT NULL DEFAULT 0;
    ALTER TABLE chats ADD COLUMN active_leaf INTEGER;
    ALTER TABLE chats ADD COLUMN deleted REAL;
    ALTER TABLE chats ADD COLUMN document TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id);
    ALTER TABLE messages ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE messages ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
    UPDATE chats SET updated = coalesce((SELECT max(created) FROM messages m WHERE m.chat_id = chats.id), created);
    UPDATE messages SET parent_id = (
        SELECT p.id FROM messages p WHERE p.chat_id = messages.chat_id
        AND (p.created < messages.created OR (p.created = messages.created AND p.id < messages.id))
        ORDER BY p.created DESC, p.id DESC LIMIT 1
    );
    UPDATE chats SET active_leaf = (
        SELECT id FROM messages m WHERE m.chat_id = chats.id ORDER BY created DESC, id DESC LIMIT 1
    );
    CREATE INDEX messages_parent ON messages(chat_id, parent_id);
    CREATE INDEX chats_updated ON chats(deleted, updated);
    """,
    # 2 -> 3: each reply's token records (the Tokens view), beside it rather than in its meta,
    # so that opening a chat does not read them.
    3: """
    CREATE TABLE message_tokens (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        data BLOB NOT NULL
    );
    """,
}


@dataclass(frozen=True)
class MessageMeta:
    """How a reply was made, to reproduce it later."""

    model_id: str = ""
    model_kind: str = ""  # base or instruct, as the model was known when it wrote the reply
    model_repo: str = ""  # the Hugging Face repository it came from, when known
    model_file: str = ""
    model_sha256: str = ""
    mode: str = ""
    template: str = ""
    prompt: str = ""
    sampling: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    stop_reason: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    dropped_turns: int = 0  # turns the context could not hold when this reply was made

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> MessageMeta:
        data = json.loads(text or "{}")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class MessageInfo:
    """What a shown message says besides its text: when it was written, the model that wrote a
    reply (and its kind), and whether the reply's token records are kept."""

    created: float | None = None
    model_id: str = ""
    model_kind: str = ""
    has_tokens: bool = False


@dataclass(frozen=True)
class ReplyTokens:
    """A reply token by token: each token's record and the text it added to the reply (they
    differ where text was held back for a stop string or a split character)."""

    records: tuple[TokenRecord, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class StoredMessage:
    id: int
    chat_id: int
    parent_id: int | None
    role: str
    content: str
    created: float
    complete: bool
    meta_json: str

    @property
    def meta(self) -> MessageMeta:
        """Parsed when asked: opening a long chat needs the text, not every reply's settings."""
        return MessageMeta.from_json(self.meta_json)


@dataclass(frozen=True)
class ChatRow:
    """One chat or raw document as stored: what opening it needs."""

    id: int
    title: str
    system: str
    kind: ChatKind
    active_leaf: int | None  # the last message of the branch shown; None when it has none


@dataclass(frozen=True)
class ChatSummary:
    id: int
    kind: ChatKind
    title: str
    updated: float
    messages: int


BUSY_TIMEOUT = 10.0  # seconds this Duet waits while another holds the history's write lock


def _is_busy(exc: sqlite3.Error) -> bool:
    # SQLITE_BUSY's own message; sqlite_errorcode only exists from Python 3.11.
    return str(exc).startswith("database is locked")


def _enter_wal(db: sqlite3.Connection, deadline: float) -> None:
    """Switch to WAL, waiting for another Duet that holds the write lock. SQLite's busy timeout
    does not cover this pragma: it reads the header, then upgrades to a write lock without the
    busy handler, so a Duet started at the same instant as the one creating the history got
    "database is locked" at once."""
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.file = path or app_dirs().data / "duet.sqlite3"
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # DUET_HOME is a file, or its folder cannot be written
            raise DuetError(
                f"Cannot create the history folder {self.file.parent}: {exc.strerror or exc}. "
                "Check that folder, or point DUET_HOME at one Duet can write to."
            ) from None
        self._lock = threading.RLock()  # one connection, shared by the UI and saving threads
        try:
            self.db = sqlite3.connect(
                self.file, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT
            )
            _enter_wal(self.db, time.monotonic() + BUSY_TIMEOUT)
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):  # held, not damaged: moving it aside would be the wrong advice
                raise DuetError(
                    f"The history database {self.file} is held by another program (another "
                    f"Duet?) for over {BUSY_TIMEOUT:.0f} s. Close it and try again."
                ) from None
            raise DuetError(
                f"The history database {self.file} cannot be opened ({exc}). Move it aside to "
                "start a new one; Duet will not overwrite it."
            ) from None

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. The disk refusing it (full, read-only, failing) is a
        HistoryWriteFailed the window and the CLI show, never an sqlite3 traceback."""
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                except BaseException:
                    if self.db.in_transaction:  # SQLite may have rolled back by itself
                        self.db.execute("ROLLBACK")
                    raise
                self.db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self.db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                raise HistoryWriteFailed(
                    f"Could not save to the history {self.file} ({exc}). Free some disk space, "
                    "or close another Duet writing to it, and try again; what the window shows "
                    "is kept until then.",
                    file=str(self.file),
                ) from exc

    # Schema ---------------------------------------------------------------------------------------

    def _has_meta(self) -> bool:
        return bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone())

    def schema_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        # A history already at this schema opens with a read: no write lock, so it opens at
        # once while another Duet is saving to it.
        if self._has_meta() and self.schema_version() == SCHEMA_VERSION:
            return
        # Otherwise one write transaction from the first look to the last migration: another
        # Duet opening the same history at once (the window and a `duet` command) waits for it,
        # then finds the schema done, instead of creating or migrating it a second time.
        with self._tx() as db:
            if not self._has_meta():
                _run_script(db, SCHEMA_V1)
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise DuetError(
                    f"The history database was written by a newer Duet (schema {version}); "
                    "update Duet to open it."
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                _run_script(db, _MIGRATIONS[target])
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))

    # Chats ----------------------------------------------------------------------------------------

    def create_chat(
        self, title: str = "New chat", system: str = "", kind: ChatKind = "chat"
    ) -> int:
        with self._tx() as db:
            return _insert_chat(db, title, system, kind)

    def list_chats(self, search: str = "", limit: int = 10_000) -> list[ChatSummary]:
        """Newest first. `search` matches titles and message text."""
        query = (
            "SELECT c.id, c.kind, c.title, c.updated, "
            "(SELECT count(*) FROM messages m WHERE m.chat_id = c.id) "
            "FROM chats c WHERE c.deleted IS NULL"
        )
        args: list[Any] = []
        if search:
            # The text is searched as typed: % and _ are characters here, not LIKE wildcards.
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            query += (
                " AND (c.title LIKE ? ESCAPE '\\' OR c.document LIKE ? ESCAPE '\\' OR EXISTS "
                "(SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.content LIKE ? ESCAPE '\\'))"
            )
            args += [like, like, like]
        query += " ORDER BY c.updated DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self.db.execute(query, args).fetchall()
        return [ChatSummary(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def chat(self, chat_id: int) -> ChatRow:
        """A chat that is not deleted; DuetError when there is none with this id."""
        if not _whole_number(chat_id):  # `duet export 99999999999999999999999`
            raise DuetError(f"There is no chat {chat_id}: `duet chats` lists them.")
        with self._lock:
            row = self.db.execute(
                "SELECT id, title, system, kind, active_leaf FROM chats WHERE id = ? AND deleted IS NULL",
                (chat_id,),
            ).fetchone()
        if row is None:
            raise DuetError(f"There is no chat {chat_id}: `duet chats` lists them.")
        return ChatRow(*row)

    def rename(self, chat_id: int, title: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE chats SET title = ? WHERE id = ?", (title.strip() or "Untitled", chat_id)
            )

    def set_system(self, chat_id: int, system: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE chats SET system = ? WHERE id = ?", (system, chat_id))

    def delete(self, chat_id: int) -> None:
        """Hidden at once, gone for good only with purge_deleted: so delete can be undone."""
        with self._tx() as db:
            db.execute("UPDATE chats SET deleted = ? WHERE id = ?", (time.time(), chat_id))

    def undo_delete(self, chat_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE chats SET deleted = NULL WHERE id = ?", (chat_id,))

    def purge_deleted(self, older_than: float = 0.0) -> int:
        cutoff = time.time() - older_than
        with self._tx() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM chats WHERE deleted IS NOT NULL AND deleted <= ?", (cutoff,)
                )
            ]
            for chat_id in ids:
                db.execute("UPDATE chats SET active_leaf = NULL WHERE id = ?", (chat_id,))
                db.execute("DELETE FROM messages WHERE chat_id = ?", (chat_id,))
                db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
        return len(ids)

    # Documents ------------------------------------------------------------------------------------

    def save_document(self, chat_id: int, text: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE chats SET document = ?, updated = ? WHERE id = ?",
                (text, time.time(), chat_id),
            )

    def document(self, chat_id: int) -> str:
        with self._lock:
            row = self.db.execute("SELECT document FROM chats WHERE id = ?", (chat_id,)).fetchone()
        return str(row[0]) if row else ""

    # Messages -------------------------------------------------------------------------------------

    def add_message(
        self,
        chat_id: int,
        parent_id: int | None,
        role: str,
        content: str,
        *,
        complete: bool = True,
        meta: MessageMeta | None = None,
    ) -> int:
        """A new message under `parent_id`; it becomes the chat's shown branch."""
        now = time.time()
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created, complete, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    parent_id,
                    role,
                    content,
                    now,
                    int(complete),
                    (meta or MessageMeta()).to_json(),
                ),
            )
            message_id = int(cursor.lastrowid or 0)
            db.execute(
                "UPDATE chats SET active_leaf = ?, updated = ? WHERE id = ?",
                (message_id, now, chat_id),
            )
        return message_id

    def update_streaming(self, message_id: int, content: str) -> None:
        """The text so far of a reply that is still streaming."""
        with self._tx() as db:
            db.execute("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))

    def complete_message(self, message_id: int, content: str, meta: MessageMeta) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET content = ?, complete = 1, meta = ? WHERE id = ?",
                (content, meta.to_json(), message_id),
            )

    def save_tokens(self, message_id: int, tokens: ReplyTokens) -> bool:
        """Keep a reply's token records beside it; False when the reply is too long to keep
        them (it is then shown without them once reopened)."""
        data = _encode_tokens(tokens)
        if data is None:
            return False
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO message_tokens (message_id, data) VALUES (?, ?)",
                (message_id, data),
            )
        return True

    def tokens(self, message_id: int) -> ReplyTokens | None:
        """A reply's token records, or None when none are kept or the row cannot be read (too
        large or damaged: the reply is shown without them, nothing fails)."""
        with self._lock:
            row = self.db.execute(
                "SELECT data FROM message_tokens WHERE message_id = ?", (message_id,)
            ).fetchone()
        return _decode_tokens(row[0]) if row is not None else None

    def infos(self, chat_id: int, message_ids: list[int]) -> dict[int, MessageInfo]:
        """For each of these messages of the chat: when it was written, its model and whether
        token records are kept. The model is read from the meta in SQLite, so a long chat's
        metas (each holding its whole prompt) are never parsed in Python; a damaged meta gives
        no model rather than an error."""
        if not message_ids:
            return {}
        query = (
            "SELECT m.id, m.created, "
            "CASE WHEN json_valid(m.meta) THEN json_extract(m.meta, '$.model_id') END, "
            "CASE WHEN json_valid(m.meta) THEN json_extract(m.meta, '$.model_kind') END, "
            "EXISTS (SELECT 1 FROM message_tokens t WHERE t.message_id = m.id) "
            "FROM messages m WHERE m.chat_id = ?"
        )
        args: list[Any] = [chat_id]
        if len(message_ids) <= 500:  # else the whole chat: fewer than SQLite's variable limit
            query += f" AND m.id IN ({','.join('?' * len(message_ids))})"
            args += message_ids
        wanted = set(message_ids)
        with self._lock:
            rows = self.db.execute(query, args).fetchall()
        return {
            row[0]: MessageInfo(
                created=float(row[1]) if isinstance(row[1], (int, float)) else None,
                model_id=row[2] if isinstance(row[2], str) else "",
                model_kind=row[3] if isinstance(row[3], str) else "",
                has_tokens=bool(row[4]),
            )
            for row in rows
            if row[0] in wanted
        }

    def delete_message(self, message_id: int) -> None:
        """Remove a message that has no replies under it (an empty, failed reply)."""
        with self._tx() as db:
            if (
                db.execute("SELECT 1 FROM messages WHERE parent_id = ?", (message_id,)).fetchone()
                is None
            ):
                db.execute(
                    "UPDATE chats SET active_leaf = NULL WHERE active_leaf = ?", (message_id,)
                )
                db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def message(self, message_id: int) -> StoredMessage:
        with self._lock:
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise DuetError(f"There is no message {message_id}.")
        return _message(row)

    def path(self, chat_id: int, leaf: int | None = None) -> list[StoredMessage]:
        """The shown branch: from the first message down to `leaf` (default: the active leaf).

        One indexed read of the chat's parent links, walked in Python, then the branch's rows:
        a recursive query over 10,000 messages took five times as long."""
        if leaf is None:
            leaf = self.chat(chat_id).active_leaf
        if leaf is None:
            return []
        with self._lock:
            parents = dict(
                self.db.execute(
                    "SELECT id, parent_id FROM messages WHERE chat_id = ?", (chat_id,)
                ).fetchall()
            )
            branch: list[int] = []
            node: int | None = leaf
            while node is not None and node in parents:
                branch.append(node)
                node = parents[node]
            branch.reverse()
            rows = (
                {
                    row[0]: row
                    for row in self.db.execute(
                        f"SELECT {_COLUMNS} FROM messages WHERE chat_id = ?", (chat_id,)
                    )
                }
                if len(branch) > 500
                else {
                    row[0]: row
                    for row in self.db.execute(
                        f"SELECT {_COLUMNS} FROM messages WHERE id IN ({','.join('?' * len(branch))})",
                        branch,
                    )
                }
            )
        return [_message(rows[i]) for i in branch]

    def siblings(self, message_id: int) -> list[int]:
        """The message and its alternatives (same parent), oldest first."""
        with self._lock:
            row = self.db.execute(
                "SELECT chat_id, parent_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return []
            chat_id, parent = row
            rows = self.db.execute(
                "SELECT id FROM messages WHERE chat_id = ? AND parent_id IS ? ORDER BY created, id",
                (chat_id, parent),
            ).fetchall()
        return [r[0] for r in rows]

    def switch_to(self, message_id: int) -> list[StoredMessage]:
        """Show the branch through `message_id`, down to its newest leaf."""
        leaf = message_id
        with self._lock:
            while True:
                row = self.db.execute(
                    "SELECT id FROM messages WHERE parent_id = ? ORDER BY created DESC, id DESC LIMIT 1",
                    (leaf,),
                ).fetchone()
                if row is None:
                    break
                leaf = row[0]
            chat_id = self.message(message_id).chat_id
        with self._tx() as db:
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (leaf, chat_id))
        return self.path(chat_id, leaf)

    def set_active_leaf(self, chat_id: int, leaf: int | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (leaf, chat_id))

    def integrity(self) -> str:
        with self._lock:
            return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    # Export and import ----------------------------------------------------------------------------

    def export_json(self, chat_id: int) -> dict[str, Any]:
        """The shown branch, with each reply's model, template, prompt, settings and seed."""
        chat = self.chat(chat_id)
        return {
            "format": "duet-chat",
            "duet_version": __version__,
            "title": chat.title,
            "kind": chat.kind,
            "system": chat.system,
            "document": self.document(chat_id) if chat.kind == "document" else "",
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    "complete": m.complete,
                    "created": m.created,
                    "meta": json.loads(m.meta.to_json()),
                }
                for m in self.path(chat_id)
            ],
        }

    def import_json(self, data: object) -> int:
        """A chat export as a new chat, all of it or nothing: the whole document is checked
        before anything is written, and then written in one transaction. Raises InvalidExport."""
        return self.import_export(checked_export(data))

    def import_export(self, export: ChatExport) -> int:
        """A checked export (`read_checked_export`) as a new chat, in one transaction."""
        now = time.time()
        with self._tx() as db:
            chat_id = _insert_chat(db, export.title, export.system, export.kind)
            if export.document:
                db.execute(
                    "UPDATE chats SET document = ?, updated = ? WHERE id = ?",
                    (export.document, now, chat_id),
                )
            parent: int | None = None
            for item in export.messages:
                cursor = db.execute(
                    "INSERT INTO messages (chat_id, parent_id, role, content, created, complete, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        chat_id,
                        parent,
                        item.role,
                        item.content,
                        item.created if item.created is not None else now,
                        int(item.complete),
                        item.meta.to_json(),
                    ),
                )
                parent = cursor.lastrowid
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (parent, chat_id))
        return chat_id

    def export_markdown(self, chat_id: int) -> str:
        chat = self.chat(chat_id)
        lines = [f"# {chat.title}\n"]
        if chat.kind == "document":
            return lines[0] + "\n" + self.document(chat_id) + "\n"
        if chat.system:
            lines.append(f"*System:* {chat.system}\n")
        for m in self.path(chat_id):
            who = {"user": "You", "assistant": m.meta.model_id or "Model"}.get(m.role, m.role)
            note = "" if m.complete else " *(interrupted)*"
            lines.append(f"**{who}**{note}\n\n{m.content}\n")
            if m.role == "assistant" and m.meta.stop_reason:
                lines.append(
                    f"<sub>{m.meta.mode} mode · {m.meta.template or 'no template'} · seed {m.meta.seed} · stopped: {m.meta.stop_reason}</sub>\n"
                )
        return "\n".join(lines)


_COLUMNS = "id, chat_id, parent_id, role, content, created, complete, meta"


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement, inside the caller's transaction (executescript commits first)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _insert_chat(db: sqlite3.Connection, title: str, system: str, kind: ChatKind) -> int:
    now = time.time()
    cursor = db.execute(
        "INSERT INTO chats (title, created, updated, kind, system) VALUES (?, ?, ?, ?, ?)",
        (title, now, now, kind, system),
    )
    return int(cursor.lastrowid or 0)


def _message(row: tuple[Any, ...]) -> StoredMessage:
    return StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), str(row[7]))


# Token records ------------------------------------------------------------------------------------
# Stored as zlib-compressed JSON, one list per token: [id, piece, text, logprob, [[id, text,
# logprob], ...]], log-probabilities to 4 decimals (the views show 3). About 50 bytes a token
# with five alternatives; 16,384 tokens encode in about 0.3 s. Read back with every field checked.


def _encode_tokens(tokens: ReplyTokens) -> bytes | None:
    """The records as stored, or None when the reply is too long to keep them."""
    if not tokens.records or len(tokens.records) > MAX_TOKEN_RECORDS:
        return None
    rows = [
        [r.token_id, r.piece, text, _rounded(r.logprob), [_alternative(a) for a in r.top]]
        for r, text in zip(tokens.records, tokens.texts, strict=True)
    ]
    try:
        raw = json.dumps(rows, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):  # a NaN log-probability, a lone surrogate
        return None
    data = zlib.compress(raw, 6)
    return data if len(raw) <= MAX_TOKENS_JSON and len(data) <= MAX_TOKENS_BLOB else None


def _rounded(logprob: float | None) -> float | None:
    return round(logprob, 4) if logprob is not None else None


def _alternative(alt: p.Alternative) -> list[object]:
    return [alt.token_id, alt.text, round(alt.logprob, 4)]


def _decode_tokens(data: object) -> ReplyTokens | None:
    if not isinstance(data, bytes) or len(data) > MAX_TOKENS_BLOB:
        return None
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(data, MAX_TOKENS_JSON)
        if inflate.unconsumed_tail or not inflate.eof:  # larger than the cap, or cut short
            return None
        rows = json.loads(raw.decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(rows, list) or len(rows) > MAX_TOKEN_RECORDS:
        return None
    records: list[TokenRecord] = []
    texts: list[str] = []
    for row in rows:
        token = _token_row(row)
        if token is None:
            return None
        records.append(token[0])
        texts.append(token[1])
    return ReplyTokens(tuple(records), tuple(texts)) if records else None


def _token_row(row: object) -> tuple[TokenRecord, str] | None:
    if not (isinstance(row, list) and len(row) == 5):
        return None
    token_id, piece, text, logprob, top = row
    if not (_whole_number(token_id) and isinstance(piece, str) and isinstance(text, str)):
        return None
    if not (logprob is None or _finite_number(logprob)) or not isinstance(top, list):
        return None
    alternatives: list[p.Alternative] = []
    for alt in top:
        if not (isinstance(alt, list) and len(alt) == 3):
            return None
        alt_id, alt_text, alt_logprob = alt
        if not (
            _whole_number(alt_id) and isinstance(alt_text, str) and _finite_number(alt_logprob)
        ):
            return None
        alternatives.append(p.Alternative(alt_id, alt_text, float(alt_logprob)))
    chosen = float(logprob) if logprob is not None else None
    return TokenRecord(token_id, piece, chosen, tuple(alternatives)), text


# Import -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedMessage:
    role: str
    content: str
    complete: bool
    created: float | None
    meta: MessageMeta


@dataclass(frozen=True)
class ChatExport:
    """A chat export that passed every check, ready to be written."""

    title: str
    kind: ChatKind
    system: str
    document: str
    messages: tuple[ImportedMessage, ...]


def read_export(path: Path) -> object:
    """The JSON of an export file, parsed but not yet checked (import_json checks it).
    Bounded in size; any failure to read or parse is an InvalidExport naming the file."""
    name = path.name
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_EXPORT_BYTES + 1)
    except OSError as exc:
        raise InvalidExport(f"Cannot import {name}: {exc.strerror or exc}.") from None
    if len(raw) > MAX_EXPORT_BYTES:
        raise InvalidExport(
            f"Cannot import {name}: it is larger than {MAX_EXPORT_BYTES >> 20} MB, more than "
            "any chat Duet exports. Check that it is the right file."
        )
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidExport(
            f"Cannot import {name}: it is not UTF-8 text, so not a Duet chat export."
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidExport(
            f"Cannot import {name}: it is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}). Export the chat again with Duet."
        ) from None
    except ValueError as exc:  # a number too long to convert, and the like
        raise InvalidExport(f"Cannot import {name}: it is not valid JSON ({exc}).") from None
    except RecursionError:
        raise InvalidExport(
            f"Cannot import {name}: its JSON is nested too deeply to be a Duet chat export."
        ) from None


def read_checked_export(path: Path) -> tuple[object, ChatExport]:
    """Read and check an export file: the slow part of an import, safe off the UI thread
    (it touches no database). Raises InvalidExport."""
    data = read_export(path)
    return data, checked_export(data)


def checked_export(data: object) -> ChatExport:
    """Every field of an export checked for its type, value and size. Unknown keys are
    ignored (a newer Duet may add some); anything else wrong is an InvalidExport naming the
    field, and nothing is written."""
    if not isinstance(data, dict) or data.get("format") != "duet-chat":
        raise InvalidExport('This is not a Duet chat export (its "format" is not duet-chat).')
    kind = data.get("kind", "chat")
    if kind not in KINDS:
        raise _bad("kind", f'is {_shown(kind)}, not "chat" or "document"')
    messages = data.get("messages", [])
    if not isinstance(messages, list):
        raise _bad("messages", f"is {_kind_of(messages)}, not a list")
    if len(messages) > MAX_MESSAGES:
        raise _bad("messages", f"holds {len(messages):,} messages, more than {MAX_MESSAGES:,}")
    if kind == "document" and messages:
        raise _bad("messages", "are given for a raw document, which has none")
    return ChatExport(
        title=_text(data, "title", "title", "Imported chat", MAX_TITLE),
        kind="document" if kind == "document" else "chat",
        system=_text(data, "system", "system", ""),
        document=_text(data, "document", "document", ""),
        messages=tuple(_checked_message(item, f"messages[{i}]") for i, item in enumerate(messages)),
    )


def _checked_message(item: object, where: str) -> ImportedMessage:
    if not isinstance(item, dict):
        raise _bad(where, f"is {_kind_of(item)}, not a message")
    if "role" not in item:
        raise _bad(f"{where}.role", "is missing")
    if item["role"] not in ROLES:
        raise _bad(f"{where}.role", f'is {_shown(item["role"])}, not "user" or "assistant"')
    if "content" not in item:
        raise _bad(f"{where}.content", "is missing")
    complete = item.get("complete", True)
    if not isinstance(complete, bool):
        raise _bad(f"{where}.complete", f"is {_kind_of(complete)}, not true or false")
    created = item.get("created")
    if created is not None and not _finite_number(created):
        raise _bad(f"{where}.created", f"is {_kind_of(created)}, not a time in seconds")
    meta = item.get("meta", {})
    if not isinstance(meta, dict):
        raise _bad(f"{where}.meta", f"is {_kind_of(meta)}, not an object")
    return ImportedMessage(
        role=str(item["role"]),
        content=_text(item, "content", f"{where}.content", None),
        complete=complete,
        created=float(created) if created is not None else None,
        meta=_checked_meta(meta, f"{where}.meta"),
    )


_META_TEXT = (
    "model_id",
    "model_kind",
    "model_repo",
    "model_file",
    "model_sha256",
    "mode",
    "template",
    "prompt",
    "stop_reason",
)


def _checked_meta(meta: dict[Any, Any], where: str) -> MessageMeta:
    values: dict[str, Any] = {
        key: _text(meta, key, f"{where}.{key}", "") for key in _META_TEXT if key in meta
    }
    for key in ("sampling", "stats"):
        if key in meta:
            values[key] = _flat_settings(meta[key], f"{where}.{key}")
    seed = meta.get("seed")
    if seed is not None and not _whole_number(seed):
        raise _bad(f"{where}.seed", f"is {_kind_of(seed)}, not a whole number")
    values["seed"] = seed
    dropped = meta.get("dropped_turns", 0)
    if not (_whole_number(dropped) and dropped >= 0):
        raise _bad(f"{where}.dropped_turns", f"is {_shown(dropped)}, not a count")
    values["dropped_turns"] = dropped
    return MessageMeta(**values)


def _flat_settings(value: object, where: str) -> dict[str, Any]:
    """Sampling settings and stats: one level of names to plain values, nothing nested."""
    if not isinstance(value, dict):
        raise _bad(where, f"is {_kind_of(value)}, not an object")
    if len(value) > MAX_SETTINGS:
        raise _bad(where, f"holds {len(value):,} entries, more than {MAX_SETTINGS}")
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 100:
            raise _bad(where, "has a name that is not a short text")
        _check_encodable(key, f"a name in {where}")
        if isinstance(item, str):
            _text(value, key, f"{where}.{key}", None, 1_000)
        elif isinstance(item, list):  # a reply's stop strings
            texts = all(isinstance(s, str) and 0 < len(s) <= 1_000 for s in item)
            if len(item) > MAX_STOPS or not texts:
                raise _bad(f"{where}.{key}", f"is not a list of at most {MAX_STOPS} short texts")
            for n, stop in enumerate(item):
                _check_encodable(stop, f"{where}.{key}[{n}]")
        elif not (item is None or isinstance(item, bool) or _finite_number(item)):
            raise _bad(f"{where}.{key}", f"is {_kind_of(item)}, not a number or a short text")
    return dict(value)


def _text(
    data: dict[Any, Any], key: str, where: str, default: str | None, limit: int = MAX_TEXT
) -> str:
    if key not in data:
        if default is None:
            raise _bad(where, "is missing")
        return default
    value = data[key]
    if not isinstance(value, str):
        raise _bad(where, f"is {_kind_of(value)}, not text")
    if len(value) > limit:
        raise _bad(where, f"is {len(value):,} characters long, more than {limit:,}")
    _check_encodable(value, where)
    return value


def _check_encodable(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: SQLite refuses it
        raise _bad(where, "holds a broken character (a lone UTF-16 surrogate)") from None


def _whole_number(value: object) -> TypeGuard[int]:
    """An int SQLite can hold. JSON allows integers of any length: 10**400 is not a time."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _finite_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _whole_number(value)


def _kind_of(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true or false"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not _finite_number(value):
            return "a very large number" if isinstance(value, int) else "NaN or infinite"
        return f"the number {value}" if abs(value) < 1e15 else "a very large number"
    return names.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value[:40])
    return _kind_of(value)


def _bad(where: str, problem: str) -> InvalidExport:
    return InvalidExport(
        f"This chat export cannot be imported: {where} {problem}. Nothing was imported; "
        "export the chat again with Duet (JSON) and import that file."
    )
