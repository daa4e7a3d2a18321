"""Between a conversation on screen and the store: every message saved as it happens, a
streaming reply saved in small batches, branches loaded and switched. Qt-free, so the window
only calls it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core.chat.conversation import Conversation
from desktop.core.chat.store import MessageMeta, Store
from desktop.core.engine.factory import ModelIdentity

STREAM_SAVE_EVERY = 0.25  # seconds: a kill loses at most this much of a streaming reply


@dataclass
class _Streaming:
    message_id: int
    saved_at: float = 0.0
    saved_text: str = ""


class History:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._streaming: _Streaming | None = None

    def add_user(self, conversation: Conversation, text: str) -> int:
        """Save a user message (creating the chat on its first message) and show it."""
        if conversation.chat_id is None:
            title = " ".join(text.split())[:48] or "New chat"
            conversation.chat_id = self.store.create_chat(title, conversation.system)
        message_id = self.store.add_message(
            conversation.chat_id, conversation.last_id, "user", text
        )
        conversation.add("user", text, message_id)
        return message_id

    def begin_reply(self, conversation: Conversation) -> int:
        """An empty, incomplete reply under the last message, filled in while it streams."""
        assert conversation.chat_id is not None
        message_id = self.store.add_message(
            conversation.chat_id, conversation.last_id, "assistant", "", complete=False
        )
        self._streaming = _Streaming(message_id, time.monotonic())
        return message_id

    def stream(self, text: str) -> None:
        """The reply so far; written at most every STREAM_SAVE_EVERY seconds."""
        streaming = self._streaming
        if streaming is None or text == streaming.saved_text:
            return
        now = time.monotonic()
        if now - streaming.saved_at >= STREAM_SAVE_EVERY:
            self.store.update_streaming(streaming.message_id, text)
            streaming.saved_at, streaming.saved_text = now, text

    def finish_reply(self, conversation: Conversation, text: str, meta: MessageMeta) -> None:
        streaming, self._streaming = self._streaming, None
        if streaming is None:
            return
        if not text:
            # Nothing came back (a failure before the first token): no empty reply is kept,
            # and the branch shown is the one that ends with the user's message.
            self.store.delete_message(streaming.message_id)
            if conversation.chat_id is not None:
                self.store.set_active_leaf(conversation.chat_id, conversation.last_id)
            return
        self.store.complete_message(streaming.message_id, text, meta)
        conversation.add("assistant", text, streaming.message_id)

    def set_system(self, conversation: Conversation) -> None:
        if conversation.chat_id is not None:
            self.store.set_system(conversation.chat_id, conversation.system)

    def load(self, chat_id: int, leaf: int | None = None) -> Conversation:
        conversation = Conversation(system=self.store.chat(chat_id).system, chat_id=chat_id)
        for message in self.store.path(chat_id, leaf):
            conversation.add(message.role, message.content, message.id)
        return conversation

    def switch(self, conversation: Conversation, message_id: int) -> Conversation:
        """Show the branch through `message_id` (an alternative of a shown message)."""
        path = self.store.switch_to(message_id)
        assert conversation.chat_id is not None
        return self.load(conversation.chat_id, path[-1].id if path else None)

    def branch_position(self, message_id: int | None) -> tuple[int, list[int]]:
        """(index among its alternatives, the alternatives' ids)."""
        if message_id is None:
            return 0, []
        siblings = self.store.siblings(message_id)
        return siblings.index(message_id) if message_id in siblings else 0, siblings

    def save_document(self, document_id: int | None, text: str) -> int:
        if document_id is None:
            first_line = next((line for line in text.splitlines() if line.strip()), "Untitled")
            document_id = self.store.create_chat(first_line.strip()[:48], kind="document")
        self.store.save_document(document_id, text)
        return document_id


MAX_NAMED_MISSING = 5  # models named one by one in the warnings after an import


def missing_models(data: object, installed: Sequence[ModelIdentity]) -> list[str]:
    """The models an imported chat's replies were made with that are not installed here (by
    sha256, else by file name), as plain warnings."""
    have_sha = {m.sha256 for m in installed if m.sha256}
    have_files = {m.file for m in installed}
    warnings: list[str] = []
    seen: set[str] = set()
    more = 0  # missing models beyond those named: an export may name thousands
    messages = data.get("messages", []) if isinstance(data, dict) else []
    for item in messages if isinstance(messages, list) else []:
        meta = item.get("meta", {}) if isinstance(item, dict) else {}
        if not isinstance(meta, dict):
            continue
        file, sha = str(meta.get("model_file", "")), str(meta.get("model_sha256", ""))
        if not file or file in seen:
            continue
        seen.add(file)
        if (sha and sha in have_sha) or file in have_files:
            continue
        if len(warnings) == MAX_NAMED_MISSING:
            more += 1
            continue
        where = f" from {_short(str(meta['model_repo']))}" if meta.get("model_repo") else ""
        warnings.append(
            f"Replies in this chat were made with {_short(file)}{where}, which is not installed: "
            "download it to reproduce them (Models window, or duet pull)."
        )
    if more:
        warnings.append(
            f"Replies were also made with {more:,} other models that are not installed."
        )
    return warnings


def _short(name: str, keep: int = 200) -> str:
    """A name from an export, cut for a message: an export may hold megabytes in one."""
    return name if len(name) <= keep else name[:keep] + "…"
