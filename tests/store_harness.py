"""Writes chats to a Duet store forever, the way the window does while replies stream, and
prints each message id once it is completely saved. tests/core/test_store.py kills it at
random moments and checks that every printed message survived."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from desktop.core.chat.store import MessageMeta, Store


def content(chat: int, turn: int, role: str) -> str:
    return f"{role} {chat}.{turn} " + hashlib.sha256(f"{chat}{turn}{role}".encode()).hexdigest() * 8


def main() -> None:
    store = Store(Path(sys.argv[1]))
    chat_number = 0
    while True:
        chat_number += 1
        chat = store.create_chat(f"chat {chat_number}")
        parent = None
        for turn in range(6):
            text = content(chat, turn, "user")
            parent = store.add_message(chat, parent, "user", text)
            print(f"{parent} {hashlib.sha256(text.encode()).hexdigest()}", flush=True)
            reply = content(chat, turn, "assistant")
            message = store.add_message(chat, parent, "assistant", "", complete=False)
            for cut in range(40, len(reply), 40):  # streaming, saved in small batches
                store.update_streaming(message, reply[:cut])
            store.complete_message(message, reply, MessageMeta(model_id="harness", seed=turn))
            print(f"{message} {hashlib.sha256(reply.encode()).hexdigest()}", flush=True)
            parent = message


if __name__ == "__main__":
    main()
