"""`duet chats` and `duet export`: the saved chats and documents, and one of them as Markdown or
JSON."""

from __future__ import annotations

import argparse
import json
from datetime import datetime


def cmd_chats(args: argparse.Namespace) -> int:
    from desktop.core.chat.store import Store  # sqlite: only for the commands that read it

    chats = Store().list_chats(args.search)
    if not chats:
        print("No saved chats yet." if not args.search else f"No chats match '{args.search}'.")
        return 0
    print(f"{'ID':>6}  {'KIND':<8}  {'UPDATED':<16}  {'MESSAGES':>8}  TITLE")
    for chat in chats:
        when = datetime.fromtimestamp(chat.updated).strftime("%Y-%m-%d %H:%M")
        print(f"{chat.id:>6}  {chat.kind:<8}  {when:<16}  {chat.messages:>8}  {chat.title}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from desktop.core.chat.store import Store

    store = Store()
    if args.format == "json":
        print(json.dumps(store.export_json(args.id), indent=2, ensure_ascii=False))
    else:
        print(store.export_markdown(args.id))
    return 0
